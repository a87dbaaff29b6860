"""One root exception for the project; each subclass carries its exit code.

Exit codes are applied where a program ends: by the entry scripts (through
cli.run_main) and by the verbs of task_runner/commands, and runner.Outcome
maps a run's status to the same codes (``exit_code``), so they mean the
same thing in every program:

    0 success, 1 failed, 2 usage or config error, 3 finished with skipped
    files (partial), 4 already running, 5 the backup was made but its
    offsite copy failed, 130 interrupted.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_ALREADY_RUNNING = 4
EXIT_OFFSITE_FAILED = 5
EXIT_INTERRUPTED = 130

# In the message of a run that failed because the folder its destination
# needs is missing (an unplugged drive, a share not mounted): the scheduler
# watches for the drive's return (fs/drive.py).
DRIVE_MISSING = "is the backup drive plugged in?"


class TaskRunnerError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code = EXIT_FAILED


class ConfigError(TaskRunnerError):
    """config.json is missing, unreadable or invalid.

    ``problems`` lists every problem found, each naming the bad value and
    the fix; ``str()`` joins them one per line.
    """

    exit_code = EXIT_USAGE

    def __init__(self, problems, path=None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.path = path
        super(ConfigError, self).__init__("\n".join(self.problems))

    def report(self):
        """The text shown to a user: a heading, then one problem per line."""
        where = " in %s" % self.path if self.path else ""
        count = len(self.problems)
        head = "%d problem%s%s:" % (count, "" if count == 1 else "s", where)
        return "\n".join([head] + ["  - " + p for p in self.problems])


class UsageError(TaskRunnerError):
    """A command-line argument names something that does not exist."""

    exit_code = EXIT_USAGE


class AlreadyRunning(TaskRunnerError):
    """Another process holds the lock this one needs."""

    exit_code = EXIT_ALREADY_RUNNING


class BackupError(TaskRunnerError):
    """The whole run failed (missing source, unwritable or full destination)."""

    exit_code = EXIT_FAILED


class HistoryError(TaskRunnerError):
    """executed_tasks.json could not be locked or written."""

    exit_code = EXIT_FAILED


class Interrupted(TaskRunnerError):
    """The run was asked to stop (Ctrl+C, SIGTERM, daemon shutdown)."""

    exit_code = EXIT_INTERRUPTED
