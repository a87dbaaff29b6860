"""Finding what to get back: the snapshots of a task (with what the history
says of each), one chosen by name or date, the versions of one file, and the
task and relative path of a path the user names.

Read-only: nothing here writes. Restoring is restore.py's.
"""

import datetime
import difflib
import os
import re

from .. import console, snapshots
from . import reader as snapshot_reader
from ..fs import osutil
from ..config import select_tasks
from ..errors import EXIT_FAILED, BackupError, UsageError
from ..history.records import DONE, same_dest

def snapshot_list(task, runs):
    """Every snapshot of ``task`` oldest first, as dicts (README, "Getting
    files back"): name, path, format, status and counts of the run that made
    it when the history still has it; leftover ``.partial`` names last,
    with ``"partial": true``. ``state`` is what every view says of it:
    ``complete``, ``incomplete`` (a partial run's: ``lacks`` paths it could
    not read, None when its record does not say), ``writing`` (the
    ``.partial`` of a run that is running now) or ``unfinished`` (left by
    an interrupted run)."""
    by_name = {}
    running = None
    for run in runs:
        if run.get("task") == task.name and run.get("snapshot"):
            by_name[os.path.basename(run["snapshot"])] = run
        if run.get("task") == task.name and run.get("status") == "running":
            running = run
    out = []
    for name in snapshots.list_snapshots(task.dest):
        run = by_name.get(name)
        lacks = snapshots.read_incomplete(task.dest, name)
        item = {"task": task.name, "name": name, "path": os.path.join(task.dest, name),
                "format": "zip" if name.endswith(".zip") else "folder", "partial": False,
                "state": "complete" if lacks is False else "incomplete",
                "lacks": None if lacks is False or lacks is snapshots.EVERYTHING else len(lacks),
                "status": None, "files": None, "bytes": None, "copied": None, "linked": None, "moved": None,
                "symlinks": None, "seconds": None, "run_id": None}
        if run is not None:
            item.update(status=run.get("status"), files=run.get("files"), bytes=run.get("bytes"),
                        copied=run.get("copied"), linked=run.get("linked"), moved=run.get("moved"),
                        symlinks=run.get("symlinks"), seconds=run.get("seconds"),
                        run_id=run.get("id"))
        out.append(item)
    try:
        leftovers = sorted(n for n in os.listdir(task.dest) if snapshots.is_partial_name(n))
    except OSError:
        leftovers = []
    for name in leftovers:
        # The newest .partial is the running run's (its history record has no snapshot name yet).
        writing = running is not None and name == leftovers[-1]
        out.append({"task": task.name, "name": name, "path": os.path.join(task.dest, name),
                    "format": "zip" if ".zip" in name else "folder", "partial": True,
                    "state": "writing" if writing else "unfinished", "lacks": None, "status": None,
                    "files": None, "bytes": None, "copied": None, "linked": None, "moved": None, "symlinks": None,
                    "seconds": None, "run_id": running.get("id") if writing else None})
    return out


# A date, or a date and time as a snapshot is named or as the program shows one ("2026-12-06 19:36",
# "2026-03-29 01:30 (+00:00)": the offset status adds near a clock change; names are local times already).
_DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T_]+([0-9]{2})[:-]([0-9]{2})(?:[:-]([0-9]{2}))?"
                      r"(?: *\([+-][0-9]{2}:[0-9]{2}\))?)?$")


def choose_snapshot(task, spec="latest"):
    """The snapshot name ``spec`` means: a snapshot name, "latest", or a
    date or date and time (local): the newest snapshot at or before it.
    UsageError names the choices when there is none; BackupError when the
    backup folder is not there at all (its drive unplugged)."""
    check_dest(task)
    return choose_among(snapshots.list_snapshots(task.dest), spec, task.name, task.dest)


def former_dest(runs, task):
    """The folder the newest success of ``task`` among ``runs`` (the
    history's) went to, when that is not its ``dest`` now and is still
    there: where its snapshots from before ``dest`` changed are; else None."""
    for run in reversed(runs):
        if run.get("task") == task.name and run.get("status") in DONE and isinstance(run.get("dest"), str):
            if same_dest(run, task) or not os.path.isdir(run["dest"]):
                return None
            return run["dest"]
    return None


def check_dest(task):
    """BackupError when ``task.dest`` is not there: its drive is not plugged
    in (or the folder was moved), which is not the same as no backup yet."""
    if not os.path.isdir(task.dest):
        raise BackupError("the backup folder %s of %s was not found: is the backup drive plugged in?"
                          % (task.dest, task.name))


def choose_among(names, spec, task_name, where):
    """choose_snapshot among ``names`` (oldest first) of ``task_name`` in
    ``where`` (the local dest, or the remote)."""
    if not names:
        raise UsageError("%s has no snapshot yet in %s" % (task_name, where))
    if spec in (None, "", "latest"):
        return names[-1]
    if spec in names:
        return spec
    m = _DATE_RE.match(spec.strip())
    if not m:
        raise UsageError("--snapshot %s is not a snapshot name, \"latest\" or a date such as 2026-11-01 or "
                         "\"2026-11-01 12:00\"; snapshots: %s" % (spec, ", ".join(names[-5:])))
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    if m.group(4) is None:
        h, mi, s = 23, 59, 59  # a date alone: the end of that day
    elif m.group(6) is None:
        s = 59  # a time to the minute, as status shows it: the end of that minute
    try:
        limit = datetime.datetime(y, mo, d, h, mi, s)
    except ValueError as exc:
        raise UsageError("--snapshot %s: %s" % (spec, exc))
    chosen = None
    for name in names:
        if snapshots.name_time(name) <= limit:
            chosen = name
    if chosen is None:
        raise UsageError("%s has no snapshot at or before %s; the oldest is from %s (%s)" % (
            task_name, spec, snapshots.name_time(names[0]).strftime("%Y-%m-%d %H:%M:%S"), names[0]))
    return chosen


def rel_in_src(task, path):
    """``path`` (absolute, or relative to src) as a path relative to
    ``task.src``; UsageError when it lies outside src."""
    full = os.path.normpath(path if os.path.isabs(path) else os.path.join(task.src, path))
    if osutil.path_key(full) == osutil.path_key(task.src):
        return ""
    if not osutil.is_inside(osutil.path_key(full), osutil.path_key(task.src)):
        raise UsageError("%s is not inside the source folder %s of %s" % (path, task.src, task.name))
    return os.path.relpath(full, task.src)


def closest_in_newest(task, rel):
    """closest_names in the task's newest snapshot ([] when it has none or
    cannot be read)."""
    names = snapshots.list_snapshots(task.dest) if os.path.isdir(task.dest) else []
    if not names:
        return []
    try:
        with snapshot_reader.SnapshotReader(os.path.join(task.dest, names[-1])) as reader:
            return closest_names(reader, rel)
    except (OSError, snapshot_reader.BadZipFile):
        return []


def task_meant(config, names, paths):
    """The task a restore or versions means: the one ``names`` names first,
    else the one whose src holds the first of ``paths`` when it is absolute,
    else the default task (config.select_tasks)."""
    if names:
        return select_tasks(config, names[:1])[0]
    if paths and os.path.isabs(paths[0]):
        return task_for_path(config.tasks, os.path.abspath(paths[0]))
    return select_tasks(config, ())[0]


def task_for_path(tasks, path):
    """The one task whose src holds ``path`` (absolute); UsageError when none
    or several do."""
    key = osutil.path_key(path)
    found = [t for t in tasks if osutil.is_inside(key, osutil.path_key(t.src))]
    if len(found) != 1:
        raise UsageError("%s is in the source folder of %s: name the task" % (
            path, "no task" if not found else " and ".join('"%s"' % t.name for t in found)))
    return found[0]


def stored_rel(reader, rel, fold=None):
    """The path as the snapshot holds it of ``rel`` (os.sep-separated, "/"
    too on Windows), its names compared as ``fold`` says (osutil.name_fold;
    None: this system's rule), reached through folders only; "" for the
    top; None when the snapshot holds no such path, or two names that fold
    alike and neither is the one typed."""
    rel = rel.replace(os.altsep, os.sep) if os.altsep else rel
    parts = [p for p in rel.split(os.sep) if p]
    fold = fold or osutil.name_fold()
    if not parts:
        return ""
    if fold("Aa") == "Aa":  # exact names: the reader finds them as they are
        return rel if reader.entry(os.sep.join(parts)) is not None else None
    folder = ""
    for i, part in enumerate(parts):
        names = {os.path.basename(e.rel): e for e in reader.children(folder)}
        if part not in names:
            alike = [n for n in names if fold(n) == fold(part)]
            if len(alike) != 1:
                return None
            part = alike[0]
        entry = names[part]
        if i < len(parts) - 1 and entry.kind != "dir":
            return None
        folder = entry.rel
    return folder


def closest_names(reader, rel, fold=None):
    """Up to five names of the snapshot near ``rel``, as paths: in the deepest
    folder of ``rel`` that it holds, the names closest to the next part."""
    fold = fold or osutil.name_fold()
    parts = [p for p in (rel.replace(os.altsep, os.sep) if os.altsep else rel).split(os.sep) if p]
    folder = ""
    for part in parts[:-1]:
        inner = stored_rel(reader, os.path.join(folder, part) if folder else part, fold)
        if inner is None or reader.entry(inner).kind != "dir":
            break
        folder = inner
    depth = len(folder.split(os.sep)) if folder else 0
    if depth >= len(parts):
        return []
    names = {fold(os.path.basename(e.rel)): os.path.basename(e.rel) for e in reader.children(folder)}
    close = difflib.get_close_matches(fold(parts[depth]), list(names), n=5, cutoff=0.5)
    return [os.path.join(folder, names[c]) if folder else names[c] for c in close]


class NotInSnapshot(UsageError):
    """A path the user asked for is not in the snapshot: nothing would be
    restored, which is a failure (exit code 1), never "restored 0 files"."""

    exit_code = EXIT_FAILED


def resolve_wanted(reader, wanted, snapshot_name, fold=None):
    """``wanted`` as the snapshot holds them (catalog.stored_rel: names
    compared as this system does, or as ``fold`` says): (paths, renamed
    [(asked, stored)...] where they differ). NotInSnapshot, with the closest
    names, for a path the snapshot does not hold."""
    paths, renamed, missing = [], [], []
    for asked in wanted:
        stored = stored_rel(reader, asked, fold) if asked else asked
        if stored is None:
            missing.append(asked)
        elif stored != asked:
            renamed.append((asked, stored))
        paths.append(stored)
    if missing:
        close = closest_names(reader, missing[0], fold)
        raise NotInSnapshot("%s %s not in this copy (snapshot %s)%s" % (
            ", ".join(console.printable(m) for m in missing), "is" if len(missing) == 1 else "are", snapshot_name,
            "; the closest names there: %s" % ", ".join(console.printable(c) for c in close) if close else ""))
    return paths, renamed


def versions(task, rel, fold=None):
    """The distinct versions of ``rel`` (a file, or a folder) across the
    task's snapshots, newest first: dicts with the first and last snapshot
    it appears in, how many, its kind, size and modification time. In
    folder snapshots, hard-linked copies are one version (the same inode:
    no contents are read); otherwise the same size and time (and, in ZIPs,
    the same CRC) are. Names compare as ``fold`` says (stored_rel)."""
    found = []
    for name in snapshots.list_snapshots(task.dest):
        entry = _find_entry(os.path.join(task.dest, name), rel, fold)
        if entry is None:
            continue
        if found and _same_version(found[-1]["_entry"], entry):
            found[-1].update(last=name, snapshots=found[-1]["snapshots"] + 1)
            continue
        found.append({"_entry": entry, "first": name, "last": name, "kind": entry.kind, "size": entry.size,
                      "mtime_ns": entry.mtime_ns, "snapshots": 1})
    for item in found:
        item.pop("_entry")
    return list(reversed(found))


def _same_version(a, b):
    if a.kind != b.kind:
        return False
    if a.kind == "dir":
        return True
    if a.kind == "link":
        return a.target == b.target
    if a.identity == b.identity:
        return True  # one inode (folder), or the same CRC, size and time (ZIP)
    a_folder, b_folder = isinstance(a.source, str), isinstance(b.source, str)
    if not (a_folder or b_folder):
        return False  # two ZIP entries: CRC, size and time say it all
    if a_folder and b_folder:  # copied apart (a destination without hard links): the engine's test
        return a.size == b.size and a.mtime_ns == b.mtime_ns
    return a.size == b.size and a.mtime_ns // 10 ** 9 == b.mtime_ns // 10 ** 9  # a ZIP keeps seconds


def _find_entry(path, rel, fold=None):
    try:
        with snapshot_reader.SnapshotReader(path) as reader:
            found = stored_rel(reader, rel, fold)
            return None if found is None else reader.entry(found)
    except (OSError, snapshot_reader.BadZipFile):
        return None
