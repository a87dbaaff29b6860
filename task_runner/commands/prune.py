"""backup_now.py prune [TASK ...]: apply each task's keep now, without a backup."""

from .. import console, errors
from ..console import plural
from ._common import add_tasks, combined_exit_code, console_for_summaries, tasks_of

NAME = "prune"
SUMMARY = "apply each task's \"keep\" now, without a backup, and say what it kept and deleted"
EXAMPLES = ["prune --dry-run", "prune Documents"]
ALIAS = "--prune"
WORDS = "tasks"


def add_arguments(p):
    add_tasks(p, "the tasks to prune")
    p.add_argument("--dry-run", action="store_true", help="only show what it would keep and delete")


def run(config, args, program):
    from ..runs.runner import ALREADY_RUNNING, prune_task
    tasks = tasks_of(config, args)
    console_for_summaries(config, program)
    codes = []
    for task in tasks:
        if task.keep is None:
            console.print_safe("%s: keeps every snapshot (no \"keep\" in config.json)" % task.name)
            codes.append(errors.EXIT_OK)
            continue
        deleted = prune_task(config, task, dry_run=args.dry_run)
        if deleted == ALREADY_RUNNING:
            console.print_safe("%s: a backup of this task is running: try again when it has finished" % task.name)
            codes.append(errors.EXIT_ALREADY_RUNNING)
            continue
        shown = ", ".join(deleted[:10]) + (" and %d more" % (len(deleted) - 10) if len(deleted) > 10 else "")
        console.print_safe("%s: %s %s%s" % (task.name, "would delete" if args.dry_run else "deleted",
                                            plural(len(deleted), "snapshot"), (": " + shown) if deleted else ""))
        codes.append(errors.EXIT_OK)
    return combined_exit_code(codes)
