"""What several verbs share: the task arguments, and one exit code for
several tasks."""

from .. import errors
from ..config import select_tasks
from ..logs import setup_logging

# When several tasks end differently, the exit code is the first of these
# that occurred: an interruption matters most, a clean success least.
_PRECEDENCE = [errors.EXIT_INTERRUPTED, errors.EXIT_FAILED, errors.EXIT_ALREADY_RUNNING,
               errors.EXIT_OFFSITE_FAILED, errors.EXIT_PARTIAL, errors.EXIT_OK]
# What an offsite copy's record adds to backup_now's exit code (a copy that
# did not start, or was already running elsewhere, adds nothing).
UPLOAD_EXIT_CODES = {"failed": errors.EXIT_OFFSITE_FAILED, "interrupted": errors.EXIT_INTERRUPTED}


def combined_exit_code(codes):
    for code in _PRECEDENCE:
        if code in codes:
            return code
    return errors.EXIT_OK


def add_tasks(parser, what):
    parser.add_argument("tasks", nargs="*", metavar="TASK", help="%s (default: the default task(s))" % what)
    parser.add_argument("--all", action="store_true", help="every task, in config order")


def tasks_of(config, args):
    return select_tasks(config, args.tasks, args.all)


def console_for_summaries(config, program):
    """The log set up for a verb that prints one summary line per task
    itself: the console does not repeat each run's result."""
    console = setup_logging(config.log, program)
    if console is not None:
        console.show_run_results = False
    return console
