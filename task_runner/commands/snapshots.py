"""backup_now.py snapshots [TASK ...]: list the snapshots of the tasks."""

from .. import restore_cli
from ._common import add_tasks, tasks_of

NAME = "snapshots"
SUMMARY = "list the snapshots of the default task(s), or of the tasks named, oldest first"
EXAMPLES = ["snapshots", "snapshots Documents --json"]
ALIAS = "--snapshots"
WORDS = "tasks"


def add_arguments(p):
    add_tasks(p, "the tasks whose snapshots to list")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(config, args, program):
    return restore_cli.print_snapshots(config, tasks_of(config, args), args.json)
