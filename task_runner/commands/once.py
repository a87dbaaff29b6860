"""scheduled_task_runner.py once: what is due or missed now, then exit."""

from ..logs import setup_logging
from ._common import UPLOAD_EXIT_CODES, combined_exit_code

NAME = "once"
SUMMARY = "run whatever is due or missed now, then exit (for the system's own scheduler)"
EXAMPLES = ["once"]
ALIAS = "--once"


def run(config, args, program):
    """The exit code is backup_now's for the same outcomes (the most serious
    of the runs and offsite uploads made, an upload retried alone included;
    0 when nothing was due): cron and Task Scheduler read it."""
    from ..offsite import service
    from ..runs.notify import Notifier
    from ..runs.runner import run_task
    from ..schedule.daemon import Daemon
    setup_logging(config.log, program)
    outcomes, uploads = [], []

    def recording_run(*a, **k):
        outcome = run_task(*a, **k)
        outcomes.append(outcome)
        return outcome

    def recording_upload(*a):
        return service.start_background(*a, on_done=uploads.append)

    Daemon(config, notifier=Notifier(config.notify), run=recording_run, start_upload=recording_upload).run_once()
    return combined_exit_code([o.exit_code for o in outcomes] +
                              [UPLOAD_EXIT_CODES.get(u["status"], 0) for u in uploads if u is not None])
