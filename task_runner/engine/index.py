"""Where each file of a snapshot came from: the record beside a snapshot
folder that lets the next run find a moved, renamed or copied file.

``NAME.index`` (an SQLite file, standard library) sits beside snapshot
``NAME`` in ``dest``, never inside it: the snapshot stays an exact copy of
``src``. One row per regular file of the snapshot: its folder and name in
the snapshot and the identity, size and time (ns) its source file had when
the run met it (about 36 bytes a file). Rows go in batches; the lookups'
indexes are made by the first run that needs them: memory stays bounded
(SQLite's page cache, about 2 MB), and a run whose files stayed in place
pays for the rows only.

The next run asks it only about files whose own path found no unchanged
match (``PreviousIndex``):

* ``by_identity``: the same volume and file id (st_dev/st_ino; the NTFS
  file index on Windows) with the same size and time: the file was moved
  or renamed. Used only where the file system keeps ids stable
  (moved.stable_ids); a hard-link group finds its own old copy this way.
* ``by_size_time``: another file with the same size and time (a copy made
  with ``cp -p`` or Explorer, a file restored from a snapshot): linked only
  when its content is equal, compared byte for byte (moved.same_content).

The index is untrusted like the snapshot: a path it names is used only
through real folders of the previous snapshot, for a file that passes an
unchanged file's size, time and mode check. In doubt (no index, a damaged
one, no SQLite in this Python), files are copied.
"""

import contextlib
import os
import stat
import tempfile
import threading

from ..fs import osutil
from ..fs.fileio import copy_bytes
from ..snapshots import INDEX, PARTIAL, remove_index as _remove_snapshot_index

try:
    import sqlite3
except ImportError:  # a Python built without it: no index, moved files are copied
    sqlite3 = None

SUFFIX = INDEX
BATCH = 2000
MAX_CANDIDATES = 8  # files of the same size and time compared, at most, per new file
NEAR_ROWS = 5000  # rows of one old folder held in memory (about 150 bytes each)
# A file's path is its folder's (recorded once) and its name (text, or the
# bytes of a name that is not valid UTF-8); dev and ino are NULL where ids
# are not trusted. The mode is not kept: the previous snapshot's file
# itself is checked for it.
_SCHEMA = ("CREATE TABLE meta (key TEXT, value INTEGER)",
           "CREATE TABLE folders (id INTEGER PRIMARY KEY, path)",
           "CREATE TABLE files (folder INTEGER, name, dev INTEGER, ino INTEGER, size INTEGER, mtime INTEGER)")

def index_path(snapshot_path):
    """The index of the snapshot folder at ``snapshot_path`` (complete or
    ``.partial``: the index always takes the complete name)."""
    if snapshot_path.endswith(PARTIAL):
        snapshot_path = snapshot_path[:-len(PARTIAL)]
    return snapshot_path + SUFFIX


def remove_index(snapshot_path):
    """Delete the index of a snapshot; quiet when there is none."""
    _remove_snapshot_index(os.path.dirname(snapshot_path), os.path.basename(snapshot_path))


_TEMP_PREFIX = "task_runner-index-"
STALE_SECONDS = 2 * 86400  # a temporary index untouched this long was left by a killed run


def _temporary():
    """A new local temporary file's path: SQLite works only there, never on
    the destination, which may be a network share (where its locks are not
    reliable) and which a dry run must not write."""
    fd, path = tempfile.mkstemp(prefix=_TEMP_PREFIX)
    os.close(fd)
    return path


def remove_stale_temporaries(now):
    """Remove the temporary indexes that runs killed outright left (their
    last write older than STALE_SECONDS before ``now``). A live run's file
    is written every BATCH files; if one were removed all the same, that
    run only drops its index (Windows refuses: the file is open)."""
    folder = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(folder) if n.startswith(_TEMP_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if now - os.stat(path).st_mtime > STALE_SECONDS:
                os.remove(path)


def _remove_quietly(path):
    with contextlib.suppress(OSError):
        os.remove(path)


class IndexWriter(object):
    """Writes the index of the snapshot being built, in a local temporary
    file copied beside the snapshot by ``close``. Safe in any thread.
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
        self._db = self._temp = None
        try:
            remove_index(snapshot_path)  # a crashed run's, of the same name
            self._temp = _temporary()
            self._db = sqlite3.connect(self._temp, check_same_thread=False)
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
        self.abandon()

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
                # The newest time recorded: a file changed since cannot be
                # found in it, and is never looked up (PreviousIndex.may_hold).
                self._db.execute("INSERT INTO meta SELECT 'newest', MAX(mtime) FROM files")
                self._db.commit()
                self._db.close()
                self._db = None
                copy_bytes(self._temp, osutil.long_path(self.path))
            except (sqlite3.Error, OSError) as exc:
                self._fail(exc)
                return
            _remove_quietly(self._temp)

    def abandon(self):
        """Drop the index: nothing of it is left, here or in ``dest``."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._temp is not None:
            _remove_quietly(self._temp)
        with contextlib.suppress(OSError):
            remove_index(self.path[:-len(SUFFIX)])


class PreviousIndex(object):
    """The index of the previous snapshot, read from any thread. ``open``
    returns None when there is none. The first lookup copies it to a local
    temporary file and makes its lookup indexes there (once per run; a run
    that finds every file at its own path never does), so the index beside
    the snapshot is never written, and SQLite never works over a share."""

    def __init__(self, path, root, newest=None):
        self._file = path
        self.root = root
        self._newest = newest
        self._db = self._copy = None
        self._lock = threading.Lock()
        self._ready = None  # True once the lookups' indexes exist, False when they cannot
        self._checked = {}  # folder number -> its path, checked to be a real folder (None: not one)
        self._near = {}  # file id -> row, of the old folder where the last moved file was found

    @classmethod
    def open(cls, snapshot_path):
        if sqlite3 is None or snapshot_path is None:
            return None
        path = osutil.long_path(index_path(snapshot_path))
        if not os.path.isfile(path):
            return None
        return cls(path, snapshot_path, _newest(index_path(snapshot_path)))

    def may_hold(self, st):
        """False when no file recorded can have the time of ``st``: it was
        changed after every one of them (a new or edited file), so looking
        it up would find nothing. Costs no query."""
        return self._newest is None or st.st_mtime_ns <= self._newest

    def _prepare(self):
        self._copy = _temporary()
        copy_bytes(self._file, self._copy)
        self._db = sqlite3.connect(self._copy, check_same_thread=False)
        self._db.execute("SELECT d.path, f.name, f.dev, f.ino, f.size, f.mtime "
                         "FROM files f JOIN folders d ON d.id = f.folder LIMIT 1").fetchall()
        self._db.execute("CREATE INDEX IF NOT EXISTS by_ino ON files (ino)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_size_time ON files (size, mtime)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_folder ON files (folder)")
        self._db.commit()

    def _query(self, sql, args):
        with self._lock:
            try:
                if self._ready is None:
                    self._ready = False  # a damaged or foreign index: nothing is found in it
                    self._prepare()
                    self._ready = True
                if not self._ready:
                    return []
                return self._db.execute(sql, args).fetchall()
            except (sqlite3.Error, OSError):
                return []

    _SELECT = "SELECT folder, name, dev, size, mtime FROM files "

    def by_identity(self, ident, st):
        """Paths of the previous snapshot recorded with identity ``ident``
        and the size and time of ``st``. The files of the old folder where
        one was found are held for the next lookups (a renamed folder's
        files are found with one query, not one each)."""
        with self._lock:
            row = self._near.get(ident[1])
        rows = [row] if row is not None else \
            self._query(self._SELECT + "WHERE ino = ? LIMIT ?", (ident[1], MAX_CANDIDATES))
        found = [r for r in rows if (r[2], r[3], r[4]) == (ident[0], st.st_size, st.st_mtime_ns)]
        if found and row is None:
            self._hold_folder(found[0][0])
        return [self._path(r[0], r[1]) for r in found]

    def _hold_folder(self, folder):
        """Hold the rows of old folder ``folder`` by file id (at most
        NEAR_ROWS: bounded memory)."""
        rows = self._query(self._SELECT.replace("SELECT ", "SELECT ino, ", 1) + "WHERE folder = ? LIMIT ?",
                           (folder, NEAR_ROWS + 1))
        near = {r[0]: r[1:] for r in rows if r[0] is not None} if len(rows) <= NEAR_ROWS else {}
        with self._lock:
            self._near = near

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
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._copy is not None:
                _remove_quietly(self._copy)


def _uri_path(path):
    """``path`` in an SQLite URI: "%", "?" and "#" escaped, SQLite takes the
    rest as it is (not urllib.parse.quote: every backup would import it)."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _newest(path):
    """The newest modification time an index records, read in place without
    writing or locking anything (SQLite's immutable mode); None when it
    cannot be read."""
    if osutil.WINDOWS:  # file:///C:/... (a long or UNC path is not read: no harm)
        path = "/" + path.replace(os.sep, "/")
    try:
        db = sqlite3.connect("file:%s?mode=ro&immutable=1" % _uri_path(path), uri=True)
        try:
            rows = db.execute("SELECT value FROM meta WHERE key = 'newest'").fetchall()
        finally:
            db.close()
    except (sqlite3.Error, ValueError, OSError):
        return None
    return rows[0][0] if rows and isinstance(rows[0][0], int) else None


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
