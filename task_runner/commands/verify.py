"""backup_now.py verify [TASK ...]: compare the newest snapshot with the source."""

from .. import console, errors
from ..errors import BackupError
from ._common import add_tasks, combined_exit_code, console_for_summaries, tasks_of

NAME = "verify"
SUMMARY = ("compare the newest snapshot of each task with its source (exit code 0 when equal, 3 when some of the "
           "source could not be read to compare)")
EXAMPLES = ["verify", "verify Documents --deep"]
ALIAS = "--verify"
WORDS = "tasks"


def add_arguments(p):
    add_tasks(p, "the tasks to verify")
    p.add_argument("--deep", action="store_true",
                   help="compare file contents too (reads every file; with --offsite, rclone downloads each one and "
                        "its MD5 is compared)")
    p.add_argument("--offsite", action="store_true",
                   help="compare the newest offsite snapshot with the local one instead")


def run(config, args, program):
    if args.offsite:
        from ..offsite import cli as offsite_cli
        console_for_summaries(config, program)
        return offsite_cli.verify(config, args.tasks, args.deep)
    from ..restore.verify import verify_task
    tasks = tasks_of(config, args)
    console_for_summaries(config, program)
    codes = []
    for task in tasks:
        try:
            result = verify_task(task, deep=args.deep)
        except BackupError as exc:
            console.print_safe("%s: cannot verify: %s" % (task.name, exc))
            codes.append(errors.EXIT_FAILED)
            continue
        console.print_safe("%s: %s %s: %d entries checked, %d missing, %d extra, %d changed%s%s" % (
            task.name, "DIFFERS from" if not result.ok else "matches" if result.complete else
            "matches, in what could be read,", result.snapshot, result.checked,
            result.missing, result.extra, result.changed, " (contents compared)" if args.deep else "",
            "; %d entries of the source could not be read and were not compared (see the warnings)"
            % result.unchecked if result.unchecked else ""))
        for line in result.differences:
            console.print_safe("  " + line)
        more = result.missing + result.extra + result.changed - len(result.differences)
        if more > 0:
            console.print_safe("  and %d more" % more)
        codes.append(errors.EXIT_FAILED if not result.ok else errors.EXIT_OK if result.complete
                     else errors.EXIT_PARTIAL)
    return combined_exit_code(codes)
