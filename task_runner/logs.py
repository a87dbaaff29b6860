"""Logging set-up: one rotating log file shared by every program.

The daemon, backup_now and the HTTP server all append to the same file. A
stock RotatingFileHandler keeps the file open, and on Windows a file that
another process holds open cannot be renamed, so rotation fails with a
PermissionError traceback and lines go missing. SharedFileHandler instead
opens the file for each record under a cross-process lock, rotates under
the same lock, and never holds the file open between records. Log volume
is a few lines per run, so the extra open costs nothing that matters.
"""

import logging
import os
import sys

from .console import printable
from .fs.locking import FileLock, lock_path_for

FORMAT = "%(asctime)s %(levelname)-7s %(program)s [%(task)s] %(message)s"
CONSOLE_FORMAT = "%(asctime)s %(levelname)s [%(task)s] %(message)s"
LOCK_WAIT = 5.0
FILE_ONLY = {"file_only": True}
# The line that ends a run: on the console only where the program does not
# print its own summary of the run (backup_now does).
RUN_RESULT = {"run_result": True}


class SafeFormatter(logging.Formatter):
    """A Formatter whose lines hold no unescaped control character: the
    task name is escaped whole, the message and a traceback keep their line
    breaks, and every line after a record's first is indented, so a newline
    in a name or a value can never pass for a record of its own."""

    def formatMessage(self, record):
        safe = logging.makeLogRecord(record.__dict__)
        safe.message = _escape_lines(record.message)
        safe.task = printable(str(getattr(record, "task", "-")))
        return super(SafeFormatter, self).formatMessage(safe)

    def formatException(self, ei):
        return _escape_lines(super(SafeFormatter, self).formatException(ei))

    def formatStack(self, stack_info):
        return _escape_lines(super(SafeFormatter, self).formatStack(stack_info))

    def format(self, record):
        lines = super(SafeFormatter, self).format(record).split("\n")
        return "\n".join(lines[:1] + [line if line.startswith(" ") else "    " + line for line in lines[1:]])


def _escape_lines(text):
    return "\n".join(printable(line) for line in text.split("\n"))


class _Context(logging.Filter):
    """Adds ``program`` and a default ``task`` ("-") to every record."""

    def __init__(self, program):
        super(_Context, self).__init__()
        self.program = program

    def filter(self, record):
        record.program = self.program
        if not hasattr(record, "task"):
            record.task = "-"
        return True


class SharedFileHandler(logging.Handler):
    """Appends each record to ``path``, rotating at ``max_bytes`` into
    ``path.1`` .. ``path.<backup_count>``, safely across processes."""

    def __init__(self, path, max_bytes, backup_count):
        super(SharedFileHandler, self).__init__()
        self.path = path
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._lock_path = lock_path_for(path)

    def _rotate(self):
        if self.backup_count == 0:
            os.remove(self.path)  # rotation without backups starts the file afresh
            return
        for i in range(self.backup_count - 1, 0, -1):
            older = "%s.%d" % (self.path, i)
            if os.path.exists(older):
                os.replace(older, "%s.%d" % (self.path, i + 1))
        os.replace(self.path, self.path + ".1")

    def emit(self, record):
        try:
            line = self.format(record) + "\n"
            data = line.encode("utf-8", "backslashreplace")  # a lone surrogate never loses the line
            lock = FileLock(self._lock_path)
            locked = lock.acquire(timeout=LOCK_WAIT)  # write anyway if it times out
            try:
                try:
                    size = os.path.getsize(self.path)
                except OSError:
                    size = 0
                if size and size + len(data) > self.max_bytes:
                    try:
                        self._rotate()
                    except OSError:
                        pass  # e.g. a text editor holds it open on Windows: keep appending
                with open(self.path, "ab") as f:
                    f.write(data)
            finally:
                if locked:
                    lock.release()
        except Exception:
            self.handleError(record)  # prints only when there is a stderr


class ConsoleHandler(logging.StreamHandler):
    """The console handler; ``before_emit`` (if set) runs before each line,
    so a live progress line can get out of the way. A record logged with
    ``extra=FILE_ONLY`` goes to the log file only (the program has printed
    it already), and so does a record of one of ``file_only_loggers`` (or
    a logger below one): a verb that prints what they say itself names them,
    so that each message is printed once."""

    before_emit = None
    show_run_results = True
    file_only_loggers = ()

    def emit(self, record):
        if getattr(record, "file_only", False):
            return
        if any(record.name == name or record.name.startswith(name + ".") for name in self.file_only_loggers):
            return
        if not self.show_run_results and getattr(record, "run_result", False):
            return
        if self.before_emit is not None:
            self.before_emit()
        super(ConsoleHandler, self).emit(record)


class TaskLog(logging.LoggerAdapter):
    """A logger whose records name ``task``."""

    def process(self, msg, kwargs):
        kwargs["extra"] = dict(kwargs.get("extra") or {}, task=self.extra["task"])
        return msg, kwargs


def task_log(logger, task_name):
    return TaskLog(logger, {"task": task_name})


def setup_logging(log_config, program, console=True, console_level=logging.INFO):
    """Configure the root logger for an entry script: the shared file at
    ``log_config.level``, and INFO on the console when there is one.
    Returns the console handler (None without a console)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    context = _Context(program)
    if log_config is not None:
        folder = os.path.dirname(log_config.file)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
        fileh = SharedFileHandler(log_config.file, log_config.max_bytes, log_config.backup_count)
        fileh.setLevel(getattr(logging, log_config.level))
        fileh.setFormatter(SafeFormatter(FORMAT))
        fileh.addFilter(context)
        root.addHandler(fileh)
    consoleh = None
    if console and sys.stderr is not None:  # pythonw has no console
        consoleh = ConsoleHandler(sys.stderr)
        consoleh.setLevel(console_level)
        consoleh.setFormatter(SafeFormatter(CONSOLE_FORMAT, "%H:%M:%S"))
        consoleh.addFilter(context)
        root.addHandler(consoleh)
    return consoleh
