"""The per-file work of a restore, which the pool's workers (fs/pool.py) may
carry out at once: staging a file (``Stager``); what a restore counts and
lists, kept that of a one-worker run (``Tally``); and how many workers a
restore gets (``workers``).

The restorer (restore.py) opens a ``Note`` for each entry of the snapshot,
in the order it reads them, and writes to it what the entry changes:
counts (replaced, kept aside, unchanged), actions, an error, the file
restored. A note is closed by whichever thread finishes the entry (the
reading thread, or the worker that copied the file), and notes are applied
in the order they were opened: the actions, the errors listed, the counts
and the progress line are those of one worker, however the workers
overtake one another.
"""

import collections
import os
import threading

from ..fs import filesystems
from ..engine.lookup import PreviousIndex
from ..engine.walk import MAX_LISTED
from ..fs.pool import workers_for


class EntryError(Exception):
    """This entry is not restored; the rest goes on."""


class Linked(object):
    """The names of one file of a folder snapshot (its hard links): where
    the first one was restored (``place``: folder rel, name) and the event
    of the last job, which the next one waits for (snapshot order)."""

    __slots__ = ("place", "last")

    def __init__(self):
        self.place = self.last = None


class Links(object):
    """Which names of a folder snapshot come back as one file (hard links):
    those sharing an inode in the snapshot that came from one file of the
    source. A copy the backup linked to an equal file by content (engine:
    moved.find_elsewhere) shares an inode there but was a file of its own:
    the snapshot's index (its source identities) tells them apart, asked
    only for an inode met under a second name. Without an index (or a
    record) nothing tells them apart: each name comes back as a file of its
    own, whole, never joined to another."""

    _NO_INDEX = object()

    def __init__(self, snapshot_path):
        self._path = snapshot_path
        self._index = None  # the snapshot's lookup.PreviousIndex, opened when first asked; _NO_INDEX: none
        self._groups = {}  # snapshot inode -> (first name, Linked), or {source identity: Linked} once met twice

    def of(self, entry):
        """The Linked of file ``entry`` (a folder snapshot's), or None."""
        if entry.kind != "file" or not isinstance(entry.source, str) or entry.identity is None:
            return None
        group = self._groups.get(entry.identity)
        if group is None:  # (first name, its Linked): most files have one, and cost no more
            linked = Linked()
            self._groups[entry.identity] = (entry.rel, linked)
            return linked
        if isinstance(group, tuple):  # a second name: the first one's source is asked now
            group = self._groups[entry.identity] = {self._source(group[0]): group[1]}
        return group.setdefault(self._source(entry.rel), Linked())

    def _source(self, rel):
        """``rel``'s source identity, a name of its own when it has none recorded."""
        if self._index is None:
            self._index = PreviousIndex.open(self._path) or self._NO_INDEX
        found = None if self._index is self._NO_INDEX else self._index.identity_at(rel)
        return found if found is not None else ("unknown", rel)

    def close(self):
        if self._index not in (None, self._NO_INDEX):
            self._index.close()


class Holder(object):
    """The folders of the target the reading thread hands its jobs, each
    held open once (``Held``) however many files wait to be written there."""

    def __init__(self):
        self._current = None  # (folder rel, Held) of the reading thread
        self._open = set()  # the Held not closed yet

    def hold(self, rel, folder):
        """The Held of Folder ``folder`` (``rel``), for one more job."""
        if self._current is None or self._current[0] != rel:
            self.let_go()
            self._current = (rel, Held(folder.again(), self._open))
        return self._current[1]

    def let_go(self):
        """The reading thread no longer holds the folder it held for its jobs."""
        if self._current is not None:
            self._current[1].release()
            self._current = None

    def close_all(self):
        """After a stop, once no worker runs: close what jobs dropped still held."""
        self.let_go()
        for held in list(self._open):
            held.close()


class Held(object):
    """A folder of the target kept open (its own descriptor, safedir's
    ``again``) for the jobs that write into it, closed by the last one: one
    descriptor per folder with work in flight, not one per file waiting.
    ``open_ones`` (a set) holds those not closed, for a stopped restore."""

    def __init__(self, folder, open_ones):
        self.folder, self.users, self.open_ones = folder, 1, open_ones
        self._lock = threading.Lock()
        open_ones.add(self)

    def take(self):
        with self._lock:
            self.users += 1
        return self.folder

    def release(self):
        with self._lock:
            self.users -= 1
            last = not self.users
        if last:
            self.close()

    def close(self):
        self.folder.close()
        self.open_ones.discard(self)


class _Sized(collections.namedtuple("_Sized", "st_size st_blocks")):
    """What fileio's copier needs to know of a source: the size the
    snapshot says, and the blocks it holds (fewer: a sparse file)."""


class Stager(object):
    """Makes a complete copy of a file or link of the snapshot in the
    staging folder of ``tree`` (safedir.Tree), from ``reader``, its data
    through ``copier`` (fileio.DataCopier). Any thread may call it once
    the staging folder exists. Each thread stages in a folder of its own
    inside it (``w1``, ``w2``...): a share's server makes the files of one
    folder one after another, so workers sharing one would wait in turn."""

    def __init__(self, tree, reader, owners, copier):
        self.tree, self.reader, self.owners, self.copier = tree, reader, owners, copier
        self._new_owner = None  # (uid, gid) a file made in the staging folder gets
        self._mine = threading.local()
        self._made, self._lock = [], threading.Lock()

    def _folder(self):
        """This thread's folder in the staging folder, made at its first file."""
        folder = getattr(self._mine, "folder", None)
        if folder is None:
            staging = self.tree.staging()
            with self._lock:
                name = "w%d" % (len(self._made) + 1)
                staging.mkdir(name, 0o700)
                folder = staging.sub(name)
                self._made.append(folder)
            self._mine.folder = folder
        return folder

    def close(self):
        """Close the folders made; once no thread stages any more."""
        for folder in self._made:
            folder.close()

    def _owner_needed(self, fd, entry):
        """True when the new file ``fd`` must be given ``entry``'s owner:
        not when every file made in the staging folder (where all are made)
        has it already (a round trip saved per file on a share)."""
        if not self.owners or entry.uid is None:
            return False
        if self._new_owner is None:  # once (threads that race learn the same)
            st = os.fstat(fd)
            self._new_owner = (st.st_uid, st.st_gid)
        return (entry.uid, entry.gid) != self._new_owner

    def staged(self, entry, tmp, linked):
        """``entry`` as ``tmp`` in this thread's staging folder, which is
        returned: a hard link to its first name when ``linked`` says it was
        restored, else a copy."""
        staging = self._folder()
        if entry.kind == "link":
            staging.symlink(entry.target, tmp)
            staging.set_link_metadata(tmp, entry, self.owners)
            return staging
        if linked is not None and linked.place is not None and self._hard_link(linked.place, staging, tmp):
            return staging
        fd = staging.create(tmp)
        try:
            src, entry = self.reader.open_checked(entry)  # the owner, mode and time of what is read
            with src:
                self._copy(src, fd, entry)
            owner = self._owner_needed(fd, entry)
        except BaseException:
            os.close(fd)
            try:
                staging.remove(tmp)  # never a half-written file left behind, under any name
            except OSError:
                pass
            raise
        staging.close_file(fd, tmp, entry, owner)
        return staging

    def _hard_link(self, first, staging, tmp):
        folder = self.tree.walk_to(first[0])
        if folder is None:
            return False
        try:
            staging.hardlink(folder, first[1], tmp)
            return True
        except OSError:
            return False  # gone or replaced meanwhile: copied instead
        finally:
            folder.close()

    def _copy(self, src, fd, entry):
        """The contents, through fileio's copier (holes of a sparse file
        kept, on Linux); a source shorter than the snapshot says is never
        padded to look whole."""
        if isinstance(entry.source, str):  # a file of a folder: a descriptor
            blocks = getattr(getattr(src, "stat", None) or os.fstat(src.fileno()), "st_blocks", None)
            copied, error, _ = self.copier.copy(src.fileno(), fd, _Sized(entry.size, blocks))
        else:  # a ZIP entry: a stream
            copied, error, _ = self.copier.copy_stream(src.read, fd, entry.size)
        if error is not None:
            raise error
        if copied < entry.size:
            raise EntryError("damaged %s (shorter than it says), not restored" % self.reader.damaged_where)


class Note(object):
    """What one entry changes in the tally (see the module's docstring)."""

    __slots__ = ("seq", "events", "deferred")

    def __init__(self, seq):
        self.seq, self.events, self.deferred = seq, [], False

    def add(self, counter, n=1):
        """``counter`` (replaced, kept_aside, unchanged) grows by ``n``."""
        self.events.append((counter, n))

    def action(self, kind, what):
        self.events.append(("action", (kind, what)))

    def error(self, text):
        self.events.append(("error", text))

    def restored(self, rel, size):
        self.events.append(("restored", (rel, size)))


class Tally(object):
    """Applies closed notes to ``owner`` (its files, bytes, replaced,
    kept_aside, unchanged, error_count, errors and actions) in the order
    they were opened, calling ``progress(owner, rel)`` for each file
    restored."""

    def __init__(self, owner, progress=None):
        self.owner, self.progress = owner, progress
        self._lock = threading.Lock()
        self._opened = self._next = 0
        self._closed = {}  # seq -> Note closed before an earlier one: at most the jobs in flight

    def open(self):
        """A new note, after every note opened before (the reading thread only)."""
        note = Note(self._opened)
        self._opened += 1
        return note

    def close(self, note):
        with self._lock:
            self._closed[note.seq] = note
            while self._next in self._closed:
                self._apply(self._closed.pop(self._next))
                self._next += 1

    def flush(self):
        """Apply the notes closed after one that never will be (a stop, a
        fatal error), in order: what was restored is counted however the
        restore ended. Called once no worker runs."""
        with self._lock:
            for seq in sorted(self._closed):
                self._apply(self._closed.pop(seq))

    def _apply(self, note):
        owner = self.owner
        for kind, value in note.events:
            if kind == "action":
                owner.actions.append(value)
            elif kind == "error":
                owner.error_count += 1
                if len(owner.errors) < MAX_LISTED:
                    owner.errors.append(value)
            elif kind == "restored":
                owner.actions.append(("restore", value[0]))
                owner.files += 1
                owner.bytes += value[1]
                if self.progress is not None:
                    self.progress(owner, value[0])
            else:
                setattr(owner, kind, getattr(owner, kind) + value)


def workers(parallel, target, snapshot, log):
    """The number of workers of a restore into ``target`` from the snapshot
    at ``snapshot``, chosen like a backup's (``parallel``: "auto" or a
    number): with "auto", more than one where the target or the snapshot
    is on a network file system. Logged once, with the reason."""
    network, where = None, "the target"
    if parallel == "auto":
        network = filesystems.network_filesystem(target)
        if network is None:
            network, where = filesystems.network_filesystem(snapshot), "the snapshot"
        if network is None:
            where = "the target (and the snapshot)"
    count, why = workers_for(parallel, network, where)
    log.info("%d %s restoring: %s", count, "worker" if count == 1 else "workers", why)
    return count
