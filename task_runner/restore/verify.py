"""Verify: compare the newest snapshot (folder or zip) with the source.

Cheap mode compares what is there, sizes and modification times (to within
2 seconds, the resolution of ZIP and FAT); ``deep`` also compares contents
by SHA-256, streamed. Excludes apply as in a backup.

Against a folder snapshot, each entry is compared by the pool's workers
(fs/pool.py), as many as a backup of the task would have (more than one where
the snapshot or the source is on a network file system): the walk stays
in one thread, and the report is the same whatever order they finish in
(counts, and the first differences by path). A ZIP is one stream: read in
one thread.
"""

import bisect
import collections
import functools
import logging
import os
import threading
import zipfile
import zlib

from .. import console, snapshots
from ..snapshots import reader as snapshot_reader, zipped as snapshot_zip
from ..fs import filesystems, osutil
from ..fs.fileio import same_mtime, stream_digest
from ..engine.walk import MAX_LISTED, Stats, Walk
from ..errors import BackupError
from ..config.excludes import Matcher
from ..fs.pool import Pool, workers_for

logger = logging.getLogger(__name__)

MTIME_SLACK = 2.0


class VerifyResult(collections.namedtuple("VerifyResult",
                                          "snapshot checked missing extra changed differences unchecked")):
    """``unchecked``: entries of the source that verify could not read and
    the snapshot holds (so they were not compared); an unreadable entry the
    snapshot lacks is ``missing``. ``ok``: no difference among what was
    compared; ``complete``: everything was compared."""

    @property
    def ok(self):
        return not (self.missing or self.extra or self.changed)

    @property
    def complete(self):
        return not self.unchecked


VerifyResult.__new__.__defaults__ = (0,)


def _digest_file(path):
    with open(path, "rb") as f:
        return _digest_stream(f)


def _digest_stream(stream):
    return stream_digest(stream, "sha256").digest()


class _Compare(object):
    def __init__(self):
        self.checked = self.missing = self.extra = self.changed = 0
        self.unchecked = 0  # files of the source that could not be read: not compared
        self.differences = []
        self._kept = []
        self._lock = threading.Lock()  # workers note at once

    def not_compared(self):
        with self._lock:
            self.unchecked += 1

    def note(self, kind, rel, detail=""):
        """Count a difference; keep the MAX_LISTED first by path (sorted),
        in bounded memory."""
        path = console.printable(rel.replace(os.sep, "/"))
        with self._lock:
            setattr(self, kind, getattr(self, kind) + 1)
            if len(self._kept) < MAX_LISTED or path < self._kept[-1][0]:
                bisect.insort(self._kept, (path, "%s: %s%s" % (kind, path, detail)))
                del self._kept[MAX_LISTED:]
            self.differences = [text for _, text in self._kept]


def verify_task(task, deep=False, snapshot=None, log=logger, workers=None):
    """Compare ``task.src`` with ``snapshot`` (default: the newest complete
    snapshot of ``task.dest``) with ``workers`` threads (None: as
    ``task.parallel`` says). BackupError when there is nothing to compare."""
    if snapshot is None:
        names = snapshots.list_snapshots(task.dest)
        if not names:
            raise BackupError("%s has no complete snapshot to verify" % task.dest)
        snapshot = os.path.join(task.dest, names[-1])
    if not os.path.isdir(task.src):
        raise BackupError("source folder %s not found: is the drive connected?" % task.src)
    cmp = _Compare()
    stats = Stats(log)
    walk = Walk(osutil.long_path(task.src), Matcher(task.exclude or ()), stats, lambda: None)
    if snapshot.endswith(".zip"):
        holds = _against_zip(walk, snapshot, deep, cmp)
    else:
        pool = Pool(workers or _workers(task, snapshot, log))
        with snapshot_reader.SnapshotReader(snapshot) as reader:
            try:
                _against_folder(walk, reader, osutil.long_path(task.src), deep, cmp, pool)
            except BaseException:
                pool.abort()
                raise
            unchecked = _unread(stats, lambda rel: reader.has(rel.replace("/", os.sep)), cmp) + cmp.unchecked
        return VerifyResult(snapshot, cmp.checked, cmp.missing, cmp.extra, cmp.changed, cmp.differences, unchecked)
    unchecked = _unread(stats, holds, cmp) + cmp.unchecked
    return VerifyResult(snapshot, cmp.checked, cmp.missing, cmp.extra, cmp.changed, cmp.differences, unchecked)


def _unread(stats, holds, cmp):
    """What the walk of the source could not read (a path too long, a folder
    not readable): each one the snapshot lacks is ``missing`` (the snapshot
    lacks it, whatever the reason); the number it holds, unchecked, is
    returned. What is inside a folder that could not be read is unknown and
    not counted."""
    unchecked = 0
    why = {}
    for text in stats.errors:
        rel, _, reason = text.partition(": ")
        why.setdefault(rel.replace(os.sep, "/"), reason)
    for rel in stats.skipped_paths:
        if rel == ".":
            continue
        try:
            held = holds(rel)
        except (OSError, ValueError):
            held = False
        if held:
            unchecked += 1
        else:
            detail = why.get(rel)
            cmp.note("missing", rel, " (could not be read in the source either%s)" % (": " + detail if detail else ""))
    return unchecked


def _workers(task, snapshot, log):
    network, where = None, "the snapshot"
    if task.parallel == "auto":
        network = filesystems.network_filesystem(snapshot)
        if network is None:
            network, where = filesystems.network_filesystem(task.src), "the source"
        if network is None:
            where = "the snapshot (and the source)"
    count, why = workers_for(task.parallel, network, where)
    # Said where it matters (a share); one worker, the usual case, only in the debug log.
    (log.info if count > 1 else log.debug)("%d %s comparing: %s", count, "worker" if count == 1 else "workers", why)
    return count


def _link_target(path):
    """A link's target; None when it cannot be read (a share that refuses
    some targets): then the two sides differ, never a traceback."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def _against_folder(walk, reader, src_root, deep, cmp, pool):
    """The source against the folder snapshot read by ``reader``, which
    never follows a link in the snapshot (snapshot_reader)."""
    for kind, rel, entry, st in walk.events():
        if kind == "end":
            continue
        cmp.checked += 1
        pool.submit(os.path.dirname(rel), functools.partial(_compare, kind, rel, entry.path, st, reader, deep,
                                                            cmp))
    pool.finish()
    # Extra: in the snapshot, not in the source.
    # Folders found extra, or that cannot be looked into in the source: what they hold is not listed
    # (a folder comes before its entries).
    gone = set()
    for other in reader.entries():
        if os.path.dirname(other.rel) in gone:
            if other.kind == "dir":
                gone.add(other.rel)
            continue
        if other.kind == "error":
            cmp.note("changed", other.rel, " (could not be read in the snapshot: %s)" % other.target)
            continue
        there = _in_source(src_root + os.sep + other.rel)
        if there is False:
            cmp.note("extra", other.rel)
        if not there and other.kind == "dir":
            gone.add(other.rel)


def _in_source(path):
    """True or False; None when the source cannot say (a folder above it
    that cannot be entered: the walk counted it as not read)."""
    try:
        os.lstat(path)
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return None


def _compare(kind, rel, path, st, reader, deep, cmp):
    """One entry of the source (``path``, lstat ``st``) against its copy in
    the snapshot: a worker's job."""
    try:
        other = reader.entry(rel)
    except OSError:
        other = None
    if other is None:
        cmp.note("missing", rel)
    elif kind == "dir":
        if other.kind != "dir":
            cmp.note("changed", rel, " (a folder in the source)")
    elif kind == "link":
        if other.kind != "link" or other.target != _link_target(path):
            cmp.note("changed", rel, " (symbolic link)")
    elif other.kind != "file":
        cmp.note("changed", rel, " (not a file in the snapshot)")
    elif other.size != st.st_size:
        cmp.note("changed", rel, " (size %d in the source, %d in the snapshot)" % (st.st_size, other.size))
    elif not same_mtime(other.mtime_ns, st.st_mtime_ns):
        cmp.note("changed", rel, " (modification time)")
    elif deep:
        try:
            mine = _digest_file(path)
        except OSError:  # (the walk could list it, not read it)
            cmp.not_compared()
            return
        if mine != _digest_copy(reader, other):
            cmp.note("changed", rel, " (contents)")


def _digest_copy(reader, entry):
    """The digest of a snapshot file, read without following a link; None
    (a difference) when it is not the file listed any more."""
    try:
        with reader.open(entry) as stream:
            return _digest_stream(stream)
    except OSError:
        return None


def _against_zip(walk, path, deep, cmp):
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError("cannot read the archive %s: %s" % (path, exc))
    with zf:
        infos = {snapshot_zip.zip_entry_rel(i): i for i in zf.infolist()}
        seen = set()
        for kind, rel, entry, st in walk.events():
            if kind == "end":
                continue
            cmp.checked += 1
            seen.add(rel)
            info = infos.get(rel)
            if info is None:
                cmp.note("missing", rel)
            elif kind in ("file",):
                if info.file_size != st.st_size:
                    cmp.note("changed", rel, " (size %d in the source, %d in the archive)"
                             % (st.st_size, info.file_size))
                elif not snapshot_zip.zip_time_matches(info, st.st_mtime, MTIME_SLACK):
                    cmp.note("changed", rel, " (modification time)")
                elif deep:
                    _compare_member(zf, info, rel, entry.path, cmp)
        unread = {rel.replace("/", os.sep) for rel in walk.stats.skipped_paths}
        for name in sorted(set(infos) - seen):
            parts = name.split(os.sep)
            if not any(os.sep.join(parts[:i]) in unread for i in range(1, len(parts))):
                cmp.note("extra", name)  # (what is in a folder the walk could not read is unknown)
    return lambda rel: rel.replace("/", os.sep) in infos


def _compare_member(zf, info, rel, source, cmp):
    """--deep: one archive member's contents against the source file. A
    damaged member (bad data, a wrong checksum) is a difference, and the
    rest is still compared (as restore reports it and goes on)."""
    try:
        with zf.open(info) as stream:
            digest = _digest_stream(stream)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        cmp.note("changed", rel, " (damaged in the archive: %s)" % (exc or type(exc).__name__))
        return
    try:
        same = digest == _digest_file(source)
    except OSError:  # (the walk could list it, not read it): not compared, as in a folder snapshot
        cmp.not_compared()
        return
    if not same:
        cmp.note("changed", rel, " (contents)")
