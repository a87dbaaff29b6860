"""backup_now.py restore [TASK] [PATH ...] --to DIR: get files back."""

import sys
import threading

from .. import console
from ..fs import osutil
from ..errors import UsageError
from ..logs import setup_logging

NAME = "restore"
SUMMARY = "restore [TASK] [PATH ...] (everything when no PATH) into --to DIR, or a guided restore"
_TO = osutil.example_path("D:/Restored", "~/Restored")
EXAMPLES = ['restore "MD1" Documents/cv.docx --snapshot 2026-11-01 --to ' + _TO,
            "restore --to %s --dry-run" % _TO, "restore --interactive"]
ALIAS = "--restore"
WORDS = "words"


def add_arguments(p):
    p.add_argument("words", nargs="*", metavar="[TASK] [PATH]",
                   help="the task (when the first word names one), then paths in src (everything when none)")
    p.add_argument("--snapshot", metavar="NAME", default="latest",
                   help="a snapshot name, latest (default) or a date/time (the newest at or before it)")
    p.add_argument("--to", metavar="DIR", help="the folder to restore into")
    p.add_argument("--overwrite", action="store_true",
                   help="--to may hold files; what differs is replaced, kept beside first")
    p.add_argument("--no-keep-existing", action="store_true",
                   help="with --overwrite: do not keep the replaced files as NAME.before-restore-<time>.EXT")
    p.add_argument("--dry-run", action="store_true", help="show what it would restore and replace; change nothing")
    p.add_argument("--interactive", action="store_true", help="a guided restore (what restore.bat runs)")
    p.add_argument("--offsite", action="store_true",
                   help="restore from the task's offsite copy alone (the local dest may be gone)")


def run(config, args, program):
    given = [o for o, v in (("TASK or PATH", args.words), ("--to", args.to), ("--overwrite", args.overwrite),
                            ("--snapshot", args.snapshot != "latest"), ("--dry-run", args.dry_run),
                            ("--no-keep-existing", args.no_keep_existing), ("--offsite", args.offsite)) if v]
    if args.interactive and given:
        raise UsageError("--interactive asks its own questions: leave out %s (or leave out --interactive)"
                         % ", ".join(given))
    from . import _restoring as restore_cli
    # The guided restore's log goes to the file only: no log line among its questions.
    console_log = setup_logging(config.log, program, console=not args.interactive)
    if console_log is not None:  # the restore's summary and each file not restored are printed below: not twice
        console_log.file_only_loggers = ("task_runner.restore.restorer",)
    stop = threading.Event()
    install_stop = lambda: osutil.install_stop_handlers(lambda signum: stop.set())  # noqa: E731
    if args.interactive:  # Ctrl+C at a question must end the dialogue: handlers only once it restores
        osutil.ctrl_c_raises()
        return restore_cli.interactive(config, stop, install_stop, open_folder=console.open_in_file_manager)
    install_stop()
    names, paths = restore_cli.split_task_and_paths(config, args.words)
    if args.offsite:
        from ..offsite import cli as offsite_cli
        return offsite_cli.restore(config, names, args.snapshot, paths, args.to, args.overwrite,
                                   not args.no_keep_existing, stop, args.dry_run)
    progress = None
    if sys.stderr is not None and sys.stderr.isatty():
        progress = restore_cli.RestoreProgress(console.ProgressLine(sys.stderr))
    return restore_cli.run_restore(config, names, args.snapshot, paths, args.to, args.overwrite,
                                   not args.no_keep_existing, args.dry_run, stop, progress)
