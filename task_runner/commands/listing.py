"""scheduled_task_runner.py list: each task's schedule, next runs and last run."""

import argparse
import time

from . import cli
from .. import console
from ..clock import LOCAL, format_local
from ._times import recorded, when

NAME = "list"
SUMMARY = "show each task's schedule, next run times and last run"
EXAMPLES = ["list", "list --count 10 --json"]
ALIAS = "--list"
WORDS = None


def add_arguments(p):
    p.add_argument("--count", type=_count, default=3, metavar="N", help="how many next runs, 1 to 100 (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _count(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("a whole number from 1 to 100, got %s" % text)
    return value


def run(config, args, program):
    print_list(config, args.count, args.json)
    return 0


def print_list(config, count, as_json):
    from ..schedule.plan import task_overview
    from ..schedule.status import runs_now
    now = time.time()
    runs = runs_now(config)
    items = [task_overview(t, runs, now, LOCAL, count) for t in config.tasks]
    if as_json:
        for item in items:
            item["next_runs"] = [format_local(t, LOCAL) for t in item["next_runs"]]
        cli.print_json({"tasks": items})
        return
    for item in items:
        console.print_safe("%s%s: %s%s" % (item["name"], " (default)" if item["default"] else "",
                                           item["schedule"], "  [paused]" if item["paused"] else ""))
        console.print_safe("  %s -> %s" % (item["src"], item["dest"]))
        if item["next_runs"]:
            console.print_safe("  next: " + ", ".join(when(t) for t in item["next_runs"]))
        last = item["last_run"]
        if last is None:
            console.print_safe("  last run: never")
        else:
            console.print_safe("  last run: %s %s (%s)%s %s" % (
                recorded(last.get("started")), last.get("status"), last.get("trigger"),
                ", into the former destination %s" % item["last_run_elsewhere"] if item["last_run_elsewhere"] else "",
                last.get("message") or ""))
