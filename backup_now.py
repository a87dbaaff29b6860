#!/usr/bin/env python3
"""Run the default task(s) of config.json now, or the tasks named.

    python3 backup_now.py [--config PATH] [TASK ...] [--all] [--dry-run]
    python3 backup_now.py --verify TASK [--deep]
    python3 backup_now.py --prune [TASK ...] [--dry-run]
    python3 backup_now.py --snapshots [TASK ...] [--json]
    python3 backup_now.py --versions PATH [TASK]
    python3 backup_now.py --restore [TASK] [--snapshot NAME|latest|DATE] [PATH ...] --to DIR [--overwrite]
    python3 backup_now.py --snapshots TASK --offsite
    python3 backup_now.py --restore TASK --offsite [--snapshot NAME|DATE] [PATH ...] --to DIR
    python3 backup_now.py --verify TASK --offsite
    python3 backup_now.py --test-notify

Exit codes: 0 success, 1 failed, 2 usage or config error, 3 finished with
skipped files, 4 already running, 130 interrupted.
"""

import sys

if sys.version_info < (3, 6):  # checked before anything that needs Python 3: a message, not a traceback
    sys.stderr.write("%s needs Python 3.6 or newer (this is %d.%d)\n"
                     % (__file__, sys.version_info[0], sys.version_info[1]))
    sys.exit(2)

import argparse
import threading

from task_runner import cli, errors, osutil, restore_cli
from task_runner.config import load_config, select_tasks
from task_runner.errors import BackupError
from task_runner.logs import setup_logging
from task_runner.notify import Notifier
from task_runner.offsite import cli as offsite_cli
from task_runner.runner import ALREADY_RUNNING, human_bytes, plural, preview_task, prune_task, run_task
from task_runner.verify import verify_task

PROGRAM = "backup_now"

# When several tasks end differently, the exit code is the first of these
# that occurred: an interruption matters most, a clean success least.
_PRECEDENCE = [errors.EXIT_INTERRUPTED, errors.EXIT_FAILED, errors.EXIT_ALREADY_RUNNING,
               errors.EXIT_PARTIAL, errors.EXIT_OK]


def combined_exit_code(codes):
    for code in _PRECEDENCE:
        if code in codes:
            return code
    return errors.EXIT_OK


def _parser():
    p = argparse.ArgumentParser(prog="backup_now.py", description=__doc__.split("\n\n")[0])
    cli.add_config_argument(p, __file__)
    p.add_argument("tasks", nargs="*", metavar="TASK", help="task names (default: the default task(s))")
    p.add_argument("--all", action="store_true", help="run every task in config order")
    p.add_argument("--dry-run", action="store_true",
                   help="show what a run would copy, link and delete; change nothing")
    p.add_argument("--verify", action="store_true",
                   help="compare the newest snapshot of each task named with its source (exit 0 when equal)")
    p.add_argument("--deep", action="store_true", help="with --verify: compare file contents too")
    p.add_argument("--test-notify", action="store_true",
                   help="send a test message through every configured notification channel")
    p.add_argument("--files", action="store_true",
                   help="with --dry-run: list each file it would copy or link, and each snapshot it would delete")
    p.add_argument("--prune", action="store_true",
                   help="apply each task's keep now, without a backup (with --dry-run: only show it)")
    p.add_argument("--low-priority", action="store_true",
                   help="copy at low CPU and I/O priority, as scheduled runs do")
    g = p.add_argument_group("getting files back")
    g.add_argument("--snapshots", action="store_true", help="list the snapshots of the tasks (--json for scripts)")
    g.add_argument("--json", action="store_true", help="with --snapshots: print JSON")
    g.add_argument("--versions", metavar="PATH", help="list the versions of a file or folder of src")
    g.add_argument("--restore", action="store_true",
                   help="restore [TASK] [PATH ...] (everything when no PATH) into --to DIR")
    g.add_argument("--snapshot", metavar="NAME", default="latest",
                   help="with --restore: a snapshot name, latest (default) or a date/time (the newest at or "
                        "before it)")
    g.add_argument("--to", metavar="DIR", help="with --restore: the folder to restore into")
    g.add_argument("--overwrite", action="store_true",
                   help="with --restore: --to may hold files; what differs is replaced, kept beside first")
    g.add_argument("--no-keep-existing", action="store_true",
                   help="with --overwrite: do not keep the replaced files as NAME.before-restore-<time>")
    g.add_argument("--interactive", action="store_true", help="with --restore: a guided restore (restore.bat)")
    o = p.add_argument_group("the offsite copy (a task's \"offsite\", through rclone)")
    o.add_argument("--offsite", action="store_true",
                   help="with --snapshots, --restore or --verify: use the remote copy (the local dest may be gone)")
    o.add_argument("--no-offsite", action="store_true", help="back up without the offsite copy this time")
    return p


def prune(config, tasks, dry):
    codes = []
    for task in tasks:
        if task.keep is None:
            osutil.print_safe("%s: keeps every snapshot (no \"keep\" in config.json)" % task.name)
            codes.append(errors.EXIT_OK)
            continue
        deleted = prune_task(config, task, dry_run=dry)
        if deleted == ALREADY_RUNNING:
            osutil.print_safe("%s: a backup of this task is running: try again when it has finished" % task.name)
            codes.append(errors.EXIT_ALREADY_RUNNING)
            continue
        shown = ", ".join(deleted[:10]) + (" and %d more" % (len(deleted) - 10) if len(deleted) > 10 else "")
        osutil.print_safe("%s: %s %s%s" % (task.name, "would delete" if dry else "deleted",
                                           plural(len(deleted), "snapshot"), (": " + shown) if deleted else ""))
        codes.append(errors.EXIT_OK)
    return combined_exit_code(codes)


def verify(tasks, deep):
    codes = []
    for task in tasks:
        try:
            result = verify_task(task, deep=deep)
        except BackupError as exc:
            osutil.print_safe("%s: cannot verify: %s" % (task.name, exc))
            codes.append(errors.EXIT_FAILED)
            continue
        osutil.print_safe("%s: %s %s: %d entries checked, %d missing, %d extra, %d changed%s" % (
            task.name, "matches" if result.ok else "DIFFERS from", result.snapshot, result.checked,
            result.missing, result.extra, result.changed, " (contents compared)" if deep else ""))
        for line in result.differences:
            osutil.print_safe("  " + line)
        more = result.missing + result.extra + result.changed - len(result.differences)
        if more > 0:
            osutil.print_safe("  and %d more" % more)
        codes.append(errors.EXIT_OK if result.ok else errors.EXIT_FAILED)
    return combined_exit_code(codes)


def test_notify(config):
    notifier = Notifier(config.notify)
    if not notifier.active:
        osutil.print_safe("no notification channel is configured (notify.webhook, notify.ping_url, "
                          "notify.email in config.json)")
        return errors.EXIT_USAGE
    results = notifier.send_test()
    for r in results:
        osutil.print_safe("%s: %s" % (r.channel, "sent" if r.ok else "FAILED: " + r.detail))
    return errors.EXIT_OK if all(r.ok for r in results) else errors.EXIT_FAILED


def dry_run(tasks, files=False):
    codes = []
    for task in tasks:
        listing = (lambda action, rel: osutil.print_safe("  %s %s" % (action, rel))) if files else None
        try:
            result, deleted = preview_task(task, listing=listing)
        except BackupError as exc:
            osutil.print_safe("%s: would fail: %s" % (task.name, exc))
            codes.append(errors.EXIT_FAILED)
            continue
        osutil.print_safe("%s: would copy %s (%s) and link %s; %s" % (
            task.name, plural(result.copied, "file"), human_bytes(result.bytes_copied),
            plural(result.linked, "unchanged file"),
            "would delete %s" % ", ".join(deleted) if deleted else "would delete no snapshot"))
        if files:
            for name in deleted:
                osutil.print_safe("  delete snapshot %s" % name)
        codes.append(errors.EXIT_OK)
    return combined_exit_code(codes)


def _getting_files_back(config, args):
    if args.versions:
        return restore_cli.print_versions(config, args.versions, args.tasks)
    stop = threading.Event()
    osutil.install_stop_handlers(lambda signum: stop.set())
    if args.interactive:
        return restore_cli.interactive(config, stop, open_folder=osutil.open_in_file_manager)
    names, paths = restore_cli.split_task_and_paths(config, args.tasks)
    progress = None
    if sys.stderr is not None and sys.stderr.isatty():
        progress = restore_cli.RestoreProgress(cli.ProgressLine(sys.stderr))
    return restore_cli.run_restore(config, names, args.snapshot, paths, args.to, args.overwrite,
                                   not args.no_keep_existing, args.dry_run, stop, progress)


def _offsite_command(config, args):
    if not (args.snapshots or args.restore or args.verify):
        raise errors.UsageError("--offsite goes with --snapshots, --restore or --verify; a backup copies "
                                "offsite by itself (--no-offsite skips it)")
    setup_logging(config.log, PROGRAM)
    if args.snapshots:
        return offsite_cli.print_snapshots(config, select_tasks(config, args.tasks, args.all))
    if args.verify:
        return offsite_cli.verify(config, args.tasks)
    stop = threading.Event()
    osutil.install_stop_handlers(lambda signum: stop.set())
    names, paths = restore_cli.split_task_and_paths(config, args.tasks)
    return offsite_cli.restore(config, names, args.snapshot, paths, args.to, args.overwrite,
                               not args.no_keep_existing, stop)


def main(argv=None):
    args = _parser().parse_args(argv)
    config = load_config(args.config)
    if args.offsite:
        return _offsite_command(config, args)
    if args.test_notify:
        setup_logging(config.log, PROGRAM)
        return test_notify(config)
    if args.deep and not args.verify:
        raise errors.UsageError("--deep goes with --verify")
    if args.restore or args.versions:
        setup_logging(config.log, PROGRAM)
        return _getting_files_back(config, args)
    tasks = select_tasks(config, args.tasks, args.all)
    if args.snapshots:
        return restore_cli.print_snapshots(config, tasks, args.json)
    console = setup_logging(config.log, PROGRAM)
    if console is not None:
        console.show_run_results = False  # the summary line printed below says it once
    if args.verify:
        return verify(tasks, args.deep)
    if args.prune:
        return prune(config, tasks, args.dry_run)
    if args.dry_run:
        return dry_run(tasks, args.files)
    notifier = Notifier(config.notify)
    stop = threading.Event()
    upload_stop = offsite_cli.UploadStop()

    def on_stop(signum):
        if upload_stop.claim():  # while an upload runs, Ctrl+C stops only that
            return
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl+C: stop at once
        osutil.print_safe("stopping: removing the unfinished snapshot...", sys.stderr)
        stop.set()

    osutil.install_stop_handlers(on_stop)
    codes = []
    for task in tasks:
        if stop.is_set():
            break
        progress = None
        if console is not None and sys.stderr.isatty():
            progress = cli.ProgressLine(sys.stderr)
            console.before_emit = progress.clear
        if not task.enabled:
            osutil.print_safe("%s is paused (\"enabled\": false): backing it up because it was named"
                              % task.name)
        outcome = run_task(config, task, "manual", stop_event=stop, progress=progress, notifier=notifier,
                           low_priority=True if args.low_priority else None)
        if progress is not None:
            progress.clear()
        osutil.print_safe("%s: %s (run %s) %s" % (task.name, outcome.status, outcome.run_id, outcome.message))
        codes.append(outcome.exit_code)
        if not args.no_offsite:
            offsite_cli.upload_after_run(config, task, outcome.status, upload_stop, notifier)  # stands apart
    if stop.is_set():
        codes.append(errors.EXIT_INTERRUPTED)
    notifier.flush(60.0)  # messages still in flight get a bounded time to leave
    return combined_exit_code(codes)


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
