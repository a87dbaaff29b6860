"""Looking a file up in the index of an earlier snapshot (index.py): the
files recorded with an identity, or with a size and time, and where they
are in that snapshot. Read from a local copy, never in place: SQLite never
works over a share, and the index beside the snapshot is never written.
"""

import os
import stat
import sys
import threading

from ..fs import osutil
from ..fs.fileio import copy_bytes
from . import rows
from .index import index_path, remove_quietly, sqlite3, temporary

MAX_CANDIDATES = 8  # files of the same size and time compared, at most, per new file
# POSIX: a file whose inode changed (st_ctime: a write, a rename, another file moved onto its name)
# after a snapshot's run started, less this margin (the file system stamps ctime with a coarse
# clock, up to a tick behind), may differ from that snapshot's copy though its size and time agree
# (``PreviousIndex.since``). Windows' st_ctime is the creation time: not used there.
CTIME_MARGIN_NS = 20 * 10 ** 6  # two ticks of a 100 Hz kernel
NEAR_ROWS = 5000  # rows of one old folder held in memory (about 150 bytes each)


class PreviousIndex(object):
    """The index of the previous snapshot, read from any thread. ``open``
    returns None when there is none. The first lookup copies it to a local
    temporary file and makes its lookup indexes there (once per run; a run
    that finds every file at its own path never does), so the index beside
    the snapshot is never written, and SQLite never works over a share."""

    def __init__(self, path, root, newest=None, started=None):
        self._file = path
        self.root = root
        self._newest = newest
        # A file whose st_ctime is not before this changed after this snapshot's run began; None: unknown.
        self.since = started - CTIME_MARGIN_NS if isinstance(started, int) and not osutil.WINDOWS else None
        self._db = self._copy = None
        self._lock = threading.Lock()
        self._ready = None  # True once the lookups' indexes exist, False when they cannot
        self._checked = {}  # folder number -> its path, checked to be a real folder (None: not one)
        self._near = {}  # file id -> row, of the old folder where the last moved file was found
        self._near_folder = None  # that folder's number (its rows are not held when it has too many)
        self._by_size_time = False  # whether that lookup's index was made

    @classmethod
    def open(cls, snapshot_path):
        if sqlite3 is None or snapshot_path is None:
            return None
        path = osutil.long_path(index_path(snapshot_path))
        if not os.path.isfile(path):
            return None
        meta = _meta(index_path(snapshot_path))
        return cls(path, snapshot_path, meta.get("newest"), meta.get("started"))

    def may_hold(self, st):
        """False when no file recorded can have the time of ``st``: it was
        changed after every one of them (a new or edited file), so looking
        it up would find nothing. Costs no query."""
        return self._newest is None or st.st_mtime_ns <= self._newest

    def _prepare(self):
        self._copy = temporary()
        copy_bytes(self._file, self._copy)
        self._db = sqlite3.connect(self._copy, check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY"):  # a copy of its own
            self._db.execute("PRAGMA " + pragma)
        _unpack_all(self._db)
        self._db.execute("SELECT d.path, f.name, f.dev, f.ino, f.size, f.mtime "
                         "FROM files f JOIN folders d ON d.id = f.folder LIMIT 1").fetchall()
        self._db.execute("CREATE INDEX IF NOT EXISTS by_ino ON files (ino)")
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
            except Exception:  # an index is untrusted: a damaged one finds nothing, whatever it holds
                return []

    _SELECT = "SELECT folder, name, dev, size, mtime FROM files "

    def by_identity(self, ident, st, own=None):
        """Paths of the previous snapshot recorded with identity ``ident``
        and the size and time of ``st``. The files of the old folder where
        one was found are held for the next lookups (a renamed folder's
        files are found with one query, not one each). ``own``: the file's
        own path in this snapshot, when it has a copy there that looks
        unchanged; asked past the held folder, and put first when found
        (a hard-linked file takes its own name's copy, not another name's)."""
        with self._lock:
            row = self._near.get(ident[1]) if own is None else None
        candidates = [row] if row is not None else \
            self._query(self._SELECT + "WHERE ino = ? LIMIT ?", (ident[1], MAX_CANDIDATES))
        found = [r for r in candidates if (r[2], r[3], r[4]) == (ident[0], st.st_size, st.st_mtime_ns)]
        if found and row is None and found[0][0] != self._near_folder:
            self._hold_folder(found[0][0])
        paths = [self._path(r[0], r[1]) for r in found]
        if own is not None:
            paths.sort(key=lambda p: p != own)
        return paths

    def _hold_folder(self, folder):
        """Hold the rows of old folder ``folder`` by file id (at most
        NEAR_ROWS: bounded memory)."""
        found = self._query(self._SELECT.replace("SELECT ", "SELECT ino, ", 1) + "WHERE folder = ? LIMIT ?",
                           (folder, NEAR_ROWS + 1))
        near = {r[0]: r[1:] for r in found if r[0] is not None} if len(found) <= NEAR_ROWS else {}
        with self._lock:
            self._near, self._near_folder = near, folder

    def by_size_time(self, st):
        """Paths of the previous snapshot whose source had the size and
        modification time of ``st``."""
        if not self._by_size_time:  # made when first needed: most runs find moved files by id
            self._by_size_time = True
            self._query("CREATE INDEX IF NOT EXISTS by_size_time ON files (size, mtime)", ())
        found = self._query(self._SELECT + "WHERE size = ? AND mtime = ? LIMIT ?",
                           (st.st_size, st.st_mtime_ns, MAX_CANDIDATES))
        return [self._path(r[0], r[1]) for r in found]

    def _path(self, folder, name):
        """The full path of a recorded file, or None when the record names
        anything but a file in a real folder of the previous snapshot."""
        name = rows.name_of(name)
        if name is None or not rows.plain(name):
            return None
        with self._lock:
            where = self._checked.get(folder, False)
        if where is False:
            found = self._query("SELECT path FROM folders WHERE id = ?", (folder,))
            rel = rows.name_of(found[0][0]) if found else None
            where = None if rel is None else real_folder(self.root, rel)
            with self._lock:
                if len(self._checked) > 4096:
                    self._checked.clear()  # bounded: a folder is checked again when met again
                self._checked[folder] = where
        return None if where is None else where + os.sep + name

    def identity_at(self, rel):
        """The source identity (volume, file id) recorded for the snapshot's
        file ``rel``, or None (not recorded, recorded without one, or an
        index that cannot be read)."""
        folder, _, name = rel.rpartition(os.sep)
        found = self._query("SELECT f.dev, f.ino FROM files f JOIN folders d ON d.id = f.folder "
                            "WHERE d.path = ? AND f.name = ? LIMIT 2", (rows.storable(folder), rows.storable(name)))
        return tuple(found[0]) if len(found) == 1 and None not in found[0] else None

    def close(self):
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._copy is not None:
                remove_quietly(self._copy)


def _uri_path(path):
    """``path`` in an SQLite URI: "%", "?" and "#" escaped, SQLite takes the
    rest as it is (not urllib.parse.quote: every backup would import it)."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _meta(path):
    """The meta values of an index ({"newest": the newest modification time
    it records, "started": the real time its run started}, whole numbers
    only), read in place without writing or locking anything (SQLite's
    immutable mode); {} when it cannot be read."""
    if osutil.WINDOWS:  # file:///C:/... (a long or UNC path is not read: no harm)
        path = "/" + path.replace(os.sep, "/")
    try:
        db = sqlite3.connect("file:%s?mode=ro&immutable=1" % _uri_path(path), uri=True)
        try:
            found = db.execute("SELECT key, value FROM meta WHERE key IN ('newest', 'started')").fetchall()
        finally:
            db.close()
    except (sqlite3.Error, ValueError, OSError):
        return {}
    return {k: v for k, v in found if isinstance(v, int)}


def _unpack_all(db):
    """The packed rows of an index (rows.py) as a table of a row a file
    (``files``), as the first indexes had it, which the lookups search."""
    tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('format', 'order')").fetchall())
    if "format" in meta and meta["format"] != rows.FORMAT:
        raise ValueError("an index of another format")  # (a later version's): nothing is found in it
    if "packed" not in tables:
        return  # the first format (no "format"): its table of files is searched as it is
    if "format" not in meta or "files" in tables:
        raise ValueError("not an index this program wrote")
    order = meta.get("order")
    db.execute(rows.FILES)
    for (rowid,) in db.execute("SELECT rowid FROM packed").fetchall():
        found = db.execute("SELECT folder, %s FROM packed WHERE rowid = ?" % rows.COLUMNS, (rowid,)).fetchone()
        files = [(found[0],) + r for r in rows.unpack(*found[1:], byteorder=order or sys.byteorder)]
        try:
            "".join(f[1] for f in files).encode("utf-8")
        except UnicodeEncodeError:  # a name that is not valid UTF-8: kept as its bytes (rows.name_of reads both)
            files = [(f[0], rows.storable(f[1])) + f[2:] for f in files]
        db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", files)


def real_folder(root, rel):
    """``root`` joined with folder ``rel`` ("" for root itself) when every
    component is a plain name and a real folder (never a symbolic link,
    junction or anything else that could lead out of ``root``); else None."""
    path = root
    for part in rel.split(os.sep) if rel else ():
        if not rows.plain(part):
            return None
        path = path + os.sep + part
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode) or osutil.is_reparse_stat(st):
            return None
    return path
