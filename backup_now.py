#!/usr/bin/env python3
"""Run the default task(s) of config.json now, or the tasks named.

    python3 backup_now.py [--config PATH] [TASK ...] [--all] [--dry-run]

Exit codes: 0 success, 1 failed, 2 usage or config error, 3 finished with
skipped files, 4 already running, 130 interrupted.
"""

import argparse
import sys
import threading

from task_runner import cli, errors, osutil
from task_runner.config import load_config, select_tasks
from task_runner.errors import BackupError
from task_runner.logs import setup_logging
from task_runner.runner import human_bytes, preview_task, run_task

PROGRAM = "backup_now"

# When several tasks end differently, the exit code is the first of these
# that occurred: an interruption matters most, a clean success least.
_PRECEDENCE = [errors.EXIT_INTERRUPTED, errors.EXIT_FAILED, errors.EXIT_ALREADY_RUNNING,
               errors.EXIT_PARTIAL, errors.EXIT_OK]


def combined_exit_code(codes):
    for code in _PRECEDENCE:
        if code in codes:
            return code
    return errors.EXIT_OK


def _parser():
    p = argparse.ArgumentParser(prog="backup_now.py", description=__doc__.split("\n\n")[0])
    cli.add_config_argument(p, __file__)
    p.add_argument("tasks", nargs="*", metavar="TASK", help="task names (default: the default task(s))")
    p.add_argument("--all", action="store_true", help="run every task in config order")
    p.add_argument("--dry-run", action="store_true",
                   help="show what a run would copy, link and delete; change nothing")
    return p


def dry_run(tasks):
    codes = []
    for task in tasks:
        try:
            result, deleted = preview_task(task)
        except BackupError as exc:
            osutil.print_safe("%s: would fail: %s" % (task.name, exc))
            codes.append(errors.EXIT_FAILED)
            continue
        osutil.print_safe("%s: would copy %d files (%s) and link %d unchanged files; %s" % (
            task.name, result.copied, human_bytes(result.bytes_copied), result.linked,
            "would delete %s" % ", ".join(deleted) if deleted else "would delete no snapshot"))
        codes.append(errors.EXIT_OK)
    return combined_exit_code(codes)


def main(argv=None):
    args = _parser().parse_args(argv)
    config = load_config(args.config)
    tasks = select_tasks(config, args.tasks, args.all)
    console = setup_logging(config.log, PROGRAM)
    if args.dry_run:
        return dry_run(tasks)
    stop = threading.Event()

    def on_stop(signum):
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl+C: stop at once
        osutil.print_safe("stopping: removing the unfinished snapshot...", sys.stderr)
        stop.set()

    osutil.install_stop_handlers(on_stop)
    codes = []
    for task in tasks:
        if stop.is_set():
            break
        progress = None
        if console is not None and sys.stderr.isatty():
            progress = cli.ProgressLine(sys.stderr)
            console.before_emit = progress.clear
        outcome = run_task(config, task, "manual", stop_event=stop, progress=progress)
        if progress is not None:
            progress.clear()
        osutil.print_safe("%s: %s (run %s) %s" % (task.name, outcome.status, outcome.run_id, outcome.message))
        codes.append(outcome.exit_code)
    if stop.is_set():
        codes.append(errors.EXIT_INTERRUPTED)
    return combined_exit_code(codes)


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
