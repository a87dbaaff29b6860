"""The writers: what the engine does with each entry of the walk.

``FolderWriter`` builds a snapshot folder, hard-linking unchanged files to
the previous snapshot, its per-file work done by a pool of workers
(fs/pool.py); ``previous.DryRunWriter`` only counts; ``zip_writer.ZipWriter``
builds a ZIP archive on the same base (``Writer``). Each gets the walk's
events in order: ``dir`` (return False to skip its contents), ``file``,
``link``, and ``end`` after a folder's contents, so that a folder's times
are set last. What the destination keeps, and setting it: fs/metadata.py.

What a folder snapshot keeps (docs/CONFIG.md, "What a backup is"): contents,
modification times to the nanosecond (or the destination's resolution),
permission bits, symbolic links as links, hard links between files of the
source, holes of sparse files (Linux), and owner and group when the program
runs as root. Without root, set-user-ID and set-group-ID bits are cleared,
as GNU cp does, so a backup never makes a program run as someone else.
"""

import errno
import os
import threading

from .. import console
from ..fs import metadata, osutil
from ..errors import BackupError, Interrupted
from ..fs.fileio import FD_METADATA, LOCKED_DELAY, LOCKED_RETRIES, DataCopier, unchanged
from ..fs.pool import Pool
from .moved import Identities, find_elsewhere
from .previous import PreviousTree, lookup_in
from .walk import reason

# Files with several hard links remembered per run, to link them again in
# the snapshot: about 150 bytes each; beyond this they are copied apart.
MAX_HARDLINKS = 200000


def dest_hint(exc):
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "disk full"
    if code == errno.EROFS:
        return "read-only"
    return "drive unplugged or not writable"


class Writer(object):
    """Common behaviour of the writers: stop checks, dest errors, reading
    a source file with retries."""

    def __init__(self, root, stats, ops, stop_event):
        self.root = root
        self.stats = stats
        self.ops = ops
        self.stop_event = stop_event

    def check_stop(self):
        if self.stop_event is not None and self.stop_event.is_set():
            raise Interrupted("stopped on request before the backup was complete")

    def dest_error(self, exc, rel):
        """A write to the destination failed: fatal when no later write can
        succeed (disk full, device gone), else the one entry is skipped."""
        if osutil.disk_error_is_fatal(exc) or not os.path.lexists(self.root):
            raise BackupError("cannot write to the destination (%s) while copying %s: %s"
                              % (dest_hint(exc), console.printable(rel), exc.strerror or exc))
        self.stats.skip(rel, "cannot be written to the destination: %s" % (exc.strerror or exc))

    def open_source(self, path, rel, st):
        """An fd for reading ``path``, or None (skipped) when it cannot be opened, or is not the
        regular file the walk listed (``st``, its lstat): another account swapping a folder of its own
        for a link, or a file for a pipe, after the listing, gets nothing of another's into its backup
        (found from outside: root's backup copied a private file of another user into the swapper's)."""
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                fd = self.ops.open_read(path)
            except OSError as exc:
                if osutil.is_sharing_violation(exc) and attempt < LOCKED_RETRIES:
                    self.ops.sleep(LOCKED_DELAY)
                    continue
                self.stats.skip(rel, reason(exc))
                return None
            if self.ops.is_listed_file(fd, st):
                return fd
            self.ops.close(fd)
            self.stats.skip(rel, "changed while it was read (a link or another file was put in its place)")
            return None

    def read_link(self, entry, rel):
        """The target of symbolic link ``entry``, or None (skipped)."""
        try:
            return os.readlink(entry.path)
        except OSError as exc:
            self.stats.skip(rel, reason(exc))
            return None

    def counted(self, rel, st, copied):
        if copied != st.st_size:
            self.stats.warn("%s: size changed while it was copied (%d -> %d bytes)"
                            % (rel, st.st_size, copied))
        self.stats.add_copy(copied)


class _Folder(object):
    """A folder of the snapshot with work pending in it: its times are set when
    ``pending`` (the walk's hold, its files' jobs, its open subfolders) is 0."""

    __slots__ = ("rel", "st", "parent", "pending")

    def __init__(self, rel, st, parent):
        self.rel, self.st, self.parent, self.pending = rel, st, parent, 1


class _Linked(object):
    """The files of the source that share one inode: where the last one
    went in the snapshot (``path``; ``old``: linked from a previous
    snapshot, not copied) and the event of the last job (``last``), which
    the next one waits for, so they are done in walk order."""

    __slots__ = ("path", "old", "last")

    def __init__(self):
        self.path = self.old = self.last = None


class FolderWriter(Writer):
    """Writes a snapshot folder; links unchanged files to ``previous``.

    The walk's thread makes the folders and decides; the per-file work
    (copy with metadata, hard link, the lstat of the previous snapshot's
    file, symbolic links) goes to ``pool``. A folder's metadata is set by
    whichever thread finishes the last job in it, after its subfolders'.
    ``close()`` waits for every job; ``abandon()`` stops them."""

    def __init__(self, root, stats, ops, stop_event, previous, log, pool=None, index=None, previous_index=None):
        super(FolderWriter, self).__init__(root, stats, ops, stop_event)
        self.log = log
        keeps, refused = metadata.probe(root, ops, osutil.can_keep_owner())
        for text in metadata.refusals(refused):
            stats.warn(text)
        if not keeps.links:
            log.info("setting a symbolic link's times or owner here would set its target's: "
                     "links keep the times and owner this destination gives them")
        if keeps.times and keeps.window_ns:
            log.info("the destination keeps modification times to %s: files are compared at "
                     "that resolution", _describe_ns(keeps.window_ns))
        self.keeps = keeps
        self._window = keeps.window_ns if keeps.times else None  # for unchanged()
        self.meta = metadata.MetadataSetter(keeps, ops, stats.warn)
        self.previous = PreviousTree(previous)
        self.linking = previous is not None  # False once the destination refused a hard link
        self.pool = pool if pool is not None else Pool(1)
        self._inline = self.pool.workers == 1  # each job at once: no counting what is pending
        self._copier = DataCopier(ops, self.check_stop)
        self._lock = threading.Lock()
        self._here = _Folder("", None, None)  # the snapshot's root: its metadata is the engine's
        self._inodes = {}  # (dev, inode) -> _Linked, for hard links in the source
        # Where each file came from (index.IndexWriter) and where the previous
        # snapshot's files came from (lookup.PreviousIndex): moved files.
        self.index, self.previous_index = index, previous_index
        self._ids = Identities(ops) if index or previous_index else None
        self._since = previous_index.since if previous_index is not None else None
        self._index_folders = [0]  # the index's number of each open folder (the root: 0)

    def check_stop(self):
        if (self.stop_event is not None and self.stop_event.is_set()) or self.pool.stopping():
            raise Interrupted("stopped on request before the backup was complete")

    def close(self, top):
        """Every worker done; then the snapshot's own folder gets the
        owner, mode and time of the source folder (``top``: its stat)."""
        self.pool.finish()
        self.copy_metadata(self.root, top)

    def abandon(self):
        self.pool.abort()

    def copy_metadata(self, path, st, follow=True, rel=""):
        """Owner (as root), permission bits and times of a folder (or, with
        ``follow`` False, a symbolic link) made at ``path``."""
        self.meta.on_path(path, st, rel, follow)

    def dir(self, rel, entry, st):
        try:
            self.ops.mkdir(self.root + os.sep + rel)
        except OSError as exc:
            self.dest_error(exc, rel)
            return False
        self.previous.enter(entry.name)
        if self.index is not None:
            self._index_folders.append(self.index.folder(rel))
        if not self._inline:
            with self._lock:
                self._here.pending += 1
            self._here = _Folder(rel, st, self._here)
        return True

    def end(self, rel, st):
        self.previous.leave()
        if self.index is not None:
            self._index_folders.pop()
        if self._inline:
            self.copy_metadata(self.root + os.sep + rel, st, rel=rel)
            return
        folder, self._here = self._here, self._here.parent
        self._release(folder)

    def _release(self, folder):
        """One piece of work in ``folder`` is done; the last one sets its
        metadata, and so on up."""
        while folder.parent is not None:
            with self._lock:
                folder.pending -= 1
                if folder.pending:
                    return
            self.copy_metadata(self.root + os.sep + folder.rel, folder.st, rel=folder.rel)
            folder = folder.parent

    def _submit(self, job, *args):
        if self._inline:
            job(*args)
            return
        folder = self._here
        with self._lock:
            folder.pending += 1

        def run():
            job(*args)
            self._release(folder)
        self.pool.submit(folder, run)

    def file(self, rel, entry, st):
        linked = None
        if st.st_nlink > 1 and st.st_ino:  # (Windows' scandir gives no inode: 0)
            key = (st.st_dev, st.st_ino)
            linked = self._inodes.get(key)
            if linked is None and len(self._inodes) < MAX_HARDLINKS:
                linked = self._inodes[key] = _Linked()
        if self._inline:
            self._place(rel, entry, st, self.previous.here(), linked, self._index_folders[-1])
            return
        wait_for = done = None
        if linked is not None:
            done = threading.Event()
            with self._lock:
                wait_for, linked.last = linked.last, done
        self._submit(self._file, rel, entry, st, self.previous.here(), linked, wait_for, done,
                     self._index_folders[-1])

    def _file(self, rel, entry, st, previous, linked, wait_for, done, folder):
        """A worker's job: _place, after the job of the file's previous
        name in the source (``wait_for``) when it has several."""
        try:
            while wait_for is not None and not wait_for.wait(0.1):
                self.check_stop()
            self._place(rel, entry, st, previous, linked, folder)
        finally:
            if done is not None:
                done.set()
                with self._lock:
                    if linked.last is done:
                        linked.last = None  # no Event kept per remembered inode

    def _place(self, rel, entry, st, previous, linked, folder):
        """Link the file to the previous snapshot's copy at its own path when
        unchanged, or to another name of it already in the snapshot
        (``linked``), or to a previous snapshot's copy found by the index
        (moved: see index.py), or copy it."""
        dst = self.root + os.sep + rel  # rel is relative: a plain join is enough
        index, tried, own, found = self.index, None, None, None  # tried: the link at its own path, when unchanged
        if self.linking:
            found = lookup_in(previous, entry.name)
            own = found[0] if found and unchanged(found[1], st, self._window, self.keeps.owner, self.keeps.mode) \
                else None
        # POSIX: an inode changed since the previous run began may hold other content at the same size and time.
        changed = own is not None and self._since is not None and st.st_ctime_ns >= self._since
        if linked is None and own is not None and not changed:
            tried = self._link_to(own, dst, rel, st)
            if tried and index is not None:
                index.keep(folder, entry, st, self._ids)
            if tried:
                return
        ident = self._ids.key(entry, st) if self._ids is not None else None
        renamed = self.linking and not found and linked is not None and linked.old  # a new name of an old file
        if not (linked is not None and linked.path is not None and self._link_to(linked.path, dst, rel, st, renamed)):
            old = self.linking and tried is None and self._link_elsewhere(rel, entry, st, dst, ident, own)
            if not old and not self.copy(rel, entry.path, st, dst):
                return
            if linked is not None:
                linked.path, linked.old = dst, old
        if index is not None:
            index.add(folder, entry.name, ident, st)

    def _link_elsewhere(self, rel, entry, st, dst, ident, own):
        """Link ``dst`` to a previous snapshot's copy found by the index (moved.find_elsewhere). A file
        with other names in the source takes the copy whose recorded identity is its own, never merely
        the one at its path (another name of its group may hold other content there). ``own``: the copy
        at its own path, when that looks unchanged (None: none), is the one taken if its identity matches."""
        if self.previous_index is None:
            return False
        path = find_elsewhere(self.previous_index, self.ops, entry, st, ident, lambda p: self._usable(p, st), rel,
                              own is not None)
        return path is not None and \
            self._link_to(path, dst, rel, st, moved=not self.previous_index.at_own_path(path, rel))

    def _usable(self, path, st):
        """The lstat of the previous snapshot's file at ``path`` when it can
        stand for source file ``st``, else None."""
        try:
            old_st = os.lstat(path)
        except OSError:
            return None
        return old_st if unchanged(old_st, st, self._window, self.keeps.owner, self.keeps.mode) else None

    def _link_to(self, existing, dst, rel, st, moved=False):
        """Hard-link ``dst`` to ``existing`` (counted as moved when
        ``moved``: from another path of the previous snapshot); False when
        it must be copied."""
        try:
            self.ops.link(existing, dst)
        except OSError as exc:
            code = getattr(exc, "errno", None)
            if code == errno.EMLINK or getattr(exc, "winerror", None) == 1142:
                return False  # that file is at its link limit: copy it
            if code == errno.ENOENT and os.path.lexists(self.root):
                return False  # the old snapshot lost that file meanwhile
            if osutil.disk_error_is_fatal(exc):
                self.dest_error(exc, rel)
            with self._lock:
                warn, self.linking = self.linking, False  # no links on this destination: stop trying
            if warn:
                self.log.warning("hard links are not supported on this destination (%s); copying "
                                 "every file for the rest of this run", exc.strerror or exc)
            return False
        if moved:
            self.stats.add_move(st.st_size)
        else:
            self.stats.add_link(st.st_size)
        return True

    def copy(self, rel, src, st, dst):
        """Copy one file with its metadata; True when it was copied."""
        fd_in = self.open_source(src, rel, st)
        if fd_in is None:
            return False
        mode = self.meta.mode_of(st)
        try:
            try:
                fd_out = self.ops.open_write(dst, mode & 0o777 if FD_METADATA else 0o666)
            except OSError as exc:
                self.dest_error(exc, rel)
                return False
            try:
                copied, error, side = self._copier.copy(fd_in, fd_out, st)
                if error is None and FD_METADATA:
                    self.meta.on_fd(fd_out, st, rel, mode)
            finally:
                self.ops.close(fd_out)
        finally:
            self.ops.close(fd_in)
        if error is not None:
            try:
                os.remove(dst)  # never leave a truncated copy behind
            except OSError:
                pass
            if side == "write":
                self.dest_error(error, rel)  # raises when no later write can succeed
            else:
                self.stats.skip(rel, "read error: %s" % reason(error))
            return False
        if not FD_METADATA:
            self.copy_metadata(dst, st, rel=rel)
        self.counted(rel, st, copied)
        return True

    def link(self, rel, entry, st):
        self._submit(self._symlink, rel, entry, st)

    def _symlink(self, rel, entry, st):
        target = self.read_link(entry, rel)
        if target is None:
            return
        dst = self.root + os.sep + rel
        try:
            # The kind of link is read from the link itself, never from its
            # target, which may be missing or a loop.
            self.ops.symlink(target, dst, target_is_directory=osutil.link_is_directory(st))
        except OSError as exc:
            # Windows refuses symbolic links without Developer Mode or admin rights.
            self.stats.skip(rel, "symbolic link could not be recreated here: %s" % (exc.strerror or exc))
            return
        self.copy_metadata(dst, st, follow=False, rel=rel)
        self.stats.add_symlink()


def _describe_ns(ns):
    if ns >= 10 ** 9:
        return "%g s" % (ns / 1e9)
    if ns >= 10 ** 6:
        return "%g ms" % (ns / 1e6)
    return "%g us" % (ns / 1e3)
