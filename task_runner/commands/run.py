"""scheduled_task_runner.py [run]: the scheduler (the default verb)."""

import threading

from .. import osutil
from ..daemon import Daemon, instance_lock
from ..logs import setup_logging
from ..notify import Notifier

NAME = "run"
SUMMARY = "run each task on its schedule and catch up what was missed, until stopped (Ctrl+C)"
EXAMPLES = ["", "run --config D:/backup/config.json"]
ALIAS = None
WORDS = None


def add_arguments(p):
    pass


def run(config, args, program):
    setup_logging(config.log, program)
    notifier = Notifier(config.notify)
    lock = instance_lock(config)
    try:
        daemon = Daemon(config, notifier=notifier)
        osutil.install_stop_handlers(lambda signum: daemon.stop())
        # The loop runs in a thread so that the main thread stays free to
        # receive Ctrl+C / Ctrl+Break: on Windows a signal is not handled
        # while the main thread is blocked in Event.wait.
        worker = threading.Thread(target=daemon.run, name="daemon")
        worker.daemon = True
        worker.start()
        while worker.is_alive():
            worker.join(0.25)
    finally:
        lock.release()
    return 0
