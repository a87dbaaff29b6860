"""Where each file of a snapshot came from: the record beside a snapshot
folder that lets the next run find a moved, renamed or copied file.

``NAME.index`` (an SQLite file, standard library) sits beside snapshot
``NAME`` in ``dest``, never inside it: the snapshot stays an exact copy of
``src``. One row per regular file of the snapshot: its folder and name in
the snapshot and the identity, size and modification time (ns) its source
file had when the run met it (about 36 bytes a file). Rows are written in
batches, and the lookups' indexes are made by the first run that needs
them, so memory stays bounded (SQLite's own page cache, about 2 MB) at any
size and a run whose files all stayed in place pays for the rows only.

The next run asks it only about files whose own path found no unchanged
match (``PreviousIndex``):

* ``by_identity``: the same volume and file id (st_dev/st_ino; the NTFS
  file index on Windows) with the same size and time: the file was moved
  or renamed. Used only where the file system keeps ids stable (see
  ``stable_ids``); a hard-link group finds its own old copy this way too.
* ``by_size_time``: another file with the same size and time (a copy made
  with ``cp -p`` or Explorer, a file restored from a snapshot): linked only
  when its content is equal, compared byte for byte (``same_content``).

The index is untrusted like the snapshot itself: a path it names is used
only when every folder on the way is a real folder of the previous
snapshot, and the file there passes the same size, time and mode check as
an unchanged file at its own path. When anything is in doubt (no index, a
damaged one, SQLite missing from this Python), files are copied.
"""

import os
import stat
import threading

from .. import osutil
from ..snapshots import INDEX, PARTIAL, remove_index as _remove_snapshot_index

try:
    import sqlite3
except ImportError:  # a Python built without it: no index, moved files are copied
    sqlite3 = None

SUFFIX = INDEX
BATCH = 2000
MAX_CANDIDATES = 8  # files of the same size and time compared, at most, per new file
# A file's path is its folder's (recorded once) and its name (text, or the
# bytes of a name that is not valid UTF-8); dev and ino are NULL where ids
# are not trusted. The mode is not kept: the previous snapshot's file
# itself is checked for it.
_SCHEMA = ("CREATE TABLE folders (id INTEGER PRIMARY KEY, path)",
           "CREATE TABLE files (folder INTEGER, name, dev INTEGER, ino INTEGER, size INTEGER, mtime INTEGER)")

# Linux mount types (and Windows volume names, lower case) whose file ids
# stay with a file for its life. FAT and exFAT make ids up from where the
# entry sits; network and FUSE file systems may number files per session.
_STABLE = ("ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs", "reiserfs", "nilfs2",
           "bcachefs", "tmpfs", "apfs", "hfs", "hfsplus", "ntfs", "refs")


def stable_ids(fs_type):
    """True when files of a file system of type ``fs_type`` (as
    osutil.filesystem_type names it; None: unknown) keep their ids while
    they live, so an id seen again is the same file. When in doubt, False."""
    return fs_type is not None and fs_type.lower() in _STABLE


def index_path(snapshot_path):
    """The index of the snapshot folder at ``snapshot_path`` (complete or
    ``.partial``: the index always takes the complete name)."""
    if snapshot_path.endswith(PARTIAL):
        snapshot_path = snapshot_path[:-len(PARTIAL)]
    return snapshot_path + SUFFIX


_HALF = 1 << 63


def _signed(n):
    """``n`` as SQLite's signed 64-bit integer, or None when it does not fit
    (a 128-bit ReFS id: such files are found by size, time and content)."""
    if n < 0 or n >= 1 << 64:
        return None
    return n - (1 << 64) if n >= 1 << 63 else n


def remove_index(snapshot_path):
    """Delete the index of a snapshot; quiet when there is none."""
    _remove_snapshot_index(os.path.dirname(snapshot_path), os.path.basename(snapshot_path))


class IndexWriter(object):
    """Writes the index of the snapshot being built. Safe in any thread.
    ``add`` never raises: an index that cannot be written is dropped (the
    next run copies what moved, as before this existed) and ``broken``
    says why. Rows only: the lookups' indexes are made by the first run
    that needs them (PreviousIndex), so a run pays nothing for them."""

    def __init__(self, snapshot_path):
        self.path = index_path(snapshot_path)
        self.broken = None
        self._rows, self._folders = [], [(0, "")]
        self._next_folder = 1
        self._lock = threading.Lock()
        self._db = None
        try:
            remove_index(snapshot_path)  # a crashed run's, of the same name
            self._db = sqlite3.connect(osutil.long_path(self.path), check_same_thread=False)
            # The journal in memory: a batch can be rolled back, and an index
            # a crash left half written is removed with its unpublished snapshot.
            self._db.execute("PRAGMA journal_mode=MEMORY")
            self._db.execute("PRAGMA synchronous=OFF")
            for sql in _SCHEMA:
                self._db.execute(sql)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)

    def _fail(self, exc):
        self.broken = "the index of moved files could not be written (%s)" % exc
        if self._db is not None:
            self._db.close()
            self._db = None
        try:
            remove_index(self.path[:-len(SUFFIX)])
        except OSError:
            pass

    def folder(self, rel):
        """The number of snapshot folder ``rel`` (from the walk's thread,
        before its files are added). The root is 0."""
        with self._lock:
            number = self._next_folder
            self._next_folder += 1
            if self._db is not None:
                self._folders.append((number, rel))
        return number

    def add(self, folder, name, ident, st):
        """Record that file ``name`` of snapshot folder number ``folder``
        holds source file ``st`` of identity ``ident`` ((volume, id), or
        None when it has none to trust). The rows are written in batches."""
        if ident is None:
            row = (folder, name, None, None, st.st_size, st.st_mtime_ns)
        else:
            row = (folder, name, ident[0], ident[1], st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._db is None:
                return  # dropped: nothing kept in memory
            self._rows.append(row)
            if len(self._rows) >= BATCH:
                self._flush()

    def _flush(self):
        rows, self._rows = self._rows, []
        folders, self._folders = self._folders, []
        try:
            try:
                self._insert(folders, rows)
            except UnicodeEncodeError:  # a name that is not valid UTF-8: kept as its bytes
                self._insert([(f[0], _storable(f[1])) for f in folders],
                             [(r[0], _storable(r[1])) + r[2:] for r in rows])
        except sqlite3.Error as exc:
            self._fail(exc)

    def _insert(self, folders, rows):
        self._db.execute("SAVEPOINT batch")
        try:
            self._db.executemany("INSERT INTO folders VALUES (?, ?)", folders)
            self._db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)
        except UnicodeEncodeError:
            self._db.execute("ROLLBACK TO batch")
            raise
        finally:
            self._db.execute("RELEASE batch")

    def close(self):
        """Write what is left; the index is complete."""
        with self._lock:
            if self._db is None:
                return
            self._flush()
            if self._db is None:
                return
            try:
                self._db.commit()
                self._db.close()
            except sqlite3.Error as exc:
                self._fail(exc)
            self._db = None

    def abandon(self):
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        try:
            remove_index(self.path[:-len(SUFFIX)])
        except OSError:
            pass


class PreviousIndex(object):
    """The index of the previous snapshot, read from any thread. ``open``
    returns None when there is none to use. The first lookup makes the
    index's own lookup structures (once per snapshot; a run that finds
    every file at its own path never does)."""

    def __init__(self, db, root):
        self._db = db
        self.root = root
        self._lock = threading.Lock()
        self._ready = None  # True once the lookups' indexes exist, False when they cannot
        self._checked = {}  # folder number -> its path, checked to be a real folder (None: not one)

    @classmethod
    def open(cls, snapshot_path):
        if sqlite3 is None or snapshot_path is None:
            return None
        path = osutil.long_path(index_path(snapshot_path))
        if not os.path.isfile(path):
            return None
        try:
            db = sqlite3.connect(path, check_same_thread=False)
            db.execute("SELECT d.path, f.name, f.dev, f.ino, f.size, f.mtime "
                       "FROM files f JOIN folders d ON d.id = f.folder LIMIT 1").fetchall()
        except sqlite3.Error:
            return None
        return cls(db, snapshot_path)

    def _query(self, sql, args):
        with self._lock:
            try:
                if self._ready is None:
                    self._ready = False
                    self._db.execute("CREATE INDEX IF NOT EXISTS by_ino ON files (ino)")
                    self._db.execute("CREATE INDEX IF NOT EXISTS by_size_time ON files (size, mtime)")
                    self._db.commit()
                    self._ready = True
                if not self._ready:
                    return []
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error:
                return []

    _SELECT = "SELECT folder, name, dev, size, mtime FROM files "

    def by_identity(self, ident, st):
        """Paths of the previous snapshot recorded with identity ``ident``
        and the size and time of ``st``."""
        rows = self._query(self._SELECT + "WHERE ino = ? LIMIT ?", (ident[1], MAX_CANDIDATES))
        return [self._path(r[0], r[1]) for r in rows
                if (r[2], r[3], r[4]) == (ident[0], st.st_size, st.st_mtime_ns)]

    def by_size_time(self, st):
        """Paths of the previous snapshot whose source had the size and
        modification time of ``st``."""
        rows = self._query(self._SELECT + "WHERE size = ? AND mtime = ? LIMIT ?",
                           (st.st_size, st.st_mtime_ns, MAX_CANDIDATES))
        return [self._path(r[0], r[1]) for r in rows]

    def _path(self, folder, name):
        """The full path of a recorded file, or None when the record names
        anything but a file in a real folder of the previous snapshot."""
        name = _name(name)
        if name is None or not _plain(name):
            return None
        with self._lock:
            where = self._checked.get(folder, False)
        if where is False:
            rows = self._query("SELECT path FROM folders WHERE id = ?", (folder,))
            rel = _name(rows[0][0]) if rows else None
            where = None if rel is None else real_folder(self.root, rel)
            with self._lock:
                if len(self._checked) > 4096:
                    self._checked.clear()  # bounded: a folder is checked again when met again
                self._checked[folder] = where
        return None if where is None else where + os.sep + name

    def close(self):
        with self._lock:
            self._db.close()


def _storable(name):
    """A name as the index keeps it: text, or its bytes when it is not
    valid UTF-8 (SQLite text is)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return osutil.name_to_bytes(name)


def _name(value):
    """A name read from the index (text or bytes), or None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return osutil.name_from_bytes(value)
        except UnicodeDecodeError:
            return None
    return None


def _plain(part):
    """True for a plain file or folder name: never empty, ".", "..", nor
    holding a separator or a character no name holds."""
    if part in ("", ".", "..") or os.sep in part or "\0" in part:
        return False
    return not (osutil.WINDOWS and ("/" in part or ":" in part))


def real_folder(root, rel):
    """``root`` joined with folder ``rel`` ("" for root itself) when every
    component is a plain name and a real folder (never a symbolic link,
    junction or anything else that could lead out of ``root``); else None."""
    path = root
    for part in rel.split(os.sep) if rel else ():
        if not _plain(part):
            return None
        path = path + os.sep + part
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode) or osutil.is_reparse_stat(st):
            return None
    return path


class Identities(object):
    """The identity key of each source file, or None where its file system
    does not keep ids stable (asked once per volume, through
    ``ops.filesystem_type(folder)``; ids from ``ops.file_identity``: tests
    replace both)."""

    def __init__(self, ops):
        self._type = ops.filesystem_type
        self._identity = ops.file_identity
        self._stable = {}  # volume -> bool

    def key(self, entry, st):
        found = self._identity(entry, st)
        if found is None:
            return None
        stable = self._stable.get(found[0])
        if stable is None:
            stable = self._stable[found[0]] = stable_ids(self._type(os.path.dirname(entry.path)))
        if not stable:
            return None
        if 0 <= found[0] < _HALF and 0 <= found[1] < _HALF:
            return found  # nearly always: no conversion
        dev, ino = _signed(found[0]), _signed(found[1])
        return None if dev is None or ino is None else (dev, ino)


def find_elsewhere(index, ops, entry, st, ident, usable):
    """The path in the previous snapshot (``index``) of a file that can
    stand for source file ``entry`` (lstat ``st``) though it is not at the
    same path, or None: one recorded with the same identity ``ident`` (None:
    not trusted here) and size, time and mode; else one recorded with the
    same size and time whose content is equal (an identity match too when
    the time is in whole seconds). ``usable(path)`` checks the
    file there as an unchanged file at its own path is checked."""
    if ident is not None:
        # A time without its fraction of a second was set by a tool (tar,
        # unzip, a FAT or network disk), not by a write: such a time can tie
        # by chance, so an id reused by a new file is told by its content.
        tied = st.st_mtime_ns % 1000000000 == 0
        for path in index.by_identity(ident, st):
            if path is not None and usable(path) and (not tied or same_content(ops, entry.path, path, st.st_size)):
                return path
    if st.st_size == 0:
        return None  # an empty file costs no data: copied
    for path in index.by_size_time(st):
        if path is not None and usable(path) and same_content(ops, entry.path, path, st.st_size):
            return path
    return None


def same_content(ops, path_a, path_b, size):
    """True when the files at ``path_a`` and ``path_b`` both hold exactly
    ``size`` bytes, equal; False on any difference or error."""
    fds = []
    try:
        for path in (path_a, path_b):
            fds.append(ops.open_read(path))
        left = size
        while left > 0:
            n = min(1024 * 1024, left)
            a, b = os.read(fds[0], n), os.read(fds[1], n)
            if not a or a != b:
                return False
            left -= len(a)
        return not os.read(fds[0], 1) and not os.read(fds[1], 1)
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)
