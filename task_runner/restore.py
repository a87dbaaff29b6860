"""Restoring a file, a folder or everything from a folder or ZIP snapshot.

A restore never deletes anything. Into a new or empty folder it writes the
snapshot's layout (relative to ``src``); with ``overwrite`` into a folder
that has files (the original ``src``), a file that differs is replaced, the
one there first kept beside it as ``NAME.before-restore-<time>`` (unless
``keep_existing`` is False), and a file that is equal (size and time) is
left alone. Each file is written under a temporary name and renamed when
complete, so an interrupted restore never leaves a half-written file under
its real name. It holds the task's lock, as a backup does.
"""

import collections
import errno
import logging
import os
import re
import stat

from . import osutil, snapshots
from .errors import BackupError, Interrupted, UsageError
from .runner import human_bytes
from .schedule import LOCAL, local_datetime
from .walk import MAX_LISTED

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
TEMP_SUFFIX = ".restore-partial"

RestoreResult = collections.namedtuple(
    "RestoreResult", "snapshot files bytes replaced kept_aside unchanged errors error_count dry_run actions")


# -- Restoring --------------------------------------------------------------------

def check_target(task, target, overwrite):
    """Refuse a target that a restore must not write into (UsageError)."""
    key = osutil.path_key(target)
    if osutil.is_inside(key, osutil.path_key(task.dest)):
        raise UsageError("--to %s is inside the backup folder %s: restore somewhere else" % (target, task.dest))
    if os.path.exists(target) and not os.path.isdir(target):
        raise UsageError("--to %s exists and is not a folder" % target)
    if not overwrite and os.path.isdir(target) and os.listdir(target):
        raise UsageError("--to %s is not empty: restore into a new or empty folder, or add --overwrite to "
                         "replace what differs (the files there are kept beside the restored ones)" % target)
    parent = os.path.dirname(os.path.normpath(os.path.abspath(target)))
    if not os.path.isdir(target) and not os.path.isdir(parent):
        raise UsageError("--to %s cannot be created because %s does not exist" % (target, parent))


def _selected(rel, wanted):
    if not wanted:
        return True
    for w in wanted:
        if not w or rel == w or rel.startswith(w + os.sep):
            return True
    return False


def _safe_rel(rel):
    """True for a path that stays inside the target: no "..", no drive, not absolute."""
    if not rel or os.path.isabs(rel) or rel.startswith(("/", "\\")):
        return False
    drive, _ = os.path.splitdrive(rel)
    parts = re.split(r"[\\/]", rel)
    return not drive and ".." not in parts and "" not in parts


class Restorer(object):
    """Writes the selected entries of one snapshot under ``target``."""

    def __init__(self, reader, target, wanted, overwrite, keep_existing, stamp, dry_run=False,
                 stop_event=None, progress=None, log=logger):
        self.reader, self.target, self.wanted = reader, target, wanted
        self.overwrite, self.keep_existing, self.stamp = overwrite, keep_existing, stamp
        self.dry_run, self.stop_event, self.progress, self.log = dry_run, stop_event, progress, log
        self.owners = osutil.can_keep_owner()
        self.files = self.bytes = self.replaced = self.kept_aside = self.unchanged = self.error_count = 0
        self.errors, self.actions = [], []
        self._links = {}  # identity -> restored path, for hard links (folder snapshots)
        self._dirs = []

    def run(self):
        root = osutil.long_path(self.target)
        if not self.dry_run and not os.path.isdir(root):
            os.mkdir(root)
        for entry in self.reader.entries():
            self._check_stop()
            if not _selected(entry.rel, self.wanted):
                if entry.kind == "dir" and any(w.startswith(entry.rel + os.sep) for w in self.wanted):
                    self._ensure_dir(entry.rel)
                continue
            if not _safe_rel(entry.rel):
                self._error(entry.rel, "a name that would land outside the target folder: not restored")
                continue
            try:
                self._one(entry, root)
            except OSError as exc:
                if osutil.disk_error_is_fatal(exc) or not os.path.isdir(root):
                    raise BackupError("cannot write to %s (%s): %s" % (self.target, _hint(exc),
                                                                     exc.strerror or exc))
                self._error(entry.rel, exc.strerror or str(exc))
        for path, entry in reversed(self._dirs):  # folders' times after their contents
            self._metadata(path, entry, follow=True)

    def _check_stop(self):
        if self.stop_event is not None and self.stop_event.is_set():
            raise Interrupted("stopped on request: %d file%s restored into %s before it stopped (each one "
                              "whole); nothing else was changed" % (self.files, "" if self.files == 1 else "s",
                                                                    self.target))

    def _error(self, rel, why):
        self.error_count += 1
        text = osutil.printable("%s: %s" % (rel, why))
        if len(self.errors) < MAX_LISTED:
            self.errors.append(text)
        self.log.warning("not restored: %s", text)

    def _ensure_dir(self, rel):
        path = os.path.join(osutil.long_path(self.target), rel)
        if not self.dry_run and not os.path.isdir(path):
            os.makedirs(path)

    def _one(self, entry, root):
        final = root + os.sep + entry.rel
        parent = os.path.dirname(final)
        if not self.dry_run and not os.path.isdir(parent):
            os.makedirs(parent)
        if entry.kind == "dir":
            if os.path.lexists(final) and not os.path.isdir(final):
                self._aside(entry.rel, final)
            if not self.dry_run:
                if not os.path.isdir(final):
                    os.mkdir(final)
                self._dirs.append((final, entry))
            return
        existed = os.path.lexists(final)
        if existed and self._equal(final, entry):
            self.unchanged += 1
            return
        if existed:
            self._aside(entry.rel, final)
        self.actions.append(("restore", entry.rel))
        if self.dry_run:
            self.files += 1
            self.bytes += entry.size
            return
        if entry.kind == "link":
            tmp = self._temp(final)
            os.symlink(entry.target, tmp, target_is_directory=False)
            self._metadata(tmp, entry, follow=False)
            os.replace(tmp, final)
        else:
            self._file(entry, final)
        self.files += 1
        self.bytes += entry.size
        if self.progress is not None:
            self.progress(self, entry.rel)

    def _equal(self, final, entry):
        try:
            st = os.lstat(final)
        except OSError:
            return False
        if entry.kind == "link":
            return stat.S_ISLNK(st.st_mode) and os.readlink(final) == entry.target
        return (stat.S_ISREG(st.st_mode) and st.st_size == entry.size
                and abs(st.st_mtime_ns - entry.mtime_ns) < 2 * 10 ** 9)

    def _aside(self, rel, final):
        """An existing entry that differs: kept beside as NAME.before-restore-<time>."""
        if not self.overwrite:
            raise UsageError("%s exists in the target: add --overwrite" % rel)
        if not self.keep_existing:
            self.replaced += 1
            self.actions.append(("replace", rel))
            if not self.dry_run and os.path.isdir(final) and not os.path.islink(final):
                raise OSError(errno.EISDIR, "a folder is in the way (not replaced with --no-keep-existing)")
            return
        aside = "%s.before-restore-%s" % (final, self.stamp)
        n = 2
        while os.path.lexists(aside):
            aside = "%s.before-restore-%s_%d" % (final, self.stamp, n)
            n += 1
        self.kept_aside += 1
        self.replaced += 1
        self.actions.append(("keep aside", rel + " -> " + os.path.basename(aside)))
        if not self.dry_run:
            os.rename(final, aside)

    @staticmethod
    def _temp(final):
        return os.path.join(os.path.dirname(final), "." + os.path.basename(final) + TEMP_SUFFIX)

    def _file(self, entry, final):
        folder_snapshot = isinstance(entry.source, str)
        if folder_snapshot and entry.identity is not None:
            first = self._links.get(entry.identity)
            if first is not None and os.path.exists(first):
                tmp = self._temp(final)
                os.link(first, tmp)
                os.replace(tmp, final)
                return
        tmp = self._temp(final)
        if os.path.lexists(tmp):
            os.remove(tmp)
        try:
            with self.reader.open(entry) as src:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
                try:
                    self._copy(src, fd, entry)
                finally:
                    os.close(fd)
        except BaseException:
            try:
                os.remove(tmp)  # never a half-written file left behind, under any name
            except OSError:
                pass
            raise
        self._metadata(tmp, entry, follow=True)
        if os.path.lexists(final) and not self.keep_existing and osutil.WINDOWS:
            os.chmod(final, stat.S_IWRITE | stat.S_IREAD)  # Windows cannot replace a read-only file
        os.replace(tmp, final)
        if folder_snapshot and entry.identity is not None:
            self._links[entry.identity] = final

    def _copy(self, src, fd, entry):
        """Copy the contents, keeping the holes of a sparse file (Linux)."""
        extents = [(0, entry.size)]
        folder = isinstance(entry.source, str)
        if folder:
            extents = osutil.data_extents(src.fileno(), entry.size)
        for start, length in extents:
            if folder:
                src.seek(start)  # data_extents moved the file's position (a ZIP entry: no seek on 3.6)
            os.lseek(fd, start, os.SEEK_SET)
            left = length
            while left > 0:
                self._check_stop()
                buf = src.read(min(CHUNK, left))
                if not buf:
                    break
                view = memoryview(buf)
                while view:
                    view = view[os.write(fd, view):]
                left -= len(buf)
        os.ftruncate(fd, entry.size)

    def _metadata(self, path, entry, follow):
        try:
            if self.owners and entry.uid is not None:
                os.chown(path, entry.uid, entry.gid, follow_symlinks=follow)
            if follow or os.utime in os.supports_follow_symlinks:
                os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=follow)
            if follow:
                os.chmod(path, entry.mode)  # last: a read-only file's times cannot be set after (Windows)
        except OSError as exc:
            self.log.debug("times or permissions of %s not kept: %s", path, exc)


def _hint(exc):
    if getattr(exc, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "disk full"
    return "drive unplugged or not writable"


def restore(task, snapshot_name, target, wanted=(), overwrite=False, keep_existing=True, dry_run=False,
            stop_event=None, progress=None, clock=None, zone=LOCAL, log=logger):
    """Restore ``wanted`` (paths relative to src; all when empty) from
    ``snapshot_name`` of ``task`` into ``target``. Returns a RestoreResult.
    UsageError for a target it must not write into; BackupError when the
    target as a whole fails (disk full, drive gone); Interrupted when
    ``stop_event`` is set."""
    check_target(task, target, overwrite)
    path = os.path.join(task.dest, snapshot_name)
    stamp = local_datetime(clock(), zone).strftime("%Y-%m-%d_%H-%M-%S")
    try:
        reader = snapshots.SnapshotReader(path)
    except (OSError, snapshots.zipfile.BadZipFile) as exc:
        raise BackupError("cannot read the snapshot %s: %s" % (path, exc))
    with reader:
        restorer = Restorer(reader, target, [w for w in wanted], overwrite, keep_existing, stamp, dry_run,
                            stop_event, progress, log)
        try:
            restorer.run()
        except (OSError, snapshots.zipfile.BadZipFile) as exc:
            raise BackupError("the restore could not be completed: %s" % exc)
    if wanted and not restorer.files and not restorer.unchanged and not restorer.error_count:
        raise UsageError("%s is not in snapshot %s" % (", ".join(wanted), snapshot_name))
    log.info("%s %d file%s (%s) from %s into %s%s", "would restore" if dry_run else "restored", restorer.files,
             "" if restorer.files == 1 else "s", human_bytes(restorer.bytes), snapshot_name, target,
             "; %d kept aside" % restorer.kept_aside if restorer.kept_aside else "")
    return RestoreResult(path, restorer.files, restorer.bytes, restorer.replaced, restorer.kept_aside,
                         restorer.unchanged, restorer.errors, restorer.error_count, dry_run, restorer.actions)
