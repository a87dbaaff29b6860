"""Reading a snapshot back, whatever its format: its entries in order
(restore, verify), one entry or one folder's entries (versions, the guided
restore, the status page), and a file's contents.

A folder snapshot is read without following links; a ZIP through its
central directory, with the names and modes snapshots.py describes (never a
set-ID or sticky bit). Read-only: nothing here writes.
"""

import collections
import os
import re
import stat
import threading
import zipfile

from . import osutil
from .snapshots import zip_entry_kind, zip_entry_mode, zip_entry_mtime, zip_entry_rel

BadZipFile = zipfile.BadZipFile

Entry = collections.namedtuple("Entry", "rel kind mode mtime_ns size target uid gid identity source")
Entry.__doc__ = """One entry of a snapshot, whatever its format. rel: path relative to src
(os.sep); kind: "dir", "file" or "link"; mode: permission bits; target: a link's
target; uid/gid: the owner kept (folder snapshots) or None; identity: the same for
hard links of one file (folder snapshots) or None; source: what open_entry reads."""


def read_entries(path):
    """The entries of the snapshot at ``path`` (folder or .zip), each folder
    before what it holds. A folder snapshot is walked without following
    links; a ZIP is read through its central directory."""
    if path.endswith(".zip"):
        return _zip_entries(path)
    return _folder_entries(osutil.long_path(path))


def _folder_entries(root):
    stack = [("", root)]
    while stack:
        rel_dir, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for item in items:
            rel = rel_dir + os.sep + item.name if rel_dir else item.name
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            entry = _folder_entry(rel, item.path, st)
            if entry is None:
                continue
            if entry.kind == "dir":
                subdirs.append((rel, item.path))
            yield entry
        stack.extend(reversed(subdirs))


def _folder_entry(rel, path, st):
    """The Entry of ``path`` (lstat ``st``) in a folder snapshot; None for
    what a snapshot never holds (a device, a pipe) or a link gone meanwhile."""
    mode = stat.S_IMODE(st.st_mode)
    owner = (st.st_uid, st.st_gid) if not osutil.WINDOWS else (None, None)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            return None
        return Entry(rel, "link", mode, st.st_mtime_ns, 0, target, owner[0], owner[1], None, path)
    if stat.S_ISDIR(st.st_mode):
        return Entry(rel, "dir", mode, st.st_mtime_ns, 0, None, owner[0], owner[1], None, path)
    if stat.S_ISREG(st.st_mode):
        identity = (st.st_dev, st.st_ino) if st.st_ino else None
        return Entry(rel, "file", mode, st.st_mtime_ns, st.st_size, None, owner[0], owner[1], identity, path)
    return None


def _zip_entries(path):
    with zipfile.ZipFile(osutil.long_path(path)) as zf:
        for entry in _zip_entries_of(zf, path):
            yield entry


_SEPARATORS = re.compile("[%s]" % re.escape(os.sep + (os.altsep or "")))


def safe_rel(rel):
    """True for a path that stays inside the target: no "..", no drive, not
    absolute. A backslash separates only where it is a separator (Windows)."""
    if not rel or os.path.isabs(rel) or rel[0] in os.sep + (os.altsep or ""):
        return False
    parts = _SEPARATORS.split(rel)
    return not os.path.splitdrive(rel)[0] and ".." not in parts and "." not in parts and "" not in parts


def _zip_entries_of(zf, path):
    for info in zf.infolist():
        kind = zip_entry_kind(info)
        mode = zip_entry_mode(info)
        mode = (0o755 if kind == "dir" else 0o644) if mode is None else mode  # no set-ID, no sticky
        mtime_ns = int(zip_entry_mtime(info)) * 10 ** 9
        target = osutil.name_from_bytes(zf.read(info)) if kind == "link" else None
        yield Entry(zip_entry_rel(info), kind, mode, mtime_ns, info.file_size, target, None, None,
                    (info.CRC, info.file_size, mtime_ns), (path, info))


class SnapshotReader(object):
    """The entries of one snapshot and their contents; the ZIP opened here is
    read for contents and ``has`` (``entries`` reads its directory afresh).
    Use as a context manager."""

    def __init__(self, path):
        self.path = path
        self.is_zip = path.endswith(".zip")
        self._zip = zipfile.ZipFile(osutil.long_path(path)) if self.is_zip else None
        self._index = None
        # zipfile's shared file is not safe for threads: a member opened while another thread reads
        # one seeks from that thread's position (Python 3.13: "Overlapped entries", the file not
        # restored). Each other thread (a restore's workers) reads through a ZipFile of its own.
        self._owner, self._local = threading.current_thread(), threading.local()
        self._lock, self._others = threading.Lock(), []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        with self._lock:
            for zf in self._others:
                zf.close()
            del self._others[:]

    def _zip_here(self):
        """The ZipFile this thread reads the archive through."""
        if threading.current_thread() is self._owner:
            return self._zip
        zf = getattr(self._local, "zip", None)
        if zf is None:
            zf = self._local.zip = zipfile.ZipFile(osutil.long_path(self.path))
            with self._lock:
                self._others.append(zf)
        return zf

    def entries(self):
        return read_entries(self.path)

    def _zip_index(self):
        """{folder rel: {name: Entry}} of the ZIP, folders it only implies included."""
        if self._index is None:
            self._index = {"": {}}
            for entry in _zip_entries_of(self._zip, self.path):
                if not safe_rel(entry.rel):  # restore refuses it as an error; browsing never meets it
                    continue
                parts = entry.rel.split(os.sep)
                for i in range(1, len(parts)):
                    folder = os.sep.join(parts[:i - 1])
                    implied = Entry(os.sep.join(parts[:i]), "dir", 0o755, 0, 0, None, None, None, None, None)
                    self._index.setdefault(folder, {}).setdefault(parts[i - 1], implied)
                    self._index.setdefault(os.sep.join(parts[:i]), {})
                self._index.setdefault(os.sep.join(parts[:-1]), {}).setdefault(parts[-1], entry)
                if entry.kind == "dir":
                    self._index.setdefault(entry.rel, {})
        return self._index

    def entry(self, rel):
        """The Entry of ``rel`` (os.sep-separated), reached through folders
        only (never through a link the snapshot holds), or None. On Windows
        "/" separates too."""
        rel = _sep(rel)
        if not rel:  # the snapshot's top: the source folder itself
            return Entry("", "dir", 0o755, 0, 0, None, None, None, None, self.path)
        parent, name = os.path.split(rel)
        if self.is_zip:
            return self._zip_index().get(parent, {}).get(name)
        folder = osutil.long_path(self.path)
        parts = rel.split(os.sep)
        for i, part in enumerate(parts):
            folder = os.path.join(folder, part)
            try:
                st = os.lstat(folder)
            except (OSError, ValueError):
                return None
            if i < len(parts) - 1 and (not stat.S_ISDIR(st.st_mode) or osutil.is_reparse_stat(st)):
                return None
        return _folder_entry(rel, folder, st)

    def has(self, rel):
        """True when the snapshot holds ``rel`` (see ``entry``)."""
        return self.entry(rel) is not None

    def children(self, rel_dir):
        """The entries directly in folder ``rel_dir`` ("" for the top),
        sorted by name; [] when it is not a folder of the snapshot."""
        rel_dir = _sep(rel_dir)
        if self.is_zip:
            return sorted(self._zip_index().get(rel_dir, {}).values(), key=lambda e: e.rel)
        if rel_dir:
            entry = self.entry(rel_dir)
            if entry is None or entry.kind != "dir":
                return []
        folder = osutil.long_path(os.path.join(self.path, rel_dir) if rel_dir else self.path)
        found = []
        try:
            with os.scandir(folder) as it:
                for item in it:
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    found.append(_folder_entry(os.path.join(rel_dir, item.name) if rel_dir else item.name,
                                               item.path, st))
        except OSError:
            return []
        return sorted((e for e in found if e is not None), key=lambda e: e.rel)

    def open(self, entry):
        """A binary file object with the contents of file ``entry``."""
        if self.is_zip:
            return self._zip_here().open(entry.source[1])
        return open(entry.source, "rb")


def _sep(rel):
    return rel.replace(os.altsep, os.sep).strip(os.sep) if os.altsep else rel
