"""Reading a snapshot back, whatever its format: its entries in order
(restore, verify), one entry or one folder's entries (versions, the guided
restore, the status page), and a file's contents.

A folder snapshot is read without following links; a ZIP through its
central directory, with the names and modes zipped.py describes (never a
set-ID or sticky bit). Read-only: nothing here writes.
"""

import collections
import io
import os
import re
import stat
import threading
import zipfile

from ..fs import osutil, reading as snapshot_folder
from . import zipped as snapshot_zip
from .zipped import zip_entry_kind, zip_entry_mode, zip_entry_mtime, zip_entry_rel

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
    """The walk of a folder snapshot (see fs/reading.py): each folder
    opened relative to its parent, never through a link; a folder that
    cannot be opened or listed, or that changed after it was listed, is an
    entry of kind "error" (its ``target`` says why), never silently left out."""
    top = snapshot_folder.ReadFolder.open_top(root)
    stack = [("", None, None)]  # (folder rel, _Parent holding its parent open, its listed identity)
    try:
        while stack:
            rel_dir, parent, identity = stack.pop()
            try:
                folder = top if parent is None else parent.folder.sub(os.path.basename(rel_dir), identity)
            except OSError as exc:
                yield _error_entry(rel_dir, exc)
                continue
            finally:
                if parent is not None:
                    parent.done()
            holder = _Parent(folder, folder is not top)
            subdirs = []
            try:
                names = sorted(folder.names())
            except OSError as exc:
                yield _error_entry(rel_dir, exc)
                names = []
            for name in names:
                rel = rel_dir + os.sep + name if rel_dir else name
                entry = _listed(folder, rel, name)
                if entry is None:
                    continue
                if entry.kind == "dir":
                    subdirs.append((rel, holder, entry.identity))
                yield entry
            holder.users += len(subdirs)
            holder.done()
            stack.extend(reversed(subdirs))
    finally:
        for _, parent, _ in stack:
            if parent is not None:
                parent.done()
        top.close()


class _Parent(object):
    """A folder of the walk kept open until its last subfolder is opened."""

    __slots__ = ("folder", "users", "owned")

    def __init__(self, folder, owned):
        self.folder, self.users, self.owned = folder, 1, owned

    def done(self):
        self.users -= 1
        if self.users == 0 and self.owned:
            self.folder.close()


def _error_entry(rel, exc):
    why = getattr(exc, "strerror", None) or str(exc)
    return Entry(rel, "error", 0, 0, 0, why, None, None, None, None)


def _listed(folder, rel, name):
    """The Entry of ``name`` in ReadFolder ``folder``, from its lstat; None
    for a name gone meanwhile; an "error" entry for what cannot be read."""
    try:
        st = folder.lstat(name)
        if st is None:
            return None
        target = folder.readlink(name) if stat.S_ISLNK(st.st_mode) else None
    except OSError as exc:
        return _error_entry(rel, exc)
    return _folder_entry(rel, folder.join(name), st, target)


def _folder_entry(rel, path, st, target=None):
    """The Entry of ``path`` (lstat ``st``; a link's ``target``) in a folder
    snapshot; kind "other" for what a snapshot never holds (a device, a
    pipe, a Windows junction). A folder's identity is the one it was listed
    with, checked when it is opened."""
    mode = stat.S_IMODE(st.st_mode)
    owner = (st.st_uid, st.st_gid) if not osutil.WINDOWS else (None, None)
    identity = (st.st_dev, st.st_ino) if st.st_ino else None
    if stat.S_ISLNK(st.st_mode):
        return Entry(rel, "link", mode, st.st_mtime_ns, 0, target, owner[0], owner[1], None, path)
    if osutil.is_reparse_stat(st):
        return Entry(rel, "other", mode, st.st_mtime_ns, 0, None, owner[0], owner[1], None, path)
    if stat.S_ISDIR(st.st_mode):
        return Entry(rel, "dir", mode, st.st_mtime_ns, 0, None, owner[0], owner[1], identity, path)
    if stat.S_ISREG(st.st_mode):
        return Entry(rel, "file", mode, st.st_mtime_ns, st.st_size, None, owner[0], owner[1], identity, path)
    return Entry(rel, "other", mode, st.st_mtime_ns, 0, None, owner[0], owner[1], None, path)


def file_entry(entry, st):
    """``entry`` with the owner, mode, size and time of ``st``, the fstat of
    the descriptor its contents are read from."""
    kept = entry.uid is not None
    return Entry(entry.rel, entry.kind, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size, None,
                 st.st_uid if kept else None, st.st_gid if kept else None, entry.identity, entry.source)


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

    damaged_where = "in the backup"  # where a restore says damaged data is ("on the remote" for a downloaded ZIP)

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
        self._top, self._chains = None, []  # a folder snapshot's top and each thread's Chain below it

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
            for chain in self._chains:
                chain.close()
            del self._chains[:]
            if self._top is not None:
                self._top.close()
                self._top = None

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
        "/" separates too. "" is the snapshot's top: the source folder itself
        (its own mode, owner and time in a folder snapshot)."""
        rel = _sep(rel)
        if self.is_zip:
            if not rel:
                return Entry("", "dir", 0o755, 0, 0, None, None, None, None, self.path)
            parent, name = os.path.split(rel)
            return self._zip_index().get(parent, {}).get(name)
        try:
            if not rel:
                return _folder_entry("", self.path, self._chain().top.stat())
            parent, name = os.path.split(rel)
            entry = _listed(self._chain().folder(parent), rel, name)
        except (OSError, ValueError):
            return None
        return entry if entry is not None and entry.kind != "error" else None

    def top(self):
        """The Entry of the snapshot's own folder (the source folder: its
        mode, owner and time), or None when the snapshot does not keep it
        (a ZIP made before it kept them)."""
        if self.is_zip:
            kept = snapshot_zip.zip_root_from_comment(self._zip.comment)
            return None if kept is None else Entry("", "dir", kept[0], kept[1], 0, None, None, None, None, None)
        try:
            return _folder_entry("", self.path, self._chain().top.stat())
        except OSError:
            return None

    def has(self, rel):
        """True when the snapshot holds ``rel`` (see ``entry``)."""
        return self.entry(rel) is not None

    def children(self, rel_dir):
        """The files, folders and links directly in folder ``rel_dir`` (""
        for the top), sorted by name; [] when it is not a folder of the
        snapshot."""
        rel_dir = _sep(rel_dir)
        if self.is_zip:
            return sorted(self._zip_index().get(rel_dir, {}).values(), key=lambda e: e.rel)
        try:
            folder = self._chain().folder(rel_dir)
            names = folder.names()
        except (OSError, ValueError):
            return []
        found = (_listed(folder, os.path.join(rel_dir, name) if rel_dir else name, name) for name in names)
        return sorted((e for e in found if e is not None and e.kind in ("dir", "file", "link")),
                      key=lambda e: e.rel)

    def open(self, entry):
        """A binary file object with the contents of file ``entry``."""
        return self.open_checked(entry)[0]

    def open_checked(self, entry):
        """(binary file object, Entry) of file ``entry``: in a folder
        snapshot the file is opened without following a link, must be the
        file listed (``snapshot_folder.Changed`` otherwise), and the Entry
        returned has the owner, mode, size and time of what is read."""
        if self.is_zip:
            return self._zip_here().open(entry.source[1]), entry
        parent, name = os.path.split(entry.rel)
        fd, st = self._chain().folder(parent).open_file(name, entry.identity)
        f = io.FileIO(fd, "r")  # unbuffered: the restore copies by descriptor
        f.stat = st  # what was read, for the copy (its blocks: a sparse file)
        return f, file_entry(entry, st)

    def _chain(self):
        """This thread's Chain of open folders of a folder snapshot."""
        chain = getattr(self._local, "chain", None)
        if chain is None:
            with self._lock:
                if self._top is None:
                    self._top = snapshot_folder.ReadFolder.open_top(osutil.long_path(self.path))
                chain = self._local.chain = snapshot_folder.Chain(self._top)
                self._chains.append(chain)
        return chain


def _sep(rel):
    return rel.replace(os.altsep, os.sep).strip(os.sep) if os.altsep else rel
