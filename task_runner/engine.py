"""The copy engine: build one snapshot of a task's ``src`` inside its ``dest``.

A snapshot is built as ``dest/YYYY-MM-DD_HH-MM-SS.partial/`` (or
``.zip.partial``) and renamed only when complete, so a name without
``.partial`` is always a whole backup. The walk streams (one open directory
listing per level, never a list of every file), never follows symbolic
links or junctions, and keeps contents, modification times and permission
bits. With ``incremental`` a file whose size, modification time and mode
match the newest complete snapshot is hard-linked to it instead of copied
(like ``rsync --link-dest``); a new file is always written fresh, so an
older snapshot never changes.

Errors come in two kinds:
* per file (unreadable, vanished, locked, a name the destination cannot
  hold): the file is skipped and named in ``errors``; the run goes on;
* whole run (source missing or empty, destination missing, read-only or
  full): BackupError; the ``.partial`` is removed, earlier snapshots are
  untouched.
"""

import collections
import errno
import logging
import os
import re
import stat
import sys
import time
import zipfile

from . import osutil
from .errors import BackupError, Interrupted
from .excludes import Matcher
from .schedule import LOCAL, local_datetime

logger = logging.getLogger(__name__)

SNAPSHOT_RE = re.compile(r"^(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)(?:_(\d+))?(\.zip)?$")
PARTIAL = ".partial"
CHUNK = 1024 * 1024
SENDFILE_CHUNK = 8 * CHUNK
MAX_LISTED = 20
# A file another program has locked (Windows sharing violation) is tried
# this many more times, this many seconds apart, before it is skipped.
LOCKED_RETRIES = 2
LOCKED_DELAY = 1.0
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_NOINHERIT = getattr(os, "O_NOINHERIT", 0) | getattr(os, "O_CLOEXEC", 0)

EngineResult = collections.namedtuple(
    "EngineResult", "snapshot files bytes copied linked bytes_copied errors error_count warnings dry_run")


class Ops(object):
    """Every file operation the engine performs on the disk, in one place:
    tests subclass it to inject faults (disk full, a vanished file, a
    refused link) without patching anything else."""

    open_read = staticmethod(osutil.open_for_backup)

    def open_write(self, path):
        # O_EXCL: a new file, never an existing one written in place.
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY | _NOINHERIT, 0o666)

    read = staticmethod(os.read)
    write = staticmethod(os.write)
    close = staticmethod(os.close)
    # Linux copies in the kernel; elsewhere (Windows, macOS) read/write.
    sendfile = staticmethod(os.sendfile) if sys.platform.startswith("linux") else None
    link = staticmethod(os.link)
    mkdir = staticmethod(os.mkdir)
    symlink = staticmethod(os.symlink)
    sleep = staticmethod(time.sleep)


OPS = Ops()


def snapshot_name(started, zone=LOCAL):
    return local_datetime(started, zone).strftime("%Y-%m-%d_%H-%M-%S")


def snapshot_sort_key(name):
    """Chronological order of snapshot names (``_10`` after ``_9``)."""
    m = SNAPSHOT_RE.match(name)
    return (m.group(1), int(m.group(2) or 1)) if m else ("", 0)


def list_snapshots(dest):
    """Complete snapshots in ``dest`` (folders and .zip files whose names
    match the pattern), oldest first. Never a ``.partial``."""
    try:
        names = os.listdir(dest)
    except OSError:
        return []
    found = []
    for name in names:
        m = SNAPSHOT_RE.match(name)
        if not m:
            continue
        path = os.path.join(dest, name)
        if (os.path.isfile(path) if m.group(3) else os.path.isdir(path)) and not os.path.islink(path):
            found.append(name)
    return sorted(found, key=snapshot_sort_key)


def newest_folder_snapshot(dest):
    for name in reversed(list_snapshots(dest)):
        if not name.endswith(".zip"):
            return os.path.join(dest, name)
    return None


def unchanged(old_st, st):
    """True when the old snapshot's file can stand for the source file:
    a regular file of the same size, time to the nanosecond and permissions.
    When in doubt, copy."""
    return (stat.S_ISREG(old_st.st_mode) and old_st.st_size == st.st_size
            and old_st.st_mtime_ns == st.st_mtime_ns
            and stat.S_IMODE(old_st.st_mode) == stat.S_IMODE(st.st_mode))


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


def _dest_hint(exc):
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "disk full"
    if code == errno.EROFS:
        return "read-only"
    return "drive unplugged or not writable"


class Stats(object):
    """What a run did and what it skipped, shared by the walk and writers."""

    def __init__(self, log):
        self.log = log
        self.files = self.copied = self.linked = 0
        self.bytes = self.bytes_copied = 0
        self.errors, self.warnings = [], []
        self.error_count = 0

    def skip(self, rel, reason):
        self.error_count += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append("%s: %s" % (rel, reason))
        self.log.warning("skipped %s: %s", rel, reason)

    def warn(self, text):
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(text)
        self.log.warning("%s", text)


class _Walk(object):
    """Streams the source tree as events for a writer, in an order that lets
    a folder's times be set after its contents: ("dir", ...), then its
    entries, then ("end", ...)."""

    def __init__(self, root, matcher, stats, check_stop):
        self.root = root
        self.matcher = matcher
        self.stats = stats
        self.check_stop = check_stop
        self._refused = False

    def refuse(self):
        """Do not descend into the folder just yielded (it could not be made)."""
        self._refused = True

    def _listing(self, path, rel):
        try:
            return os.scandir(path)
        except OSError as exc:
            self.stats.skip(rel or ".", "folder cannot be read: %s" % _reason(exc))
            return None

    def events(self):
        sep = os.sep
        matcher = self.matcher if self.matcher else None
        reparse_points = osutil.WINDOWS  # junctions exist only there
        check_stop = self.check_stop
        stack = [("", self._listing(self.root, ""), None)]
        try:
            while stack:
                rel_dir, listing, dir_st = stack[-1]
                try:
                    entry = next(listing, None) if listing is not None else None
                except OSError as exc:
                    self.stats.skip(rel_dir or ".", "folder listing failed part-way: %s" % _reason(exc))
                    entry = None
                if entry is None:
                    stack.pop()
                    if listing is not None:
                        listing.close()
                    if rel_dir:
                        yield "end", rel_dir, None, dir_st
                    continue
                check_stop()
                rel = rel_dir + sep + entry.name if rel_dir else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self.stats.skip(rel, _reason(exc))
                    continue
                mode = st.st_mode
                is_dir = stat.S_ISDIR(mode)
                if matcher is not None and matcher.excluded(rel.replace(sep, "/"), entry.name, is_dir):
                    continue
                if stat.S_ISLNK(mode):
                    yield "link", rel, entry, st
                elif reparse_points and osutil.is_reparse_point(entry):
                    self.stats.warn("%s: junction or other reparse point, not followed" % rel)
                elif is_dir:
                    yield "dir", rel, entry, st
                    if self._refused:
                        self._refused = False
                    else:
                        stack.append((rel, self._listing(entry.path, rel), st))
                elif stat.S_ISREG(mode):
                    yield "file", rel, entry, st
                else:
                    self.stats.warn("%s: special file (FIFO, socket or device), not copied" % rel)
        finally:
            for _, listing, _ in stack:
                if listing is not None:
                    listing.close()


class _Writer(object):
    """Common behaviour of the writers: stop checks, dest errors, reading
    a source file with retries."""

    def __init__(self, root, stats, ops, stop_event):
        self.root = root
        self.stats = stats
        self.ops = ops
        self.stop_event = stop_event

    def check_stop(self):
        if self.stop_event is not None and self.stop_event.is_set():
            raise Interrupted("stopped on request before the backup was complete")

    def dest_error(self, exc, rel):
        """A write to the destination failed: fatal when no later write can
        succeed (disk full, device gone), else the one entry is skipped."""
        if osutil.disk_error_is_fatal(exc) or not os.path.lexists(self.root):
            raise BackupError("cannot write to the destination (%s) while copying %s: %s"
                              % (_dest_hint(exc), rel, exc.strerror or exc))
        self.stats.skip(rel, "cannot be written to the destination: %s" % (exc.strerror or exc))

    def open_source(self, path, rel):
        """An fd for reading ``path``, or None (skipped) when it cannot be opened."""
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                return self.ops.open_read(path)
            except OSError as exc:
                if osutil.is_sharing_violation(exc) and attempt < LOCKED_RETRIES:
                    self.ops.sleep(LOCKED_DELAY)
                    continue
                self.stats.skip(rel, _reason(exc))
                return None

    def read_link(self, entry, rel):
        """The target of symbolic link ``entry``, or None (skipped)."""
        try:
            return os.readlink(entry.path)
        except OSError as exc:
            self.stats.skip(rel, _reason(exc))
            return None

    def counted(self, rel, st, copied):
        if copied != st.st_size:
            self.stats.warn("%s: size changed while it was copied (%d -> %d bytes)"
                            % (rel, st.st_size, copied))
        self.stats.files += 1
        self.stats.copied += 1
        self.stats.bytes += copied
        self.stats.bytes_copied += copied


class FolderWriter(_Writer):
    """Writes a snapshot folder; links unchanged files to ``previous``."""

    def __init__(self, root, stats, ops, stop_event, previous, log):
        super(FolderWriter, self).__init__(root, stats, ops, stop_event)
        self.previous = previous  # the newest complete snapshot folder, or None
        self.log = log
        self._metadata_warned = False

    def copy_metadata(self, path, st, follow=True):
        try:
            if follow or os.utime in os.supports_follow_symlinks:
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=follow)
            if follow:
                os.chmod(path, stat.S_IMODE(st.st_mode))
        except OSError as exc:
            # FAT32/exFAT and some network shares refuse chmod: keep the
            # data, say once that times or permissions could not be kept.
            if not self._metadata_warned:
                self._metadata_warned = True
                self.stats.warn("this destination does not keep times or permissions (%s); "
                                "file contents are copied anyway" % (exc.strerror or exc))

    def dir(self, rel, entry, st):
        try:
            self.ops.mkdir(self.root + os.sep + rel)
        except OSError as exc:
            self.dest_error(exc, rel)
            return False
        return True

    def end(self, rel, st):
        self.copy_metadata(self.root + os.sep + rel, st)

    def link_or_copy(self, rel, entry, st):
        dst = self.root + os.sep + rel  # rel is relative: a plain join is enough
        if self.previous is not None and self._try_link(rel, st, dst):
            return
        self.copy(rel, entry.path, st, dst)

    def _try_link(self, rel, st, dst):
        old = self.previous + os.sep + rel
        try:
            old_st = os.lstat(old)
        except OSError:
            return False
        if not unchanged(old_st, st):
            return False
        try:
            self.ops.link(old, dst)
        except OSError as exc:
            code = getattr(exc, "errno", None)
            if code == errno.EMLINK or getattr(exc, "winerror", None) == 1142:
                return False  # that file is at its link limit: copy it
            if code == errno.ENOENT and os.path.lexists(self.root):
                return False  # the old snapshot lost that file meanwhile
            if osutil.disk_error_is_fatal(exc):
                self.dest_error(exc, rel)
            self.previous = None  # no links on this destination: stop trying
            self.log.warning("hard links are not supported on this destination (%s); copying "
                             "every file for the rest of this run", exc.strerror or exc)
            return False
        self.stats.files += 1
        self.stats.linked += 1
        self.stats.bytes += st.st_size
        return True

    def copy(self, rel, src, st, dst):
        fd_in = self.open_source(src, rel)
        if fd_in is None:
            return
        try:
            try:
                fd_out = self.ops.open_write(dst)
            except OSError as exc:
                self.dest_error(exc, rel)
                return
            try:
                copied, error, side = self._copy_data(fd_in, fd_out, st.st_size)
            finally:
                self.ops.close(fd_out)
        finally:
            self.ops.close(fd_in)
        if error is not None:
            try:
                os.remove(dst)  # never leave a truncated copy behind
            except OSError:
                pass
            if side == "write":
                self.dest_error(error, rel)  # raises when no later write can succeed
            else:
                self.stats.skip(rel, "read error: %s" % _reason(error))
            return
        self.copy_metadata(dst, st)
        self.counted(rel, st, copied)

    def _copy_data(self, fd_in, fd_out, size):
        """Copy all of fd_in to fd_out. Returns (bytes copied, error or
        None, "read" or "write": which side failed)."""
        ops = self.ops
        copied = 0
        if ops.sendfile is not None and size > 0:
            try:
                while True:
                    self.check_stop()
                    sent = ops.sendfile(fd_out, fd_in, copied, SENDFILE_CHUNK)
                    if sent == 0:
                        return copied, None, None
                    copied += sent
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", -1)):
                    return copied, exc, "write"
                # Anything else (not supported here, a read error): the
                # read/write loop below tells read errors from write errors.
                os.lseek(fd_in, copied, os.SEEK_SET)
        while True:
            self.check_stop()
            try:
                buf = ops.read(fd_in, CHUNK)
            except OSError as exc:
                return copied, exc, "read"
            if not buf:
                return copied, None, None
            view = memoryview(buf)
            while view:
                try:
                    n = ops.write(fd_out, view)
                except OSError as exc:
                    return copied, exc, "write"
                view = view[n:]
            copied += len(buf)

    def file(self, rel, entry, st):
        self.link_or_copy(rel, entry, st)

    def link(self, rel, entry, st):
        target = self.read_link(entry, rel)
        if target is None:
            return
        dst = os.path.join(self.root, rel)
        try:
            self.ops.symlink(target, dst, target_is_directory=entry.is_dir())
        except OSError as exc:
            # Windows refuses symbolic links without Developer Mode or admin rights.
            self.stats.skip(rel, "symbolic link could not be recreated here: %s" % (exc.strerror or exc))
            return
        self.copy_metadata(dst, st, follow=False)
        self.stats.files += 1
        self.stats.copied += 1


class ZipWriter(_Writer):
    """Writes a ZIP archive (deflate, ZIP64 when needed, times kept)."""

    def __init__(self, root, stats, ops, stop_event):
        super(ZipWriter, self).__init__(root, stats, ops, stop_event)
        try:
            self.zip = zipfile.ZipFile(root, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        except OSError as exc:
            raise BackupError("cannot write to the destination %s: %s" % (root, exc.strerror or exc))

    def dest_error(self, exc, rel):
        # An archive is one stream: after a failed write nothing more can be
        # added to it safely, so any write error fails the run.
        raise BackupError("cannot write the archive (%s) while adding %s: %s"
                          % (_dest_hint(exc), rel, exc.strerror or exc))

    @staticmethod
    def _info(rel, st, is_dir=False):
        name = rel.replace(os.sep, "/") + ("/" if is_dir else "")
        # ZIP stores local times from 1980 on: older files get 1980-01-01.
        when = max(time.localtime(max(st.st_mtime, 0))[:6], (1980, 1, 1, 0, 0, 0))
        info = zipfile.ZipInfo(name, when)
        info.external_attr = (st.st_mode & 0xFFFF) << 16
        if is_dir:
            info.external_attr |= 0x10  # MS-DOS directory flag
        info.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
        info.file_size = 0 if is_dir else st.st_size  # lets zipfile choose ZIP64 up front
        return info

    def dir(self, rel, entry, st):
        try:
            self.zip.writestr(self._info(rel, st, is_dir=True), b"")
        except OSError as exc:
            self.dest_error(exc, rel)
        return True

    def end(self, rel, st):
        pass

    def file(self, rel, entry, st):
        fd_in = self.open_source(entry.path, rel)
        if fd_in is None:
            return
        copied = 0
        read_error = None
        try:
            with self.zip.open(self._info(rel, st), "w") as out:
                while True:
                    self.check_stop()
                    try:
                        buf = self.ops.read(fd_in, CHUNK)
                    except OSError as exc:
                        read_error = exc
                        break
                    if not buf:
                        break
                    out.write(buf)
                    copied += len(buf)
        except OSError as exc:
            self.dest_error(exc, rel)
        finally:
            self.ops.close(fd_in)
        if read_error is not None:
            # An archive entry cannot be taken back: keep it, and say it is short.
            self.stats.skip(rel, "read error after %d bytes, the archive holds only those: %s"
                            % (copied, _reason(read_error)))
            return
        self.counted(rel, st, copied)

    def link(self, rel, entry, st):
        target = self.read_link(entry, rel)
        if target is None:
            return
        info = self._info(rel, st)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = (stat.S_IFLNK | 0o777) << 16  # Info-ZIP's symbolic link
        try:
            self.zip.writestr(info, target.encode("utf-8"))
        except OSError as exc:
            self.dest_error(exc, rel)
            return
        self.stats.files += 1
        self.stats.copied += 1

    def close(self):
        try:
            self.zip.close()
        except OSError as exc:
            self.dest_error(exc, "the archive's directory")

    def abandon(self):
        """Close the file without finishing the archive, so that it can be
        deleted (Windows) and zipfile does not try to finish it later."""
        fp, self.zip.fp = self.zip.fp, None
        if fp is not None:
            try:
                fp.close()
            except OSError:
                pass


class DryRunWriter(object):
    """Counts what a run would copy and link; writes nothing."""

    def __init__(self, stats, previous):
        self.stats = stats
        self.previous = previous

    def dir(self, rel, entry, st):
        return True

    def end(self, rel, st):
        pass

    def file(self, rel, entry, st):
        self.stats.files += 1
        self.stats.bytes += st.st_size
        old_st = None
        if self.previous is not None:
            try:
                old_st = os.lstat(os.path.join(self.previous, rel))
            except OSError:
                pass
        if old_st is not None and unchanged(old_st, st):
            self.stats.linked += 1
        else:
            self.stats.copied += 1
            self.stats.bytes_copied += st.st_size

    def link(self, rel, entry, st):
        self.stats.files += 1
        self.stats.copied += 1


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
                if os.path.isdir(path) and not os.path.islink(path):
                    osutil.remove_tree(path)
                else:
                    os.remove(path)
                log.info("removed unfinished snapshot %s left by an interrupted run", name)
            except OSError as exc:
                log.warning("could not remove unfinished snapshot %s: %s", path, exc)


def _check_source(src):
    if not os.path.isdir(src):
        if os.path.exists(src):
            raise BackupError("source %s is not a folder: set src to the folder to back up" % src)
        raise BackupError("source folder %s not found: is the drive connected? "
                          "Check src in config.json" % src)


def _is_empty(path):
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _snapshot_is_empty(path):
    if path.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                return not zf.namelist()
        except (OSError, zipfile.BadZipFile):
            return True
    return _is_empty(path)


def _check_not_empty(src, dest, allow_empty):
    """An empty source replacing a non-empty backup is an unmounted drive
    until the task says otherwise (allow_empty)."""
    if allow_empty or not _is_empty(src):
        return
    previous = list_snapshots(dest)
    if previous and not _snapshot_is_empty(os.path.join(dest, previous[-1])):
        raise BackupError("source %s is empty but the last backup (%s) was not: is the drive "
                          "mounted? Set \"allow_empty\": true if the folder really is empty now"
                          % (src, previous[-1]))


def _prepare_dest(dest):
    if os.path.isdir(dest):
        return
    if os.path.lexists(dest):
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


def _new_name(dest, started, zone, ext):
    base = snapshot_name(started, zone)
    name, n = base, 2
    while (os.path.lexists(os.path.join(dest, name + ext))
           or os.path.lexists(os.path.join(dest, name + ext + PARTIAL))):
        name = "%s_%d" % (base, n)
        n += 1
    return name + ext


def _run_walk(walk, writer, progress):
    for kind, rel, entry, st in walk.events():
        if kind == "file":
            writer.file(rel, entry, st)
            if progress is not None:
                progress(walk.stats, rel)
        elif kind == "dir":
            if not writer.dir(rel, entry, st):
                walk.refuse()
        elif kind == "end":
            writer.end(rel, st)
        else:
            writer.link(rel, entry, st)


def make_snapshot(task, started, zone=LOCAL, stop_event=None, log=logger, ops=OPS,
                  progress=None, dry_run=False):
    """Back up ``task.src`` into a new snapshot in ``task.dest``.

    ``task`` needs src, dest, incremental, exclude, format and allow_empty.
    ``progress(stats, rel)`` is called after each file. With ``dry_run``
    nothing is written: the result counts what would be copied and linked.
    Raises BackupError when the run as a whole fails and Interrupted when
    ``stop_event`` is set; in both cases the ``.partial`` is removed.
    """
    src, dest = task.src, task.dest
    _check_source(src)
    _check_not_empty(src, dest, task.allow_empty)
    stats = Stats(log)
    matcher = Matcher(task.exclude or ())
    as_zip = task.format == "zip"
    previous = newest_folder_snapshot(dest) if task.incremental and not as_zip else None

    def check_stop():
        if stop_event is not None and stop_event.is_set():
            raise Interrupted("stopped on request before the backup was complete")

    if dry_run:
        walk = _Walk(osutil.long_path(src), matcher, stats, check_stop)
        _run_walk(walk, DryRunWriter(stats, previous and osutil.long_path(previous)), progress)
        return _result(None, stats, True)

    _prepare_dest(dest)
    remove_partials(dest, log)
    final = os.path.join(dest, _new_name(dest, started, zone, ".zip" if as_zip else ""))
    partial = final + PARTIAL
    root = osutil.long_path(partial)
    writer = None
    if not as_zip:
        try:
            os.mkdir(root)
        except OSError as exc:
            raise BackupError("cannot write to the destination %s: %s" % (dest, exc.strerror or exc))
    try:
        try:
            if as_zip:
                writer = ZipWriter(root, stats, ops, stop_event)
            else:
                writer = FolderWriter(root, stats, ops, stop_event,
                                      previous and osutil.long_path(previous), log)
            walk = _Walk(osutil.long_path(src), matcher, stats, check_stop)
            _run_walk(walk, writer, progress)
            if as_zip:
                writer.close()
            else:
                writer.copy_metadata(root, os.stat(src))
            check_stop()  # a run stopped (or timed out) at the very end is not published
            osutil.flush_filesystems()
            os.rename(partial, final)
            osutil.fsync_dir(dest)
        except OSError as exc:  # the source or destination as a whole went away
            raise BackupError("the backup could not be completed: %s" % exc)
    except BaseException:
        if as_zip and writer is not None:
            writer.abandon()
        if os.path.lexists(partial):
            try:
                if os.path.isdir(partial):
                    osutil.remove_tree(partial)
                else:
                    os.remove(partial)
            except OSError as exc:
                log.warning("could not remove %s (the next run will): %s", partial, exc)
        raise
    if previous is not None and not stats.linked and stats.copied and not as_zip:
        log.debug("no file could be linked to %s", previous)
    return _result(final, stats, False)


def _result(snapshot, stats, dry_run):
    return EngineResult(snapshot, stats.files, stats.bytes, stats.copied, stats.linked,
                        stats.bytes_copied, stats.errors, stats.error_count, stats.warnings, dry_run)
