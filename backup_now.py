#!/usr/bin/env python3
"""Back up now, and the everyday tools around backups: one verb per job.

    python3 backup_now.py [backup] [TASK ...] [--all] [--dry-run [--files]]
    python3 backup_now.py restore [TASK] [PATH ...] [--snapshot NAME|latest|DATE] --to DIR [--overwrite]
    python3 backup_now.py restore --interactive
    python3 backup_now.py snapshots [TASK ...] [--json]
    python3 backup_now.py versions PATH [TASK]
    python3 backup_now.py prune [TASK ...] [--dry-run]
    python3 backup_now.py verify [TASK ...] [--deep]
    python3 backup_now.py test-notify

backup is the verb when the first word is not one (backup_now.py "MD1"); a
task named like a verb is reached with backup TASK. The old spellings
(--restore, --snapshots, --versions PATH, --prune, --verify, --test-notify)
still work. Exit codes: 0 success, 1 failed, 2 usage or config error, 3
finished with skipped files, 4 already running, 5 backed up but the
offsite copy failed, 130 interrupted.
"""

import sys

if sys.version_info < (3, 6):  # checked before anything that needs Python 3: a message, not a traceback
    sys.stderr.write("%s needs Python 3.6 or newer (this is %d.%d)\n"
                     % (__file__, sys.version_info[0], sys.version_info[1]))
    sys.exit(2)

import os

from task_runner.commands import Program, backup, cli, prune, restore, snapshots, test_notify, verify, versions
from task_runner.config import CONFIG_NAME

PROGRAM = "backup_now"
COMMANDS = Program("backup_now.py", __doc__.split("\n\n")[0],
                   [backup, restore, snapshots, versions, prune, verify, test_notify], "backup",
                   os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_NAME))


def main(argv=None):
    return COMMANDS.main(PROGRAM, argv)


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
