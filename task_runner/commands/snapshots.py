"""backup_now.py snapshots [TASK ...]: list the snapshots of the tasks."""

from ..logs import setup_logging
from ._common import add_tasks, tasks_of

NAME = "snapshots"
SUMMARY = "list the snapshots of the default task(s), or of the tasks named, oldest first"
EXAMPLES = ["snapshots", "snapshots Documents --json"]
ALIAS = "--snapshots"
WORDS = "tasks"


def add_arguments(p):
    add_tasks(p, "the tasks whose snapshots to list")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--offsite", action="store_true", help="the complete snapshots of the offsite copy instead")


def run(config, args, program):
    if args.offsite:
        from ..offsite import cli as offsite_cli
        setup_logging(config.log, program)
        return offsite_cli.print_snapshots(config, tasks_of(config, args))
    from . import _restoring as restore_cli
    return restore_cli.print_snapshots(config, tasks_of(config, args), args.json)
