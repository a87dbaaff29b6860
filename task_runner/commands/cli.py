"""What the three entry scripts share: the --config argument, turning
errors into messages and exit codes, and printing for people."""

import json
import logging
import os
import signal
import sys

from .. import console
from ..config import CONFIG_NAME, LogConfig
from ..errors import EXIT_INTERRUPTED, ConfigError, TaskRunnerError
from ..logs import FILE_ONLY, setup_logging

logger = logging.getLogger(__name__)


def run_in_thread(target, name):
    """Run ``target()`` in a thread and wait, in the main thread, until it
    returns, waking for nothing else: no polling. The main thread must stay
    free for Ctrl+C / Ctrl+Break (on Windows a signal handler does not run
    while the main thread waits on a lock), so it waits in select() on a
    socket that signal.set_wakeup_fd writes to when any signal arrives (on
    Windows and POSIX alike) and that ``target`` writes to when it ends;
    the signal's Python handler then runs at once (it stops ``target``).
    (Its modules are imported here: only the scheduler and the server wait so.)"""
    import select
    import socket
    import threading
    wake_r, wake_w = socket.socketpair()
    for sock in (wake_r, wake_w):
        sock.setblocking(False)
    done = threading.Event()  # set before the wake-up byte: draining that byte can never hide the end

    def work():
        try:
            target()
        finally:
            done.set()
            try:
                wake_w.send(b"\0")
            except OSError:
                pass
    worker = threading.Thread(target=work, name=name)
    worker.daemon = True
    old = signal.set_wakeup_fd(wake_w.fileno())
    try:
        worker.start()
        while not done.is_set():
            select.select([wake_r], [], [])
            try:
                wake_r.recv(512)
            except OSError:
                pass
        worker.join()
    finally:
        signal.set_wakeup_fd(old)
        wake_r.close()
        wake_w.close()


def add_config_argument(parser, script_file):
    default = os.path.join(os.path.dirname(os.path.abspath(script_file)), CONFIG_NAME)
    parser.add_argument("--config", default=default, metavar="PATH",
                        help="the config file (default: config.json next to this program)")


def _log_config_error(exc, config_path, program):
    """Also write a config error to the default log beside the config: a
    program started without a console (pythonw, Startup folder) has no other
    way to tell anyone."""
    folder = os.path.dirname(os.path.abspath(config_path)) if config_path else None
    if not folder or not os.path.isdir(folder):
        return
    log = LogConfig(file=os.path.join(folder, "scheduled_task_runner.log"),
                    max_bytes=1024 * 1024, backup_count=5, level="INFO")
    try:
        setup_logging(log, program, console=False)
        logger.error("%s", exc.report())
    except Exception:
        pass


def run_main(main, program, argv=None):
    """Call ``main(argv)`` and return its exit code; errors become a message
    on stderr (never a traceback) and their exit code."""
    try:
        return main(argv)
    except ConfigError as exc:
        console.print_safe("%s: %s" % (program, exc.report()), sys.stderr)
        _log_config_error(exc, exc.path, program)
        return exc.exit_code
    except TaskRunnerError as exc:
        console.print_safe("%s: %s" % (program, exc), sys.stderr)
        if logging.getLogger().handlers:  # else logging's last resort would print it a second time
            logger.error("%s", exc, extra=FILE_ONLY)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print_safe("%s: interrupted" % program, sys.stderr)
        return EXIT_INTERRUPTED


def print_json(data):
    console.print_safe(json.dumps(data, indent=2, ensure_ascii=False))
