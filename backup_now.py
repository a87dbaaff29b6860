#!/usr/bin/env python3
"""Run the default task(s) of config.json now, or the tasks named.

    python3 backup_now.py [--config PATH] [TASK ...] [--all]

Exit codes: 0 success, 1 failed, 2 usage or config error, 3 finished with
skipped files, 4 already running, 130 interrupted.
"""

import argparse
import sys
import threading

from task_runner import cli, errors, osutil
from task_runner.config import load_config, select_tasks
from task_runner.logs import setup_logging
from task_runner.runner import run_task

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
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    config = load_config(args.config)
    tasks = select_tasks(config, args.tasks, args.all)
    setup_logging(config.log, PROGRAM)
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
        outcome = run_task(config, task, "manual", stop_event=stop)
        osutil.print_safe("%s: %s (run %s) %s" % (task.name, outcome.status, outcome.run_id, outcome.message))
        codes.append(outcome.exit_code)
    if stop.is_set():
        codes.append(errors.EXIT_INTERRUPTED)
    return combined_exit_code(codes)


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
