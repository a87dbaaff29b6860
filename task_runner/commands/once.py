"""scheduled_task_runner.py once: what is due or missed now, then exit."""

from ..logs import setup_logging
from ._common import combined_exit_code

NAME = "once"
SUMMARY = "run whatever is due or missed now, then exit (for the system's own scheduler)"
EXAMPLES = ["once"]
ALIAS = "--once"


def run(config, args, program):
    """The exit code is backup_now's for the same outcomes (the most serious
    of the runs made; 0 when nothing was due): cron and Task Scheduler
    read it."""
    from ..runs.notify import Notifier
    from ..runs.runner import run_task
    from ..schedule.daemon import Daemon
    setup_logging(config.log, program)
    outcomes = []

    def recording_run(*a, **k):
        outcome = run_task(*a, **k)
        outcomes.append(outcome)
        return outcome

    Daemon(config, notifier=Notifier(config.notify), run=recording_run).run_once()
    return combined_exit_code([o.exit_code for o in outcomes])
