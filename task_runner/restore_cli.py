"""What backup_now.py prints for --snapshots, --versions and --restore, and
the guided restore (--interactive, what restore.bat runs)."""

import os
import time

from . import catalog, cli, errors, osutil, restore, snapshots
from .offsite import cli as offsite_cli
from .config import select_tasks
from .errors import UsageError
from .history import History
from .runner import human_bytes, plural as _plural, task_lock
from .schedule import LOCAL, local_datetime


def _when(ns):
    return local_datetime(ns / 1e9, LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def print_snapshots(config, tasks, as_json):
    runs = History.for_config(config).runs()
    listing = [item for task in tasks for item in catalog.snapshot_list(task, runs)]
    if as_json:
        cli.print_json({"snapshots": listing})
        return errors.EXIT_OK
    for task in tasks:
        items = [i for i in listing if i["task"] == task.name]
        osutil.print_safe("%s (%s):" % (task.name, task.dest))
        complete = [i for i in items if not i["partial"]]
        for item in items:
            if item["partial"]:
                osutil.print_safe("  %s  unfinished (left by an interrupted run; the next run removes it)"
                                  % item["name"])
                continue
            line = "  %s  %-6s" % (item["name"], item["format"])
            if item["status"] is not None:
                line += "  %s, %s (%d copied, %d linked), %s" % (
                    item["status"], _plural(item["files"] or 0, "file"), item["copied"] or 0,
                    item["linked"] or 0, human_bytes(item["bytes"] or 0))
                if item["seconds"] is not None:
                    line += ", %.1f s" % item["seconds"]
            else:
                line += "  (no record in the history)"
            osutil.print_safe(line)
        osutil.print_safe("  %s" % _plural(len(complete), "snapshot"))
    return errors.EXIT_OK


def _task_and_rel(config, args_tasks, path):
    full = os.path.abspath(path) if os.path.isabs(path) else None
    if args_tasks:
        task = select_tasks(config, args_tasks)[0]
    elif full is not None:
        task = catalog.task_for_path(config.tasks, full)
    else:
        task = select_tasks(config, ())[0]
    return task, catalog.rel_in_src(task, path)


def print_versions(config, path, names):
    task, rel = _task_and_rel(config, names, path)
    found = catalog.versions(task, rel)
    if not found:
        osutil.print_safe("%s is in no snapshot of %s" % (os.path.join(task.src, rel), task.name))
        return errors.EXIT_FAILED
    osutil.print_safe("%s in %s: %s, newest first" % (os.path.join(task.src, rel), task.name,
                                                      _plural(len(found), "version")))
    for item in found:
        where = item["first"] if item["first"] == item["last"] else "%s .. %s" % (item["first"], item["last"])
        if item["kind"] == "file":
            osutil.print_safe("  %s, modified %s  in %s (%s)" % (
                human_bytes(item["size"]), _when(item["mtime_ns"]), where, _plural(item["snapshots"], "snapshot")))
        else:
            osutil.print_safe("  a %s  in %s (%s)" % ("folder" if item["kind"] == "dir" else "symbolic link",
                                                      where, _plural(item["snapshots"], "snapshot")))
    return errors.EXIT_OK


def split_task_and_paths(config, words):
    """--restore [TASK] [PATH ...]: the first word is the task when it names
    one, else every word is a path."""
    if words:
        folded = {t.name.casefold() for t in config.tasks}
        if words[0].casefold() in folded:
            return words[:1], words[1:]
    return [], list(words)


def run_restore(config, names, spec, paths, target, overwrite, keep_existing, dry_run, stop_event, progress):
    """--restore: returns the exit code."""
    task = select_tasks(config, names[:1])[0] if names else None
    if task is None:
        if paths and os.path.isabs(paths[0]):
            task = catalog.task_for_path(config.tasks, paths[0])
        else:
            task = select_tasks(config, ())[0]
    if not target:
        raise UsageError("--restore needs --to DIR: the folder to restore into (a new or empty one, or the "
                         "original with --overwrite)")
    wanted = [catalog.rel_in_src(task, p) for p in paths]
    name = catalog.choose_snapshot(task, spec)
    lock = task_lock(config, task.name)
    if not lock.acquire(timeout=0):
        osutil.print_safe("%s: a backup of this task is running: restore when it has finished" % task.name)
        return errors.EXIT_ALREADY_RUNNING
    try:
        result = restore.restore(task, name, os.path.abspath(target), wanted, overwrite, keep_existing, dry_run,
                                 stop_event, progress, clock=time.time)
    finally:
        lock.release()
    if progress is not None:
        progress.clear()
    if dry_run:
        for action, what in result.actions:
            osutil.print_safe("  would %s %s" % (action, what))
    osutil.print_safe("%s: %s %s (%s) from %s into %s%s%s%s" % (
        task.name, "would restore" if dry_run else "restored", _plural(result.files, "file"),
        human_bytes(result.bytes), name, target,
        "; %d replaced, %d kept aside as *.before-restore-*" % (result.replaced, result.kept_aside)
        if result.replaced else "",
        "; %d already equal" % result.unchanged if result.unchanged else "",
        "; %d not restored (see the log)" % result.error_count if result.error_count else ""))
    for line in result.errors:
        osutil.print_safe("  " + line)
    return errors.EXIT_PARTIAL if result.error_count else errors.EXIT_OK


class RestoreProgress(object):
    """Adapts cli.ProgressLine to a restore's counters."""

    def __init__(self, line):
        self.line = line

    def __call__(self, restorer, rel):
        self.line(_Counts(restorer), rel)

    def clear(self):
        self.line.clear()


class _Counts(object):
    def __init__(self, restorer):
        self.files, self.copied, self.linked = restorer.files, restorer.files, 0
        self.bytes = self.bytes_copied = restorer.bytes


def interactive(config, stop_event, ask=input, out=osutil.print_safe, open_folder=None):
    """The guided restore: a short dialogue in plain words. Every question
    has a default (Enter); Ctrl+C at any point changes nothing."""
    if not osutil.stdin_is_terminal():
        raise UsageError("--interactive needs a terminal (double-click restore.bat); in a script, use "
                         "--restore with --to")
    try:
        return _dialogue(config, stop_event, ask, out, open_folder)
    except (KeyboardInterrupt, EOFError):
        out("\nstopped: nothing was changed")
        return errors.EXIT_INTERRUPTED


def _choose(ask, out, prompt, options, default=0):
    for i, text in enumerate(options, 1):
        out("  %d. %s" % (i, text))
    while True:
        answer = ask("%s [%d]: " % (prompt, default + 1)).strip()
        if not answer:
            return default
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return int(answer) - 1
        out("  type a number from 1 to %d, or press Enter for %d" % (len(options), default + 1))


def _from_the_remote(task, ask, out):
    """For a task with ``offsite``: restore from the remote? The default is
    the backup drive, or the remote when the drive holds no snapshot."""
    has_local = bool(snapshots.list_snapshots(task.dest))
    out("\nFrom where?")
    options = ["the backup drive (%s)" % task.dest, "the offsite copy (%s)" % offsite_cli.shown_remote(task)]
    return _choose(ask, out, "From", options, 0 if has_local else 1) == 1


def _dialogue(config, stop_event, ask, out, open_folder):
    out("Restore files from a backup. Press Enter to take the answer in [brackets]; Ctrl+C stops.")
    tasks = list(config.tasks)
    task = tasks[0]
    if len(tasks) > 1:
        out("\nWhich backup?")
        task = tasks[_choose(ask, out, "Backup", ["%s  (%s)" % (t.name, t.src) for t in tasks])]
    remote = task.offsite is not None and _from_the_remote(task, ask, out)
    if remote:
        names = list(reversed(offsite_cli.remote_snapshots(config, task)))
        labels = [n.replace("_", " ", 1) for n in names[:20]]
    else:
        items = [i for i in catalog.snapshot_list(task, History.for_config(config).runs()) if not i["partial"]]
        names = [i["name"] for i in reversed(items)]
        labels = ["%s  %s" % (i["name"].replace("_", " ", 1), i["status"] or "") for i in reversed(items[-20:])]
    if not names:
        out("%s has no snapshot yet in %s" % (task.name, "the offsite copy" if remote else task.dest))
        return errors.EXIT_FAILED
    out("\nWhich snapshot? (newest first)")
    snapshot = names[_choose(ask, out, "Snapshot", labels)]
    out("\nWhat to restore? Press Enter for everything, or type or paste a file or folder path")
    out("(inside %s)." % task.src)
    path = ask("Path [everything]: ").strip().strip('"')
    wanted = []
    if path:
        rel = catalog.rel_in_src(task, path)
        wanted = [rel]
        found = catalog.versions(task, rel)
        if found and found[0]["kind"] == "file":
            out("  %s in %s" % (_plural(len(found), "version"), task.name))
    stamp = local_datetime(time.time(), LOCAL).strftime("%Y-%m-%d_%H-%M-%S")
    default_to = os.path.join(os.path.dirname(os.path.normpath(task.src)), "Restored %s" % stamp)
    out("\nWhere to? Press Enter for a new folder:")
    target = ask("Folder [%s]: " % default_to).strip().strip('"') or default_to
    out("\nThis will restore %s from %s into %s." % (wanted[0] if wanted else "everything", snapshot, target))
    if ask("Go ahead? [Y/n]: ").strip().lower() in ("n", "no"):
        out("nothing was changed")
        return errors.EXIT_OK
    paths = [os.path.join(task.src, w) for w in wanted]
    if remote:
        code = offsite_cli.restore(config, [task.name], snapshot, paths, target, False, True, stop_event)
    else:
        code = run_restore(config, [task.name], snapshot, paths, target, False, True, False, stop_event, None)
    out("\nYour files are in %s" % target)
    if open_folder is not None:
        open_folder(target)
    return code
