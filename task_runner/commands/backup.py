"""backup_now.py [backup] [TASK ...]: back up now (the default verb)."""

import sys
import threading

from .. import console, errors
from ..console import human_bytes, plural
from ._common import UPLOAD_EXIT_CODES, add_tasks, combined_exit_code, console_for_summaries, tasks_of

NAME = "backup"
SUMMARY = "back up the default task(s) now, or the tasks named"
EXAMPLES = ['"MD1"', "--all", "backup Documents --dry-run --files"]
ALIAS = None
WORDS = "tasks"


def add_arguments(p):
    add_tasks(p, "the tasks to back up")
    p.add_argument("--dry-run", action="store_true",
                   help="show what a run would copy, link and delete; change nothing")
    p.add_argument("--files", action="store_true",
                   help="with --dry-run: list each file it would copy or link, and each snapshot it would delete")
    p.add_argument("--low-priority", action="store_true",
                   help="copy at low CPU and I/O priority, as scheduled runs do")
    p.add_argument("--no-offsite", action="store_true", help="back up without the offsite copy this time")


def run(config, args, program):
    if args.files and not args.dry_run:
        raise errors.UsageError("--files goes with --dry-run: backup_now.py backup --dry-run --files")
    tasks = tasks_of(config, args)
    handler = console_for_summaries(config, program)
    if args.dry_run:
        return dry_run(tasks, args.files)
    return back_up(config, tasks, handler, args.low_priority, not args.no_offsite)


def back_up(config, tasks, handler, low_priority, offsite=True):
    from ..fs import osutil
    from ..runs.notify import Notifier
    from ..runs.runner import ALREADY_RUNNING, run_task
    offsite_cli = upload_stop = None
    if offsite and any(task.offsite for task in tasks):  # a backup without offsite loads nothing of it
        from ..offsite import cli as offsite_cli
        upload_stop = offsite_cli.UploadStop()
    notifier = Notifier(config.notify)
    stop = threading.Event()

    def on_stop(signum):
        if upload_stop is not None and upload_stop.claim():  # while an upload runs, Ctrl+C stops only that
            return
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl+C: stop at once
        console.print_safe("stopping: removing the unfinished snapshot...", sys.stderr)
        stop.set()

    osutil.install_stop_handlers(on_stop)
    codes = []
    for task in tasks:
        if stop.is_set():
            break
        progress = None
        if handler is not None and sys.stderr.isatty():
            progress = console.ProgressLine(sys.stderr)
            handler.before_emit = progress.clear
        if not task.enabled:
            console.print_safe("%s is paused (\"enabled\": false): backing it up because it was named"
                               % task.name)
        outcome = run_task(config, task, "manual", stop_event=stop, progress=progress, notifier=notifier,
                           low_priority=True if low_priority else None)
        if progress is not None:
            progress.clear()
        if outcome.status == ALREADY_RUNNING:
            console.print_safe("%s: %s" % (task.name, outcome.message))
        else:
            console.print_safe("%s: %s (run %s) %s" % (task.name, outcome.status, outcome.run_id, outcome.message))
        codes.append(outcome.exit_code)
        if offsite_cli is not None:
            upload = offsite_cli.upload_after_run(config, task, outcome.status, upload_stop, notifier)
            if upload is not None:
                codes.append(UPLOAD_EXIT_CODES.get(upload.get("status"), errors.EXIT_OK))
    if stop.is_set():
        codes.append(errors.EXIT_INTERRUPTED)
    notifier.flush(60.0)  # messages still in flight get a bounded time to leave
    return combined_exit_code(codes)


def dry_run(tasks, files=False):
    from ..errors import BackupError
    from ..runs.runner import preview_task
    codes = []
    for task in tasks:
        listing = (lambda action, rel: console.print_safe("  %s %s" % (action, rel))) if files else None
        try:
            result, deleted = preview_task(task, listing=listing)
        except BackupError as exc:
            console.print_safe("%s: would fail: %s" % (task.name, exc))
            codes.append(errors.EXIT_FAILED)
            continue
        console.print_safe("%s: would copy %s (%s) and link %s%s; %s" % (
            task.name, plural(result.copied, "file"), human_bytes(result.bytes_copied),
            plural(result.linked, "unchanged file"),
            " and %s" % plural(result.moved, "moved file") if result.moved else "",
            "would delete %s" % ", ".join(deleted) if deleted else "would delete no snapshot"))
        if files:
            for name in deleted:
                console.print_safe("  delete snapshot %s" % name)
        codes.append(errors.EXIT_OK)
    return combined_exit_code(codes)
