"""What backup_now.py prints for --snapshots, --versions and --restore, and
the guided restore (--interactive, what restore.bat runs)."""

import os
import sys
import time

from ..snapshots import catalog
from . import cli, _guided as guided
from .. import console, errors
from ..restore import report, restorer as restore
from ..fs import osutil
from ..errors import BackupError, UsageError
from ..history import History
from ..console import human_bytes, plural as _plural
from ..runs.locks import task_lock
from ..clock import LOCAL, local_datetime
from ..schedule.status import runs_now


def _when(ns):
    return local_datetime(ns / 1e9, LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def print_snapshots(config, tasks, as_json):
    runs = runs_now(config)  # a run whose process is gone is not "writing"
    listing = [item for task in tasks for item in catalog.snapshot_list(task, runs)]
    if as_json:
        cli.print_json({"snapshots": listing})
        return errors.EXIT_OK
    for task in tasks:
        items = [i for i in listing if i["task"] == task.name]
        console.print_safe("%s (%s):" % (task.name, task.dest))
        complete = [i for i in items if not i["partial"]]
        for item in items:
            if item["state"] == "writing":
                console.print_safe("  %s  being written by run %s (running now)" % (item["name"], item["run_id"]))
                continue
            if item["state"] == "unfinished":
                console.print_safe("  %s  unfinished (left by an interrupted run; the next run removes it)"
                                   % item["name"])
                continue
            line = "  %s  %-6s" % (item["name"], item["format"])
            if item["status"] is not None:
                line += "  %s, %s (%s), %s" % (
                    item["status"], _plural(item["files"] or 0, "file"),
                    console.how_made(item["copied"], item["linked"], item.get("moved"), item.get("symlinks")),
                    human_bytes(item["bytes"] or 0))
                if item["seconds"] is not None:
                    line += ", %.1f s" % item["seconds"]
            else:
                line += "  (no record in the history)"
            if item["state"] == "incomplete":
                line += "; incomplete: lacks %s the run could not read" % (
                    "what" if item["lacks"] is None else _plural(item["lacks"], "path"))
            console.print_safe(line)
        console.print_safe("  %s" % _plural(len(complete), "snapshot"))
    return errors.EXIT_OK


def _task_and_rel(config, args_tasks, path):
    task = catalog.task_meant(config, args_tasks, [path])
    return task, catalog.rel_in_src(task, path)


def print_versions(config, path, names):
    if not path.strip():
        raise UsageError("versions needs a path: a file or folder of the source, such as "
                         "backup_now.py versions Documents/cv.docx")
    task, rel = _task_and_rel(config, names, path)
    found = catalog.versions(task, rel)
    if not found:
        close = catalog.closest_in_newest(task, rel) if rel else []
        console.print_safe("%s is in no snapshot of %s%s" % (
            console.printable(os.path.join(task.src, rel)), task.name,
            " (did you mean %s?)" % " or ".join(console.printable(c) for c in close) if close else ""))
        return errors.EXIT_FAILED
    console.print_safe("%s in %s: %s, newest first" % (os.path.join(task.src, rel), task.name,
                                                       _plural(len(found), "version")))
    for item in found:
        where = item["first"] if item["first"] == item["last"] else "%s .. %s" % (item["first"], item["last"])
        if item["kind"] == "file":
            console.print_safe("  %s, modified %s  in %s (%s)" % (
                human_bytes(item["size"]), _when(item["mtime_ns"]), where, _plural(item["snapshots"], "snapshot")))
        else:
            console.print_safe("  a %s  in %s (%s)" % ("folder" if item["kind"] == "dir" else "symbolic link",
                                                       where, _plural(item["snapshots"], "snapshot")))
    return errors.EXIT_OK


def versions_words(config, words):
    """versions PATH [TASK], or TASK PATH as restore takes them: (path, [task
    name]). The words are taken as TASK PATH when the first names a task
    and the second does not."""
    folded = {t.name.casefold() for t in config.tasks}
    if len(words) == 2 and words[0].casefold() in folded and words[1].casefold() not in folded:
        return words[1], words[:1]
    return words[0], list(words[1:])


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
    task = catalog.task_meant(config, names, paths)
    if not target:
        raise UsageError("restore needs --to DIR: the folder to restore into (a new or empty one, or the "
                         "original with --overwrite), such as backup_now.py restore --to %s"
                         % osutil.example_path("D:/Restored", "~/Restored"))
    wanted = [catalog.rel_in_src(task, p) for p in paths]
    try:
        name = catalog.choose_snapshot(task, spec)
    except BackupError as exc:
        former = catalog.former_dest(History.for_config(config).runs(), task)
        if former is None:
            raise
        raise BackupError("%s Its snapshots from before \"dest\" changed are in %s: set \"dest\" back to "
                          "restore from them" % (exc, former))
    lock = task_lock(config, task.name)
    if not lock.acquire(timeout=0):
        console.print_safe("%s: a backup of this task is running: restore when it has finished" % task.name)
        return errors.EXIT_ALREADY_RUNNING
    try:
        # The target as typed: restore resolves its links before it normalises ("lk/.." is not ".").
        result = restore.restore(task, name, target, wanted, overwrite, keep_existing, dry_run,
                                 stop_event, progress, clock=time.time)
    except restore.NotInSnapshot as exc:
        if names or not paths or os.path.isabs(paths[0]) or os.sep in paths[0] or "/" in paths[0]:
            raise
        raise UsageError("%s, and no task is named \"%s\" either (tasks: %s)" % (
            exc, console.printable(paths[0]), ", ".join('"%s"' % t.name for t in config.tasks)))
    finally:
        lock.release()
    if progress is not None:
        progress.clear()
    for line in report.summary_lines(task.name, result, name, dry_run):
        console.print_safe(line)
    return errors.EXIT_PARTIAL if result.error_count else errors.EXIT_OK


def restore_words(counts, elapsed, rel):
    """A restore's live line: files and bytes restored, the rate, the time
    and the folder it is in."""
    rate = " at %s/s" % human_bytes(counts.bytes / elapsed) if elapsed >= 1 else ""  # (none yet in its first second)
    return "restoring: %s (%s)%s, %d:%02d  in %s" % (
        _plural(counts.files, "file"), human_bytes(counts.bytes), rate,
        elapsed // 60, elapsed % 60, console.printable(os.path.dirname(rel) or "the top folder"))


class RestoreProgress(object):
    """Adapts console.ProgressLine to a restore's counters."""

    def __init__(self, line):
        self.line = line
        line.words = restore_words
        self._started = False

    def __call__(self, restorer, rel):
        if not self._started:  # its time counts from the restore's first file, not from the line's making
            self._started = True  # (the guided restore makes it before its questions)
            self.line.started = self.line.clock()
        self.line(_Counts(restorer), rel)

    def clear(self):
        self.line.clear()


class _Counts(object):
    def __init__(self, restorer):
        self.files, self.copied, self.linked = restorer.files, restorer.files, 0
        self.bytes = self.bytes_copied = restorer.bytes


def interactive(config, stop_event, install_stop=None, ask=input, out=console.print_safe, open_folder=None):
    """The guided restore (_guided.py); needs a person at a terminal. Its
    progress is a live line on the terminal it talks on."""
    if not console.stdin_is_terminal():
        raise UsageError("--interactive needs a terminal (double-click restore.bat); in a script, use "
                         "backup_now.py restore ... --to DIR")
    progress = None
    if sys.stdout is not None and sys.stdout.isatty():
        progress = RestoreProgress(console.ProgressLine(sys.stdout))
    return guided.Dialogue(config, stop_event, ask, out, install_stop, open_folder, progress=progress).run()
