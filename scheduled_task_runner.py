#!/usr/bin/env python3
"""The backup scheduler daemon: runs each task of config.json on its
schedule and catches up runs missed while it was not running.

    python3 scheduled_task_runner.py [--config PATH]
    python3 scheduled_task_runner.py --check
    python3 scheduled_task_runner.py --list [--count N] [--json]
"""

import argparse
import sys
import threading
import time

from task_runner import cli, osutil
from task_runner.config import load_config
from task_runner.daemon import Daemon, instance_lock
from task_runner.history import History
from task_runner.logs import setup_logging
from task_runner.plan import task_overview
from task_runner.schedule import LOCAL, format_local

PROGRAM = "scheduled_task_runner"


def _parser():
    p = argparse.ArgumentParser(prog="scheduled_task_runner.py", description=__doc__.split("\n\n")[0])
    cli.add_config_argument(p, __file__)
    p.add_argument("--check", action="store_true", help="validate the config, print the tasks, exit")
    p.add_argument("--list", action="store_true",
                   help="show each task's schedule, next run times and last run, then exit")
    p.add_argument("--count", type=int, default=3, metavar="N", help="with --list: how many next runs")
    p.add_argument("--json", action="store_true", help="with --list: print JSON for scripts")
    return p


def _when(ts):
    return format_local(ts, LOCAL, " ") if ts is not None else "-"


def print_check(config):
    osutil.print_safe("%s is valid: %d task(s)" % (config.path, len(config.tasks)))
    for task in config.tasks:
        what = task.schedule.describe() if task.schedule else "on demand only"
        osutil.print_safe("  %s%s: %s -> %s, %s" % (
            task.name, " (default)" if task.default else "", task.src, task.dest, what))


def print_list(config, count, as_json):
    now = time.time()
    runs = History.for_config(config).runs()
    items = [task_overview(t, runs, now, LOCAL, count) for t in config.tasks]
    if as_json:
        for item in items:
            item["next_runs"] = [format_local(t, LOCAL) for t in item["next_runs"]]
        cli.print_json({"tasks": items})
        return
    for item in items:
        osutil.print_safe("%s%s: %s" % (item["name"], " (default)" if item["default"] else "",
                                        item["schedule"]))
        osutil.print_safe("  %s -> %s" % (item["src"], item["dest"]))
        if item["next_runs"]:
            osutil.print_safe("  next: " + ", ".join(_when(t) for t in item["next_runs"]))
        last = item["last_run"]
        if last is None:
            osutil.print_safe("  last run: never")
        else:
            osutil.print_safe("  last run: %s %s (%s) %s" % (
                (last.get("started") or "").replace("T", " "), last.get("status"),
                last.get("trigger"), last.get("message") or ""))


def main(argv=None):
    args = _parser().parse_args(argv)
    config = load_config(args.config)
    if args.check:
        print_check(config)
        return 0
    if args.list:
        print_list(config, max(1, args.count), args.json)
        return 0
    setup_logging(config.log, PROGRAM)
    lock = instance_lock(config)
    try:
        daemon = Daemon(config)
        osutil.install_stop_handlers(lambda signum: daemon.stop())
        # The loop runs in a thread so that the main thread stays free to
        # receive Ctrl+C / Ctrl+Break: on Windows a signal is not handled
        # while the main thread is blocked in Event.wait.
        worker = threading.Thread(target=daemon.run, name="daemon")
        worker.daemon = True
        worker.start()
        while worker.is_alive():
            worker.join(0.25)
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
