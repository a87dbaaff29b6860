"""Where each file of a snapshot came from: the record beside a snapshot
folder that lets the next run find a moved, renamed or copied file.

``NAME.index`` (an SQLite file, standard library) sits beside snapshot
``NAME`` in ``dest``, never inside it: the snapshot stays an exact copy of
``src``. It records every regular file of the snapshot: its folder and
name in the snapshot and the identity, size and time (ns) its source file
had (rows.py: packed by folder, about 29 bytes a file).

What it costs a run: a file copied, moved or linked from elsewhere is
added to a batch in memory (one SQLite insert a batch). A file found
unchanged at its own path, nearly every file of most runs, costs a count:
its record is carried from the previous snapshot's index when the run
ends, a folder whose files all stayed in one SQLite statement (``_Carry``).
The file's identity is then not even asked, which on Windows saves an
lstat a file. Memory stays bounded (the batch, a count a folder, SQLite's
page cache).

The next run asks it only about files whose own path found no unchanged
match (lookup.PreviousIndex):

* by identity: the same volume and file id (st_dev/st_ino; the NTFS file
  index on Windows) with the same size and time: the file was moved or
  renamed. Used only where the file system keeps ids stable
  (moved.stable_ids); a hard-link group finds its own old copy this way.
  (A carried record keeps the identity the file had when it was recorded;
  a file replaced by another of the same size and time to the nanosecond
  keeps the old one's. Any match is checked as below.)
* by size and time: another file with the same size and time (a copy made
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
import sys
import tempfile
import threading

from ..fs import osutil
from ..fs.fileio import copy_bytes
from ..snapshots import INDEX, PARTIAL, remove_index as _remove_snapshot_index
from . import rows

try:
    import sqlite3
except ImportError:  # a Python built without it: no index, moved files are copied
    sqlite3 = None

SUFFIX = INDEX
BATCH = rows.MAX_FILES  # files held in memory before they are written
KEPT_HELD = 10000  # folders held in memory (with their counts of kept files) before they are written


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


def temporary():
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


def remove_quietly(path):
    with contextlib.suppress(OSError):
        os.remove(path)


def packed_copy(snapshot_path):
    """A local temporary copy of the index of snapshot ``snapshot_path``
    when it has one in packed rows (rows.FORMAT) that SQLite can read; else
    None."""
    if sqlite3 is None or snapshot_path is None:
        return None
    path = osutil.long_path(index_path(snapshot_path))
    if not os.path.isfile(path):
        return None
    copy = temporary()
    try:
        copy_bytes(path, copy)
        db = sqlite3.connect(copy)
        try:
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchall()
            db.execute("SELECT folder, %s FROM packed LIMIT 1" % rows.COLUMNS).fetchall()
        finally:
            db.close()
        if found == [(rows.FORMAT,)]:
            return copy
    except (sqlite3.Error, OSError):
        pass
    remove_quietly(copy)
    return None


class IndexWriter(object):
    """Writes the index of the snapshot being built (``root``), in a local
    temporary file copied beside the snapshot by ``close``. Safe in any
    thread. ``add`` and ``keep`` never raise: an index that cannot be
    written is dropped (the next run copies what moved, as before this
    existed) and ``broken`` says why.

    ``previous``: the snapshot whose unchanged files this run links. When
    its index has packed rows, ``carries`` is True and a file found
    unchanged there is only counted (``keep``)."""

    def __init__(self, root, previous=None, threads=1, started_ns=None):
        self.path = index_path(root)
        self.started_ns = started_ns  # the real clock at the run's start, for the next run (lookup.py)
        self.root = root
        self.broken = None
        self._folders = [(0, "")]
        self._next_folder = 1
        self._batch, self._pending = {}, 0  # folder -> ([names], [numbers]); files in it
        self._kept = {}  # folder -> files found unchanged at their path, not yet written
        self._newest = None
        self._lock = threading.Lock()
        self._db = self._temp = self._old = None
        try:
            remove_index(root)  # a crashed run's, of the same name
            self._temp = temporary()
            self._db = sqlite3.connect(self._temp, check_same_thread=False)
            # A local temporary file: journal in memory, never synced (an index
            # a crash left half written is removed with its unpublished snapshot).
            self._db.execute("PRAGMA journal_mode=MEMORY")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("PRAGMA page_size=8192")  # rows of a folder of 100 files: 3 a page, not 1 of 4096
            self._db.execute("PRAGMA temp_store=MEMORY")
            for sql in rows.SCHEMA:
                self._db.execute(sql)
            self._db.execute("CREATE TEMP TABLE kept (folder INTEGER, n INTEGER)")
            self._old = packed_copy(previous)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
        self.carries = self.broken is None and self._old is not None
        if threads == 1:  # one thread adds: no lock a file
            self.add, self.keep = self._add, self._keep

    def _fail(self, exc):
        self.broken = "the index of moved files could not be written (%s)" % exc
        self.carries = False
        self.abandon()

    def folder(self, rel):
        """The number of snapshot folder ``rel`` (from the walk's thread,
        before its files are added). The root is 0."""
        with self._lock:
            number = self._next_folder
            self._next_folder += 1
            if self._db is not None:
                self._folders.append((number, rows.storable(rel)))
                if len(self._folders) >= KEPT_HELD:
                    self._flush()
        return number

    def add(self, folder, name, ident, st):
        """Record that file ``name`` of snapshot folder number ``folder``
        holds source file ``st`` of identity ``ident`` ((volume, id), or
        None when it has none to trust)."""
        with self._lock:
            self._add(folder, name, ident, st)

    def _add(self, folder, name, ident, st):
        if self._db is None:
            return  # dropped: nothing kept in memory
        held = self._batch.get(folder)
        if held is None:
            held = self._batch[folder] = ([], [])
        held[0].append(name)
        if ident is None:
            held[1].extend((0, 0, st.st_size, st.st_mtime_ns))
        else:
            held[1].extend((ident[0], ident[1], st.st_size, st.st_mtime_ns))
        self._pending += 1
        if self._pending >= BATCH:
            self._flush()

    def keep(self, folder, entry, st, ids):
        """File ``entry`` (lstat ``st``) of folder number ``folder`` was
        linked from the previous snapshot's file at its own path: its record
        is carried when ``carries``, else added (identity from ``ids``:
        moved.Identities)."""
        with self._lock:
            self._keep(folder, entry, st, ids)

    def _keep(self, folder, entry, st, ids):
        if self.carries:
            kept = self._kept  # written with the folders (``folder``): bounded
            kept[folder] = kept.get(folder, 0) + 1
        else:
            self._add(folder, entry.name, ids.key(entry, st), st)

    def _flush(self):
        batch, self._batch, self._pending = self._batch, {}, 0
        folders, self._folders = self._folders, []
        kept, self._kept = self._kept, {}
        packed = []
        for folder, (names, numbers) in batch.items():
            packed.append((folder,) + rows.pack(names, numbers))
            newest = max(numbers[3::rows.NUMBERS])
            if self._newest is None or newest > self._newest:
                self._newest = newest
        try:
            self._db.executemany("INSERT INTO folders VALUES (?, ?)", folders)
            self._db.executemany("INSERT INTO packed VALUES (?, ?, ?, ?, ?)", packed)
            self._db.executemany("INSERT INTO kept VALUES (?, ?)", kept.items())
        except sqlite3.Error as exc:
            self._fail(exc)

    def close(self):
        """Write what is left and carry the kept files' records; the index
        is complete."""
        with self._lock:
            if self._db is None:
                return
            self._flush()
            if self._db is None:
                return
            try:
                newest = self._newest
                if self._old is not None:
                    newest = self._carry(newest)
                # The newest time recorded: a file changed since cannot be
                # found in it, and is never looked up (PreviousIndex.may_hold).
                self._db.executemany("INSERT INTO meta VALUES (?, ?)",
                                     (("format", rows.FORMAT), ("order", sys.byteorder), ("newest", newest),
                                      ("started", self.started_ns)))
                self._db.commit()
                self._db.close()
                self._db = None
                copy_bytes(self._temp, osutil.long_path(self.path))
            except (sqlite3.Error, OSError) as exc:
                self._fail(exc)
                return
            self._drop_temporaries()

    def _carry(self, newest):
        """_Carry; the previous index is untrusted: when it cannot be read as
        ours, this index is dropped (a next run copies what moved)."""
        try:
            return _Carry(self._db, self._old, self.root).run(newest)
        except (sqlite3.Error, OSError):
            raise
        except Exception as exc:  # a damaged previous index: whatever it makes the reading raise
            raise sqlite3.DatabaseError("the previous snapshot's index is damaged (%s)" % exc)

    def _drop_temporaries(self):
        for path in (self._temp, self._old):
            if path is not None:
                remove_quietly(path)

    def abandon(self):
        """Drop the index: nothing of it is left, here or in ``dest``."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._drop_temporaries()
        with contextlib.suppress(OSError):
            remove_index(self.path[:-len(SUFFIX)])


class _Carry(object):
    """The records of the files a run found unchanged at their own path
    (IndexWriter.keep), taken from the previous snapshot's index (a local
    copy, ``old``) into the new one (``db``), folder by folder, matched by
    the folder's path.

    A folder whose every file stayed, with no other file: its rows are
    taken whole (one statement for all such folders). A folder where
    something changed: the previous records of names that the new snapshot
    still has as a file of the recorded size, and whose file this run did
    not record itself, a row of the previous index at a time (bounded
    memory)."""

    def __init__(self, db, old, root):
        self.db, self.old, self.root = db, old, root

    def run(self, newest):
        """Carry; returns the newest time the new index records."""
        db = self.db
        db.commit()
        db.execute("ATTACH DATABASE ? AS old", (self.old,))  # only read: no journal across the two
        # Each kept folder: its files kept, the previous index's folder of that path and its files there.
        db.execute("CREATE TEMP TABLE was (path PRIMARY KEY, id INTEGER)")
        db.execute("INSERT INTO was SELECT path, MIN(id) FROM old.folders GROUP BY path")
        db.execute("CREATE TEMP TABLE had (folder INTEGER PRIMARY KEY, n INTEGER)")
        db.execute("INSERT INTO had SELECT folder, SUM(count) FROM old.packed GROUP BY folder")
        db.execute("CREATE TEMP TABLE want AS SELECT k.folder AS folder, SUM(k.n) AS kept, w.id AS was "
                   "FROM kept k JOIN folders f ON f.id = k.folder LEFT JOIN was w ON w.path = f.path "
                   "GROUP BY k.folder")
        db.execute("CREATE TEMP TABLE own (folder INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO own SELECT DISTINCT folder FROM packed")
        db.execute("CREATE TEMP TABLE whole (was INTEGER PRIMARY KEY, folder INTEGER)")
        db.execute("INSERT INTO whole SELECT w.was, w.folder FROM want w JOIN had h ON h.folder = w.was "
                   "WHERE w.kept = h.n AND w.folder NOT IN (SELECT folder FROM own)")
        # Only rows of the shape rows.pack makes are carried: a damaged one is not handed on.
        cur = db.execute("INSERT INTO packed SELECT h.folder, o.count, o.dev, o.names, o.numbers "
                         "FROM old.packed o JOIN whole h ON h.was = o.folder WHERE typeof(o.count) = 'integer' "
                         "AND o.count BETWEEN 1 AND ? AND typeof(o.names) = 'blob' AND typeof(o.numbers) = 'blob' "
                         "AND length(o.numbers) = o.count * 8 * (CASE WHEN o.dev IS NULL THEN 4 ELSE 3 END)",
                         (rows.MAX_FILES,))
        carried = cur.rowcount > 0
        mixed = db.execute("SELECT w.folder, w.was, f.path FROM want w JOIN folders f ON f.id = w.folder "
                           "WHERE w.was IS NOT NULL AND w.folder NOT IN (SELECT folder FROM whole)").fetchall()
        order = _meta(db, "old", "order") or sys.byteorder
        if mixed:
            db.execute("CREATE TEMP TABLE rows_of AS SELECT folder, rowid AS r FROM old.packed")
            db.execute("CREATE INDEX temp.rows_by_folder ON rows_of (folder)")
        for folder, was, rel in mixed:
            carried = self._mixed(folder, was, rows.name_of(rel), order) or carried
        old_newest = _meta(db, "old", "newest")
        db.commit()
        db.execute("DETACH DATABASE old")
        if not carried:
            return newest
        if not isinstance(old_newest, int):
            return None  # not known: every file may be looked up
        return old_newest if newest is None else max(newest, old_newest)

    def _mixed(self, folder, was, rel, order):
        """Carry the records of folder ``folder`` (``rel``) from the
        previous index's folder ``was`` for the names the new snapshot has
        and this run did not record; True when any was carried."""
        if rel is None:
            return False
        recorded = set()
        for row in self.db.execute("SELECT %s FROM packed WHERE folder = ?" % rows.COLUMNS, (folder,)).fetchall():
            recorded.update(r[0] for r in rows.unpack(*row))
        here = self.root + os.sep + rel if rel else self.root
        carried = False
        for (rowid,) in self.db.execute("SELECT r FROM rows_of WHERE folder = ?", (was,)).fetchall():
            found = self.db.execute("SELECT %s FROM old.packed WHERE rowid = ?" % rows.COLUMNS, (rowid,)).fetchall()
            names, numbers = [], []
            for name, dev, ino, size, mtime in rows.unpack(*found[0], byteorder=order):
                if name not in recorded and rows.plain(name) and _file_of_size(here + os.sep + name, size):
                    names.append(name)
                    numbers.extend((dev or 0, ino or 0, size, mtime))
            if names:
                self.db.execute("INSERT INTO packed VALUES (?, ?, ?, ?, ?)", (folder,) + rows.pack(names, numbers))
                carried = True
        return carried


def _file_of_size(path, size):
    """Whether ``path`` is a regular file of ``size`` bytes."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _meta(db, schema, key):
    found = db.execute("SELECT value FROM %s.meta WHERE key = ?" % schema, (key,)).fetchall()
    return found[0][0] if found else None
