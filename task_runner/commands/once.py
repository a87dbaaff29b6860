"""scheduled_task_runner.py once: what is due or missed now, then exit."""

from ..schedule.daemon import Daemon
from ..logs import setup_logging
from ..notify import Notifier

NAME = "once"
SUMMARY = "run whatever is due or missed now, then exit (for the system's own scheduler)"
EXAMPLES = ["once"]
ALIAS = "--once"


def run(config, args, program):
    setup_logging(config.log, program)
    Daemon(config, notifier=Notifier(config.notify)).run_once()
    return 0
