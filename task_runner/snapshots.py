"""What a snapshot is: its name, where it lives, how to find the complete ones.

A snapshot of a task is one entry in the task's ``dest``:

* a folder ``YYYY-MM-DD_HH-MM-SS`` (the local time the run started), or a
  file ``YYYY-MM-DD_HH-MM-SS.zip`` for ``"format": "zip"``;
* a second snapshot in the same second gets ``_2``, ``_3``, ... after the time;
* while it is built it is called ``NAME.partial`` and is renamed only when
  complete, so a name without ``.partial`` is always a whole backup;
* to be deleted it is first renamed to ``.deleting-NAME``, so a deletion cut
  short never leaves part of a snapshot under its name;
* a snapshot of a ``partial`` run (some files or folders could not be read)
  has a small JSON file ``NAME.incomplete`` beside it, written before it
  is published, listing the paths it lacks: retention never counts it in
  place of a complete one (retention.py). A snapshot without one (every
  snapshot made before it existed) is complete.

Nothing else in ``dest`` is ever listed, counted or deleted. The engine,
retention, status, verify and restore all ask this module.
"""

import datetime
import json
import logging
import os
import re
import stat
import struct
import time
import zipfile

from . import console, osutil, removal
from .schedule import LOCAL, local_datetime

logger = logging.getLogger(__name__)

# ASCII digits only: a name is a time the program wrote, never a look-alike.
SNAPSHOT_RE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2})(?:_([0-9]+))?(\.zip)?$")
PARTIAL = ".partial"
DELETING = ".deleting-"
INCOMPLETE = ".incomplete"
EVERYTHING = None  # what read_incomplete says when it cannot say which paths a snapshot lacks
# Beside a snapshot folder NAME: NAME.index, where each of its files came
# from (engine/index.py); deleted with it, and on its own when orphaned.
INDEX = ".index"


def snapshot_name(started, zone=LOCAL):
    return local_datetime(started, zone).strftime("%Y-%m-%d_%H-%M-%S")


def new_snapshot_name(dest, started, zone=LOCAL, as_zip=False):
    """The name a snapshot started at ``started`` gets in ``dest``: its
    local time, with ``_2``, ``_3``... when that time is taken. The suffix
    is above every one of that second ever seen in ``dest`` (a name freed by
    a deletion is not reused: names stay in the order the runs started)."""
    ext = ".zip" if as_zip else ""
    base = snapshot_name(started, zone)
    try:
        names = os.listdir(dest)
    except OSError:
        names = []
    highest = 0
    for entry in names:
        m = SNAPSHOT_RE.match(_strip_marks(entry))
        if m and m.group(1) == base:
            highest = max(highest, int(m.group(2) or 1))
    name, n = base, max(2, highest + 1)
    if highest:
        name = "%s_%d" % (base, n)
    while (os.path.lexists(os.path.join(dest, name + ext))
           or os.path.lexists(os.path.join(dest, name + ext + PARTIAL))):
        n += 1
        name = "%s_%d" % (base, n)
    return name + ext


def _strip_marks(entry):
    """A snapshot's name from the name of it or of its .partial, .deleting- or .incomplete."""
    if entry.startswith(DELETING):
        entry = entry[len(DELETING):]
    for mark in (PARTIAL, INCOMPLETE):
        if entry.endswith(mark):
            entry = entry[:-len(mark)]
    return entry


def name_time(name):
    """The local start time a snapshot name holds, as a naive datetime."""
    text = SNAPSHOT_RE.match(name).group(1)
    return datetime.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]),
                             int(text[11:13]), int(text[14:16]), int(text[17:19]))


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


def is_partial_name(name):
    return name.endswith(PARTIAL) and bool(SNAPSHOT_RE.match(name[:-len(PARTIAL)]))


def _remove(path, dest):
    """Delete the folder or file ``path`` of ``dest``. A folder's files may
    be hard links shared with the other snapshots, which must not change
    (removal.remove_tree)."""
    path = osutil.long_path(path)
    if os.path.isdir(path) and not os.path.islink(path):
        others = [osutil.long_path(os.path.join(dest, n)) for n in list_snapshots(dest) if not n.endswith(".zip")]
        removal.remove_tree(path, others)
    else:
        if osutil.WINDOWS:
            os.chmod(path, 0o600)  # a read-only file cannot be deleted there
        os.remove(path)


def write_incomplete(dest, name, skipped, limit=100000):
    """Record beside snapshot ``name`` of ``dest`` that its run skipped the
    "/"-separated paths ``skipped`` (more than ``limit``: "more", read back
    as EVERYTHING). Written and flushed before the snapshot is published."""
    record = {"incomplete": True, "skipped": sorted(set(skipped))[:limit], "more": len(skipped) > limit}
    path = osutil.long_path(os.path.join(dest, name + INCOMPLETE))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())


def read_incomplete(dest, name):
    """False for a complete snapshot (no record: every snapshot made before
    records existed is complete); else the frozenset of "/"-separated paths
    its run could not read, or EVERYTHING when the record is unreadable or
    was cut short (then it may lack anything)."""
    path = osutil.long_path(os.path.join(dest, name + INCOMPLETE))
    try:
        with open(path, "r", encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return EVERYTHING
    skipped = record.get("skipped") if isinstance(record, dict) else None
    if not isinstance(skipped, list) or record.get("more") is not False:
        return EVERYTHING
    return frozenset(p for p in skipped if isinstance(p, str))


def _remove_incomplete(dest, name):
    path = osutil.long_path(os.path.join(dest, name + INCOMPLETE))
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def delete_snapshot(dest, name):
    """Delete snapshot ``name`` of ``dest`` (complete or ``.partial``) so
    that a kill at any moment leaves it whole under its name or out of
    every listing: one atomic rename to ``.deleting-NAME`` (which nothing
    lists, restores or counts), then the removal. OSError when the rename
    fails (on Windows: a file of it open elsewhere): then it is untouched."""
    remove_index(dest, name)  # first: a snapshot without its index is only copied more
    doomed = os.path.join(dest, DELETING + name)
    if os.path.lexists(osutil.long_path(doomed)):
        _remove(doomed, dest)  # an earlier deletion of that name, interrupted
    os.rename(osutil.long_path(os.path.join(dest, name)), osutil.long_path(doomed))
    osutil.fsync_dir(dest)
    _remove(doomed, dest)
    _remove_incomplete(dest, name)  # last: until the snapshot is gone it stays marked incomplete


def remove_index(dest, name):
    """Delete the index (engine/index.py) of snapshot ``name`` of ``dest``
    (complete or ``.partial``), if it has one."""
    base = name[:-len(PARTIAL)] if name.endswith(PARTIAL) else name
    for suffix in (INDEX, INDEX + "-journal"):
        try:
            os.remove(osutil.long_path(os.path.join(dest, base + suffix)))
        except FileNotFoundError:
            pass


def is_orphan_index(dest, name):
    """True for an index whose snapshot is gone (a crash between the two)."""
    base = name[:-len(INDEX)]
    return (name.endswith(INDEX) and bool(SNAPSHOT_RE.match(base)) and not base.endswith(".zip")
            and not os.path.lexists(os.path.join(dest, base))
            and not os.path.lexists(os.path.join(dest, base + PARTIAL)))


def is_deleting_name(name):
    rest = name[len(DELETING):]
    return name.startswith(DELETING) and (bool(SNAPSHOT_RE.match(rest)) or is_partial_name(rest))


def is_orphan_record(dest, name):
    """True for ``NAME.incomplete`` whose snapshot is gone (a kill between
    the deletion and the record's, or before the snapshot was published)."""
    base = name[:-len(INCOMPLETE)]
    return (name.endswith(INCOMPLETE) and bool(SNAPSHOT_RE.match(base))
            and not os.path.lexists(os.path.join(dest, base)) and not os.path.lexists(os.path.join(dest, base + PARTIAL))
            and not os.path.lexists(os.path.join(dest, DELETING + base)))


def remove_leftovers(dest, log=logger, partials=True):
    """Finish what a crash or a kill left in ``dest``: deletions it
    interrupted (``.deleting-*``), records of snapshots that are gone
    (``NAME.incomplete``) and, with ``partials``, unfinished snapshots
    (``*.partial``). Only names of those patterns are touched.
    Call with the task lock held, so no other run is building or deleting one."""
    try:
        names = os.listdir(dest)
    except OSError:
        return
    for name in sorted(names):
        try:
            if is_deleting_name(name):
                _remove(os.path.join(dest, name), dest)
                _remove_incomplete(dest, name[len(DELETING):])
                log.info("finished deleting %s (its deletion had been interrupted)", name[len(DELETING):])
            elif is_orphan_record(dest, name):
                _remove_incomplete(dest, name[:-len(INCOMPLETE)])
            elif partials and is_partial_name(name):
                delete_snapshot(dest, name)
                log.info("removed unfinished snapshot %s left by an interrupted run", name)
            elif partials and is_orphan_index(dest, name):
                remove_index(dest, name[:-len(INDEX)])
                log.info("removed %s, the index of a snapshot that is gone", name)
        except OSError as exc:
            log.warning("could not remove %s: %s; the next run tries again", os.path.join(dest, name), exc)


# -- ZIP snapshots: how each entry keeps a name, a time and a mode ------------
#
# * Name: the path relative to src with "/" separators, "/" at the end of a
#   folder. A name that is valid UTF-8 is stored as such (with the UTF-8
#   flag when it is not ASCII). A name that is not (Linux bytes, a Windows
#   name with a lone surrogate) is stored as its exact bytes without the
#   flag, so nothing is lost and other tools still open the archive.
# * Time: the local date and time in the DOS fields (1980-01-01 to
#   2107-12-31, clamped beyond), and the exact UTC second in the
#   extended-timestamp extra field (0x5455), read back first.
# * Mode: the POSIX type and permission bits in the high 16 bits of the
#   external attributes (as Info-ZIP does), MS-DOS folder flag on folders; a
#   symbolic link is an entry of type S_IFLNK whose data is its target.
#   Set-ID and sticky bits are never stored (a ZIP keeps no owner), nor
#   read back from an archive: a restore never applies them.

_DOS_FIRST = (1980, 1, 1, 0, 0, 0)
_DOS_LAST = (2107, 12, 31, 23, 59, 58)
_EXT_TIME = 0x5455


class _ZipInfo(zipfile.ZipInfo):
    """A ZipInfo whose name may be any file name (see above)."""

    __slots__ = ("raw_name",)

    def _encodeFilenameFlags(self):
        # zipfile encodes names itself and fails on names that are not
        # valid UTF-8; this is the method it asks (every version, 3.6-3.13).
        raw = getattr(self, "raw_name", None)
        if raw is None:
            return super(_ZipInfo, self)._encodeFilenameFlags()
        return raw, self.flag_bits & ~0x800


def zip_entry(rel, st, kind):
    """(ZipInfo, clamped) for entry ``rel`` (os.sep-separated) of ``kind``
    "file", "dir" or "link" with lstat ``st``. ``clamped`` is None, or the
    date stored instead of a time a ZIP cannot hold (2108 or later)."""
    name = rel.replace(os.sep, "/") + ("/" if kind == "dir" else "")
    try:
        when = time.localtime(max(st.st_mtime, 0))[:6]
    except (OverflowError, OSError, ValueError):  # beyond what the C library handles
        when = _DOS_LAST + (0,)
    clamped = None
    if when < _DOS_FIRST:
        when = _DOS_FIRST  # before 1980: silently 1980, as every ZIP tool does
    elif when > _DOS_LAST:
        when = _DOS_LAST
        clamped = "%04d-%02d-%02d" % when[:3]
    try:
        name.encode("utf-8")
        info = _ZipInfo(name, when)
    except UnicodeEncodeError:
        info = _ZipInfo(console.printable(name), when)  # the name zipfile shows
        info.raw_name = osutil.name_to_bytes(name)
    mtime = int(st.st_mtime)
    if 0 <= mtime < 1 << 32:
        info.extra = struct.pack("<HHBI", _EXT_TIME, 5, 1, mtime)
    if kind == "link":
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        info.compress_type = zipfile.ZIP_STORED
    else:
        mode = stat.S_IFMT(st.st_mode) | (st.st_mode & 0o777)
        info.external_attr = (mode & 0xFFFF) << 16
        if kind == "dir":
            info.external_attr |= 0x10  # MS-DOS directory flag
            info.compress_type = zipfile.ZIP_STORED
        else:
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = st.st_size  # lets zipfile choose ZIP64 up front
    return info, clamped


_ROOT_COMMENT = b"task_runner root: "


def zip_root_comment(st):
    """The archive comment that keeps the source folder's own permission
    bits and time (a ZIP has no entry for its top)."""
    return _ROOT_COMMENT + json.dumps({"mode": stat.S_IMODE(st.st_mode) & 0o777,
                                       "mtime_ns": st.st_mtime_ns}).encode("ascii")


def zip_root_from_comment(comment):
    """(mode, mtime_ns) kept by zip_root_comment, or None (an archive made
    before it was kept, or one whose comment says something else)."""
    if not comment.startswith(_ROOT_COMMENT):
        return None
    try:
        doc = json.loads(comment[len(_ROOT_COMMENT):].decode("ascii"))
        mode, mtime_ns = doc["mode"], doc["mtime_ns"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(mode, int) or not isinstance(mtime_ns, int) or isinstance(mode, bool):
        return None
    return mode & 0o777, mtime_ns  # never a set-ID or sticky bit from an archive


def zip_entry_rel(info):
    """The os.sep-separated path relative to src that entry ``info`` holds
    (no trailing separator), with a name that is not valid UTF-8 restored."""
    name = info.filename
    if not info.flag_bits & 0x800 and any(ord(c) > 127 for c in name):
        name = osutil.name_from_bytes(name.encode("cp437"))  # stored as raw bytes
    return name.rstrip("/").replace("/", os.sep)


def zip_entry_kind(info):
    """"dir", "link", "file", or "other" for a device, pipe or socket (which
    this program never writes into a ZIP, and never restores from one)."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "link"
    if kind == stat.S_IFDIR or info.filename.endswith("/") or info.external_attr & 0x10:
        return "dir"
    return "file" if kind in (0, stat.S_IFREG) else "other"


def zip_entry_mode(info):
    """The permission bits entry ``info`` keeps, or None when it keeps none
    (then a restore gives the usual 0o644 / 0o755). A mode is kept when the
    high 16 bits of the external attributes hold a file type (this program
    and Info-ZIP write one), or come from a Unix creator (``create_system``
    3): so "mode 0" (a file no one may read) is told from "no mode"."""
    stored = info.external_attr >> 16
    if stat.S_IFMT(stored) or (info.create_system == 3 and stored):
        return stored & 0o777  # never set-ID or sticky bits
    return None


def zip_entry_mtime(info):
    """The entry's modification time in seconds since the epoch: the UTC
    extra field when there is one, else its local DOS date and time."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        if tag == _EXT_TIME and size >= 5 and extra[i + 4] & 1:
            return struct.unpack("<I", extra[i + 5:i + 9])[0]
        i += 4 + size
    return time.mktime(info.date_time + (0, 0, -1))


def zip_time_matches(info, mtime, slack=2.0):
    """True when entry ``info`` holds the modification time ``mtime`` as
    closely as a ZIP can: within ``slack`` seconds, or, for a time no ZIP
    date holds (before 1980, after 2107), the date ``zip_entry`` clamps it
    to. Both ends are treated alike (verify, docs/REFERENCE.md)."""
    if abs(zip_entry_mtime(info) - mtime) < slack:
        return True
    try:
        when = time.localtime(max(mtime, 0))[:6]
    except (OverflowError, OSError, ValueError):
        when = _DOS_LAST + (0,)
    stored = tuple(info.date_time)
    return (when < _DOS_FIRST and stored == _DOS_FIRST) or (when > _DOS_LAST and stored == _DOS_LAST)
