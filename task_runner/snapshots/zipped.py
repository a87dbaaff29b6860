"""ZIP snapshots: how each entry of the archive keeps a name, a time and a
mode (the writer is engine/zip_writer.py, the reader reader.py)."""

import json
import os
import stat
import struct
import time
import zipfile

from .. import console
from ..fs import osutil

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
