#!/usr/bin/env python3
"""The backup scheduler: runs each task of config.json on its schedule and
catches up runs missed while it was not running. One verb per job:

    python3 scheduled_task_runner.py [run] [--config PATH]
    python3 scheduled_task_runner.py check
    python3 scheduled_task_runner.py list [--count N] [--json]
    python3 scheduled_task_runner.py status [--json]
    python3 scheduled_task_runner.py once
    python3 scheduled_task_runner.py install-startup | uninstall-startup

run is the verb when none is given (a double-click). The old spellings
(--check, --list, --status, --once, --install-startup, --uninstall-startup)
still work.
"""

import sys

if sys.version_info < (3, 6):  # checked before anything that needs Python 3: a message, not a traceback
    sys.stderr.write("%s needs Python 3.6 or newer (this is %d.%d)\n"
                     % (__file__, sys.version_info[0], sys.version_info[1]))
    sys.exit(2)

import os

from task_runner.commands import Program, check, cli, listing, once, run, startup, status
from task_runner.config import CONFIG_NAME

PROGRAM = "scheduled_task_runner"
COMMANDS = Program("scheduled_task_runner.py", __doc__.split("\n\n")[0],
                   [run, check, listing, status, once] + startup.verbs(os.path.abspath(__file__)), "run",
                   os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_NAME))


def main(argv=None):
    return COMMANDS.main(PROGRAM, argv)


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
