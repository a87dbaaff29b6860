"""scheduled_task_runner.py [run]: the scheduler (the default verb)."""

from .. import cli, osutil
from ..schedule.daemon import Daemon, instance_lock
from ..logs import setup_logging
from ..notify import Notifier

NAME = "run"
SUMMARY = "run each task on its schedule and catch up what was missed, until stopped (Ctrl+C)"
EXAMPLES = ["run", "run --config " + osutil.example_path("D:/backup/config.json", "~/backup/config.json")]


def run(config, args, program):
    setup_logging(config.log, program)
    notifier = Notifier(config.notify)
    lock = instance_lock(config)
    try:
        daemon = Daemon(config, notifier=notifier)
        osutil.install_stop_handlers(lambda signum: daemon.stop())
        # In a thread, so that the main thread stays free for Ctrl+C / Ctrl+Break.
        cli.run_in_thread(daemon.run, "daemon")
    finally:
        lock.release()
    return 0
