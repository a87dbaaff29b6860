"""The copy engine: build one snapshot of ``src`` inside ``dest``.

A snapshot is built in ``dest/YYYY-MM-DD_HH-MM-SS.partial/`` and renamed to
``dest/YYYY-MM-DD_HH-MM-SS/`` only when complete, so a folder without
``.partial`` is always a whole backup. The walk streams (one folder's
entries in memory at a time), never follows symbolic links or junctions,
and keeps contents, modification times and permission bits.

Errors are sorted into two kinds:
* per file (unreadable, vanished, locked, a name the destination cannot
  hold): the file is skipped, named in ``errors``, and the run goes on;
* whole run (source missing, destination missing, read-only or full): a
  BackupError, the ``.partial`` is removed and earlier snapshots are untouched.
"""

import collections
import errno
import logging
import os
import re
import stat
import time

from . import osutil
from .errors import BackupError, Interrupted
from .schedule import LOCAL, local_datetime

logger = logging.getLogger(__name__)

SNAPSHOT_RE = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(?:_\d+)?$")
PARTIAL = ".partial"
CHUNK = 1024 * 1024
MAX_ERRORS = 20
# A file another program has locked (Windows sharing violation) is tried
# this many more times, this many seconds apart, before it is skipped.
LOCKED_RETRIES = 2
LOCKED_DELAY = 1.0

EngineResult = collections.namedtuple(
    "EngineResult", "snapshot files bytes errors error_count warnings")

_Frame = collections.namedtuple("_Frame", "src dst rel entries st")


class Ops(object):
    """The engine's file operations, in one place: tests subclass this to
    inject faults (disk full, a file vanishing, a refused link) without
    patching anything else."""

    open_read = staticmethod(lambda path: open(path, "rb"))
    open_write = staticmethod(lambda path: open(path, "wb"))
    mkdir = staticmethod(os.mkdir)
    symlink = staticmethod(os.symlink)
    sleep = staticmethod(time.sleep)


OPS = Ops()


def snapshot_name(started, zone=LOCAL):
    return local_datetime(started, zone).strftime("%Y-%m-%d_%H-%M-%S")


def is_partial_name(name):
    return name.endswith(PARTIAL) and bool(SNAPSHOT_RE.match(name[:-len(PARTIAL)]))


def _reason(exc):
    if isinstance(exc, FileNotFoundError):
        return "vanished before it could be copied"
    if osutil.is_sharing_violation(exc):
        return "locked by another program"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


class _Copier(object):
    """Copies one tree; counts what it did and what it skipped."""

    def __init__(self, partial_root, stop_event, log, ops):
        self.partial_root = partial_root
        self.stop_event = stop_event
        self.log = log
        self.ops = ops
        self.files = 0
        self.bytes = 0
        self.errors = []
        self.error_count = 0
        self.warnings = []
        self._metadata_warned = False

    # -- bookkeeping ---------------------------------------------------
    def skip(self, rel, reason):
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append("%s: %s" % (rel, reason))
        self.log.warning("skipped %s: %s", rel, reason)

    def warn(self, text):
        if len(self.warnings) < MAX_ERRORS:
            self.warnings.append(text)
        self.log.warning("%s", text)

    def check_stop(self):
        if self.stop_event is not None and self.stop_event.is_set():
            raise Interrupted("stopped on request before the backup was complete")

    def dest_error(self, exc, rel):
        """A write to the destination failed: fatal when no later write can
        succeed (disk full, device gone), else the one file is skipped."""
        if osutil.disk_error_is_fatal(exc) or not os.path.isdir(self.partial_root):
            raise BackupError("cannot write to the destination (%s) while copying %s: %s"
                              % (_dest_hint(exc), rel, exc.strerror or exc))
        self.skip(rel, "cannot be written to the destination: %s" % (exc.strerror or exc))

    def copy_metadata(self, path, st, follow=True):
        try:
            if follow or os.utime in os.supports_follow_symlinks:
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=follow)
            if follow:
                os.chmod(path, stat.S_IMODE(st.st_mode))
        except OSError as exc:
            # FAT32/exFAT and some network shares refuse chmod: keep the data,
            # say once that permissions could not be kept.
            if not self._metadata_warned:
                self._metadata_warned = True
                self.warn("this destination does not keep times or permissions (%s); "
                          "file contents are copied anyway" % (exc.strerror or exc))

    # -- the walk --------------------------------------------------------
    def _open_dir(self, src, dst, rel, st):
        try:
            with os.scandir(src) as it:
                entries = list(it)
        except OSError as exc:
            self.skip(rel or ".", "folder cannot be read: %s" % _reason(exc))
            entries = []
        return _Frame(src, dst, rel, iter(entries), st)

    def copy_tree(self, src_root):
        root_st = os.stat(src_root)
        stack = [self._open_dir(src_root, self.partial_root, "", root_st)]
        while stack:
            frame = stack[-1]
            entry = next(frame.entries, None)
            if entry is None:
                stack.pop()
                if frame.rel:
                    self.copy_metadata(frame.dst, frame.st)
                continue
            self.check_stop()
            rel = os.path.join(frame.rel, entry.name) if frame.rel else entry.name
            dst = os.path.join(frame.dst, entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.skip(rel, _reason(exc))
                continue
            if stat.S_ISLNK(st.st_mode):
                self.copy_symlink(entry, dst, rel, st)
            elif osutil.is_reparse_point(entry):
                self.warn("%s: junction or other reparse point, not followed" % rel)
            elif stat.S_ISDIR(st.st_mode):
                try:
                    self.ops.mkdir(dst)
                except OSError as exc:
                    self.dest_error(exc, rel)
                    continue
                stack.append(self._open_dir(entry.path, dst, rel, st))
            elif stat.S_ISREG(st.st_mode):
                self.copy_file(entry.path, dst, rel, st)
            else:
                self.warn("%s: special file (FIFO, socket or device), not copied" % rel)

    def copy_symlink(self, entry, dst, rel, st):
        try:
            target = os.readlink(entry.path)
        except OSError as exc:
            self.skip(rel, _reason(exc))
            return
        try:
            self.ops.symlink(target, dst, target_is_directory=entry.is_dir())
        except OSError as exc:
            # Windows refuses symbolic links without Developer Mode or admin rights.
            self.skip(rel, "symbolic link could not be recreated here: %s" % (exc.strerror or exc))
            return
        self.copy_metadata(dst, st, follow=False)
        self.files += 1

    def _open_source(self, path):
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                return self.ops.open_read(path)
            except OSError as exc:
                if not osutil.is_sharing_violation(exc) or attempt == LOCKED_RETRIES:
                    raise
                self.ops.sleep(LOCKED_DELAY)

    def copy_file(self, src, dst, rel, st):
        try:
            fsrc = self._open_source(src)
        except OSError as exc:
            self.skip(rel, _reason(exc))
            return
        copied = 0
        with fsrc:
            try:
                fdst = self.ops.open_write(dst)
            except OSError as exc:
                self.dest_error(exc, rel)
                return
            with fdst:
                while True:
                    self.check_stop()
                    try:
                        buf = fsrc.read(CHUNK)
                    except OSError as exc:
                        read_error = exc
                        break
                    if not buf:
                        read_error = None
                        break
                    try:
                        fdst.write(buf)
                    except OSError as exc:
                        self.dest_error(exc, rel)
                        return
                    copied += len(buf)
        if read_error is not None:
            _remove_quietly(dst)  # never leave a truncated copy behind
            self.skip(rel, "read error: %s" % _reason(read_error))
            return
        if copied != st.st_size:
            self.warn("%s: size changed while it was copied (%d -> %d bytes)" % (rel, st.st_size, copied))
        self.copy_metadata(dst, st)
        self.files += 1
        self.bytes += copied


def _dest_hint(exc):
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC:
        return "disk full"
    if code == errno.EROFS:
        return "read-only"
    return "drive unplugged or not writable"


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def remove_partials(dest, log=logger):
    """Remove leftover ``*.partial`` snapshots in ``dest`` (from a crash).
    Only names of the snapshot pattern are touched. Call with the task lock
    held, so no other run is building one."""
    try:
        names = os.listdir(dest)
    except OSError:
        return
    for name in names:
        if is_partial_name(name):
            path = os.path.join(dest, name)
            try:
                osutil.remove_tree(path) if os.path.isdir(path) else os.remove(path)
                log.info("removed unfinished snapshot %s left by an interrupted run", name)
            except OSError as exc:
                log.warning("could not remove unfinished snapshot %s: %s", path, exc)


def _prepare_dest(src, dest):
    if not os.path.isdir(src):
        if os.path.exists(src):
            raise BackupError("source %s is not a folder: set src to the folder to back up" % src)
        raise BackupError("source folder %s not found: is the drive connected? "
                          "Check src in config.json" % src)
    if os.path.isdir(dest):
        return
    if os.path.exists(dest):
        raise BackupError("destination %s exists but is not a folder: set dest to a folder" % dest)
    parent = os.path.dirname(os.path.normpath(dest))
    if not os.path.isdir(parent):
        # An unplugged drive must fail the run, not fill the system disk.
        raise BackupError("destination %s cannot be created because %s does not exist: "
                          "is the backup drive plugged in?" % (dest, parent))
    try:
        os.mkdir(dest)
    except OSError as exc:
        raise BackupError("cannot create the destination folder %s: %s" % (dest, exc.strerror or exc))


def make_snapshot(src, dest, started, zone=LOCAL, stop_event=None, log=logger, ops=OPS):
    """Copy ``src`` into a new snapshot in ``dest``; returns EngineResult.

    Raises BackupError when the run as a whole fails and Interrupted when
    ``stop_event`` is set; in both cases the ``.partial`` folder is removed.
    """
    _prepare_dest(src, dest)
    remove_partials(dest, log)
    base = snapshot_name(started, zone)
    name, n = base, 2
    while os.path.lexists(os.path.join(dest, name)) or os.path.lexists(os.path.join(dest, name + PARTIAL)):
        name = "%s_%d" % (base, n)
        n += 1
    final = os.path.join(dest, name)
    partial = final + PARTIAL
    try:
        os.mkdir(partial)
    except OSError as exc:
        raise BackupError("cannot write to the destination %s: %s" % (dest, exc.strerror or exc))
    copier = _Copier(partial, stop_event, log, ops)
    try:
        try:
            copier.copy_tree(src)
            copier.copy_metadata(partial, os.stat(src))
            osutil.flush_filesystems()
            os.rename(partial, final)
            osutil.fsync_dir(dest)
        except OSError as exc:  # the source or destination as a whole went away
            raise BackupError("the backup could not be completed: %s" % exc)
    except BaseException:
        if os.path.isdir(partial):
            try:
                osutil.remove_tree(partial)
            except OSError as exc:
                log.warning("could not remove %s (the next run will): %s", partial, exc)
        raise
    return EngineResult(final, copier.files, copier.bytes, copier.errors, copier.error_count,
                        copier.warnings)
