#!/usr/bin/env python3
"""The backup scheduler daemon: runs each task of config.json on its
schedule and catches up runs missed while it was not running.

    python3 scheduled_task_runner.py [--config PATH]
    python3 scheduled_task_runner.py --check
    python3 scheduled_task_runner.py --list [--count N] [--json]
    python3 scheduled_task_runner.py --status [--json]
    python3 scheduled_task_runner.py --once
    python3 scheduled_task_runner.py --install-startup | --uninstall-startup
"""

import sys

if sys.version_info < (3, 6):  # checked before anything that needs Python 3: a message, not a traceback
    sys.stderr.write("%s needs Python 3.6 or newer (this is %d.%d)\n"
                     % (__file__, sys.version_info[0], sys.version_info[1]))
    sys.exit(2)

import argparse
import os
import time

from task_runner import cli, osutil
from task_runner.config import load_config
from task_runner.daemon import Daemon, instance_lock
from task_runner.history import History
from task_runner.logs import setup_logging
from task_runner.notify import Notifier
from task_runner.plan import task_overview
from task_runner.runner import human_bytes, plural
from task_runner.schedule import LOCAL, format_local, parse_iso, short_time
from task_runner.status import current_report
from task_runner import startup

PROGRAM = "scheduled_task_runner"


def _parser():
    p = argparse.ArgumentParser(prog="scheduled_task_runner.py", description=__doc__.split("\n\n")[0])
    cli.add_config_argument(p, __file__)
    p.add_argument("--check", action="store_true", help="validate the config, print the tasks, exit")
    p.add_argument("--list", action="store_true",
                   help="show each task's schedule, next run times and last run, then exit")
    p.add_argument("--count", type=int, default=3, metavar="N", help="with --list: how many next runs")
    p.add_argument("--status", action="store_true",
                   help="show each task's state: last success, snapshots, free space, warnings")
    p.add_argument("--json", action="store_true", help="with --list or --status: print JSON for scripts")
    p.add_argument("--once", action="store_true",
                   help="run whatever is due or missed now, then exit (for the OS's own scheduler)")
    p.add_argument("--install-startup", action="store_true",
                   help="start the scheduler at logon (Windows: Startup folder; Linux: prints a systemd unit)")
    p.add_argument("--uninstall-startup", action="store_true", help="undo --install-startup")
    return p


def _when(ts):
    """An instant for people: local time, the UTC offset only where it matters."""
    return short_time(ts, LOCAL, time.time()) if ts is not None else "-"


def print_check(config):
    osutil.print_safe("%s is valid: %d task(s)" % (config.path, len(config.tasks)))
    for task in config.tasks:
        what = task.schedule.describe() if task.schedule else "on demand only"
        osutil.print_safe("  %s%s: %s -> %s, %s%s" % (
            task.name, " (default)" if task.default else "", task.src, task.dest, what,
            "" if task.enabled else " (paused)"))
        if not os.path.isdir(task.src):
            # A warning, not an error: the drive may be unplugged just now.
            osutil.print_safe("    ! the source folder %s does not exist right now: is its drive connected?"
                              % task.src)


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
        osutil.print_safe("%s%s: %s%s" % (item["name"], " (default)" if item["default"] else "",
                                          item["schedule"], "  [paused]" if item["paused"] else ""))
        osutil.print_safe("  %s -> %s" % (item["src"], item["dest"]))
        if item["next_runs"]:
            osutil.print_safe("  next: " + ", ".join(_when(t) for t in item["next_runs"]))
        last = item["last_run"]
        if last is None:
            osutil.print_safe("  last run: never")
        else:
            osutil.print_safe("  last run: %s %s (%s) %s" % (
                _local(last.get("started")), last.get("status"),
                last.get("trigger"), last.get("message") or ""))


def _local(iso):
    """A recorded ISO time for people (as _when); the text as it is when it
    cannot be read (a hand-edited history)."""
    try:
        return _when(parse_iso(iso)) if iso else "?"
    except ValueError:
        return str(iso)


def print_status(config, as_json):
    report = current_report(config, time.time, LOCAL)
    if as_json:
        cli.print_json(report)
        return
    scheduler = report["scheduler"]
    if scheduler["running"]:
        osutil.print_safe("The scheduler is running (process %s, since %s)." % (
            scheduler.get("pid", "?"), _local(scheduler.get("since"))))
    for server in report["http_servers"]:
        osutil.print_safe("The HTTP server is running at %s (process %s, since %s)." % (
            server.get("url", "?"), server.get("pid", "?"), _local(server.get("since"))))
    for warning in report["warnings"]:
        osutil.print_safe("! " + warning)
    for item in report["tasks"]:
        out = ["%s%s: %s%s%s" % (item["name"], " (default)" if item["default"] else "", item["schedule"],
                                 "  [paused]" if item["paused"] else "",
                                 "  [running now]" if item["running"] else "")]
        if item["next_run"]:
            out.append("  next run: %s" % _local(item["next_run"]))
        last, ok = item["last_run"], item["last_success"]
        out.append("  last run: %s" % ("never" if last is None else "%s %s (%s)" % (
            _local(last.get("started")), last.get("status"), last.get("trigger"))))
        out.append("  last success: %s" % ("never" if ok is None else "%s (%.1f days ago)" % (
            _local(ok.get("started")), item["last_success_days_ago"])))
        retry = item["retry"]
        if retry:
            out.append("  failed %s, %s (%s for this scheduled time)" % (
                _local(retry["last_attempt_at"]), "next try %s" % _local(retry["next_try_at"])
                if retry["next_try_at"] else "no retry left", plural(retry["attempts"], "attempt")))
        out.append("  snapshots: %d%s" % (item["snapshots"], ", newest %s" % item["newest_snapshot"]
                                          if item["newest_snapshot"] else ""))
        if item["free_bytes"] is not None:
            out.append("  free on the destination drive: %s (%.0f%%)" % (human_bytes(item["free_bytes"]),
                                                                         item["free_percent"]))
        out.extend("  ! " + w for w in item["warnings"])
        osutil.print_safe("\n".join(out))


def main(argv=None):
    args = _parser().parse_args(argv)
    config = load_config(args.config)
    if args.check:
        print_check(config)
        return 0
    if args.list:
        print_list(config, max(1, args.count), args.json)
        return 0
    if args.status:
        print_status(config, args.json)
        return 0
    if args.install_startup or args.uninstall_startup:
        try:
            text = startup.install(__file__, config.path) if args.install_startup else startup.uninstall()
        except OSError as exc:
            osutil.print_safe("could not change the logon start-up: %s" % exc, sys.stderr)
            return 1
        osutil.print_safe(text)
        return 0
    setup_logging(config.log, PROGRAM)
    notifier = Notifier(config.notify)
    if args.once:
        Daemon(config, notifier=notifier).run_once()
        return 0
    lock = instance_lock(config)
    try:
        daemon = Daemon(config, notifier=notifier)
        osutil.install_stop_handlers(lambda signum: daemon.stop())
        # In a thread, so that the main thread stays free for Ctrl+C / Ctrl+Break.
        cli.run_in_thread(daemon.run, "daemon")
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
