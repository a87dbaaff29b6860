"""scheduled_task_runner.py [run]: the scheduler (the default verb)."""

import os

from . import cli
from ..config import edit as config_edit
from ..fs import osutil
from ..logs import setup_logging

NAME = "run"
SUMMARY = "run each task on its schedule and catch up what was missed, until stopped (Ctrl+C)"
EXAMPLES = ["run", "run --config " + osutil.example_path("D:/backup/config.json", "~/backup/config.json")]


def check_seconds(environ):
    """How often the sleeping scheduler looks (config or history changed,
    a clock jump, a backup drive back): 60 s, or TASK_RUNNER_CHECK_SECONDS
    (a number from 0.1 to 60; for tests, which cannot wait a minute)."""
    try:
        seconds = float(environ.get("TASK_RUNNER_CHECK_SECONDS", "60"))
    except ValueError:
        return 60.0
    return min(max(seconds, 0.1), 60.0) if seconds == seconds else 60.0


def run(config, args, program):
    from ..runs.notify import Notifier
    from ..schedule.daemon import Daemon, instance_lock
    setup_logging(config.log, program)
    note = config_edit.first_start_note(config.path)
    if note:
        cli.logger.warning("%s", note)
    notifier = Notifier(config.notify)
    lock = instance_lock(config)
    try:
        daemon = Daemon(config, notifier=notifier, check_every=check_seconds(os.environ))
        osutil.install_stop_handlers(lambda signum: daemon.stop())
        # In a thread, so that the main thread stays free for Ctrl+C / Ctrl+Break.
        cli.run_in_thread(daemon.run, "daemon")
    finally:
        lock.release()
    return 0
