"""Restoring a file, a folder or everything from a folder or ZIP snapshot.

Into a new or empty folder a restore writes the snapshot's layout (relative
to ``src``); with ``overwrite`` into a folder that has files (the original
``src``), an entry that differs is replaced, the one there first kept beside
it as ``NAME.before-restore-<time>.EXT`` (unless ``keep_existing`` is False),
and a file that is equal (size and time) is left alone. It never deletes
anything of the user's and never writes outside the target:

* Every write goes through ``safedir.Folder``: no link in the target is
  followed. A link (or a file) where the snapshot has a folder is treated
  like a file that differs: kept aside and replaced by a real folder.
* Each file and link is made in a hidden staging folder inside the target
  (``.restore-staging-<time>``, holding a mark file) and renamed into place
  when complete: an interrupted restore never leaves a half-written file
  under a real name, and its temporary names never meet the user's. The
  next restore into that target removes what a killed one left.
* A snapshot may come from a drive others can write. A name that leaves the
  target, a second entry of one name, an entry below a link of the same
  snapshot, a device or a pipe: each is an error of that entry, and the
  rest goes on. ZIP modes never carry set-ID or sticky bits (snapshots/zipped.py).
  The caller holds the task's lock, as a backup does (commands/_restoring.py).
"""

import collections
import contextlib
import errno
import logging
import os
import stat
import threading
import zlib

from .. import console
from ..clock import LOCAL, local_datetime
from ..errors import BackupError, Interrupted, UsageError
from ..fs import osutil, safedir
from ..fs.fileio import OPS, DataCopier, same_mtime
from ..fs.pool import Pool
from ..logs import task_log
from ..snapshots import catalog, reader as snapshot_reader
from . import target as restore_target, work as restore_work

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".restore-partial"  # the name of an earlier version's temporary files: restored like any other

RestoreResult = collections.namedtuple(
    "RestoreResult",
    "snapshot files bytes replaced kept_aside unchanged errors error_count dry_run actions target renamed")
RestoreResult.__new__.__defaults__ = ((),)  # renamed: (asked, the snapshot's name) where the case differs


NotInSnapshot = catalog.NotInSnapshot


def resolve_wanted(reader, wanted, snapshot_name, fold=None, log=logger):
    """catalog.resolve_wanted, and a log line for each path whose case
    differs in the snapshot: (paths as the snapshot holds them, renamed)."""
    paths, renamed = catalog.resolve_wanted(reader, wanted, snapshot_name, fold)
    for asked, stored in renamed:
        log.info("restoring %s: the snapshot's name for %s", console.printable(stored), console.printable(asked))
    return paths, renamed


_EntryError = restore_work.EntryError


def _selected(rel, wanted):
    """Whether entry ``rel`` is asked for. ``wanted`` holds the snapshot's
    own names (resolve_wanted compared them as the system does), so the
    comparison here is exact."""
    if not wanted:
        return True
    for w in wanted:
        if not w or rel == w or rel.startswith(w + os.sep):
            return True
    return False


class Restorer(object):
    """Writes the selected entries of one snapshot into ``target`` (a
    restore_target.Target, opened once); every write through safedir (see
    the module's docstring).

    This thread reads the snapshot, decides (equal, in the way, a link)
    and makes folders and symbolic links; copying a file (staging it,
    clearing the way, renaming it into place) goes to a pool of
    ``workers`` (fs/pool.py; one: at once, in this thread). What each entry
    changes is tallied in the order of the snapshot (work.py), so
    the result is that of one worker. Folders' times are set at the end,
    when every worker is done."""

    def __init__(self, reader, target, wanted, overwrite, keep_existing, stamp, dry_run=False,
                 stop_event=None, progress=None, log=logger, workers=1, ops=OPS):
        self.reader, self.target, self.wanted = reader, target.path, wanted
        self.overwrite, self.keep_existing, self.stamp = overwrite, keep_existing, stamp
        self.dry_run, self.stop_event, self.progress, self.log = dry_run, stop_event, progress, log
        self.owners = osutil.can_keep_owner()
        self.files = self.bytes = self.replaced = self.kept_aside = self.unchanged = self.error_count = 0
        self.errors, self.actions = [], []
        self.tally = restore_work.Tally(self, None if dry_run else progress)
        self.pool = Pool(1 if dry_run else workers, self._check_stop)
        self._note = None  # the note of the entry this thread is on (for _blocked)
        self._names = {}  # folder rel -> the names in it before this restore wrote there (a few folders)
        self._links = restore_work.Links(getattr(reader, "path", None))  # hard links (folder snapshots)
        self._lock = threading.Lock()
        self._holder = restore_work.Holder()  # the target's folders held open for the jobs
        self._dirs = []  # folder entries made or met: their times and modes after their contents
        self._made_links = set()  # links this restore made: nothing is written below them
        # A ZIP or a remote manifest may hold one name twice, or as a folder its
        # entries imply and as a file.
        untrusted = reader.is_zip or getattr(reader, "untrusted", False)
        self._seen = set() if untrusted else None
        self._implied = set() if untrusted else None
        self._made_dirs = []  # folders made on the way to what was asked (a part of the snapshot)
        self.tree = safedir.Tree(target, stamp, self._blocked, reader.has, self._made_folder, dry_run, log)
        self.stager = restore_work.Stager(self.tree, reader, self.owners, DataCopier(ops, self._check_stop_in_job))
        self._temp_count = 0

    def run(self):
        try:
            self.tree.remove_leftovers()
            for entry in self.reader.entries():
                self._check_stop()
                if _selected(entry.rel, self.wanted):
                    self._entry(entry)
            self._holder.let_go()
            self.pool.finish()  # every file in place
            self.tree.close_chain()
            for entry in reversed(self._dirs + self._made_folders()):  # folders' times after their contents
                folder = self.tree.walk_to(entry.rel)
                if folder is not None:
                    folder.set_own_metadata(entry, self.owners)
                    folder.close()
            self.tree.end_staging()
            self._finish_top()
        except Interrupted:
            self._end_workers()
            raise Interrupted(self._stopped())  # counted once every worker has ended
        except BaseException:
            self._end_workers()
            raise
        finally:
            self.stager.close()
            self._links.close()
            self.tree.close()

    def _made_folder(self, rel):  # made by the tree on the way to an entry below it
        if self._implied is not None:
            self._implied.add(rel)
        self._made_dirs.append(rel)

    def _made_folders(self):
        """The snapshot's entries of the folders made on the way (a part was asked for)."""
        found = (self.reader.entry(rel) for rel in self._made_dirs)
        return [e for e in found if e is not None and e.kind == "dir" and e.source is not None]

    def _finish_top(self):
        if not self.dry_run:
            self.tree.target.finish(self.reader.top, self.owners, self.overwrite and not self.wanted)

    def _check_stop_in_job(self):
        """A worker's check: the pool stopping (a stop, or another job's
        fatal error, which the reading thread raises) ends its job too."""
        if self.pool.stopping():
            raise Interrupted("stopped with the restore")
        self._check_stop()

    def _end_workers(self):
        self.pool.abort()  # no worker writes once this returns
        self._holder.close_all()  # also those of jobs the stop dropped
        self.tally.flush()  # what finished after one that did not is counted too

    def _stopped(self):
        return ("stopped on request: %d file%s restored into %s before it stopped (each one whole, in the folders "
                "they belong in)" % (self.files, "" if self.files == 1 else "s", self.target))

    def _check_stop(self):
        if self.stop_event is not None and self.stop_event.is_set():
            raise Interrupted(self._stopped())

    def _error(self, note, rel, why):
        text = console.printable("%s: %s" % (rel, why))
        note.error(text)
        self.log.warning("not restored: %s", text)

    def _entry(self, entry):
        note = self._note = self.tally.open()
        try:
            self._guarded(note, entry.rel, self._checked, entry, note)
        finally:
            if not note.deferred:  # else the worker that copies the file closes it
                self.tally.close(note)

    def _checked(self, entry, note):
        if not snapshot_reader.safe_rel(entry.rel):
            raise _EntryError("a name that would land outside the target folder: not restored")
        if entry.kind == "error":
            raise _EntryError("could not be read from the backup (%s): not restored" % entry.target)
        if entry.kind == "other":
            raise _EntryError("not a file, folder or link (a device or a pipe): not restored")
        if self._seen is not None:
            key = os.path.normcase(entry.rel)
            if key in self._seen or (entry.kind != "dir" and entry.rel in self._implied):
                raise _EntryError("the snapshot holds this name twice: only the first was restored")
            self._seen.add(key)
        self._one(entry, note)

    def _guarded(self, note, rel, func, *args):
        """``func(*args)``; what fails for this entry alone is its error."""
        try:
            func(*args)
        except _EntryError as exc:
            self._error(note, rel, str(exc))
        except (snapshot_reader.BadZipFile, zlib.error, EOFError) as exc:
            self._error(note, rel, "damaged %s, not restored (%s)" % (self.reader.damaged_where, exc))
        except OSError as exc:
            if osutil.disk_error_is_fatal(exc) or (self.tree.root is not None and not os.path.isdir(self.target)):
                raise BackupError("cannot write to %s (%s): %s" % (self.target, _hint(exc), exc.strerror or exc))
            self._error(note, rel, exc.strerror or str(exc))

    # -- One entry ----------------------------------------------------------------

    def _blocked(self, parent, rel, name):
        """Not a folder where the snapshot needs one: a link or file of the
        user's is cleared away; one this restore made is an entry error."""
        if rel in self._made_links or (self._seen is not None and os.path.normcase(rel) in self._seen):
            raise _EntryError("%s is not a folder in this snapshot: nothing is written below it"
                              % console.printable(rel))
        self._clear_the_way(parent, rel, name, parent.lstat(name), self._note)
        self._note.add("replaced")

    def _one(self, entry, note):
        parent_rel, name = os.path.split(entry.rel)
        folder = self.tree.folder(parent_rel)
        st = self._existing(folder, parent_rel, name)
        if entry.kind == "dir":
            if st is None or not stat.S_ISDIR(st.st_mode) or safedir.is_link(st):
                if st is not None:
                    self._clear_the_way(folder, entry.rel, name, st, note)
                    note.add("replaced")
                    self.tree.cleared(entry.rel)
                if not self.dry_run:
                    folder.mkdir(name, 0o777)
            if not self.dry_run:
                self._dirs.append(entry)
            return
        if st is not None and self._equal(folder, name, st, entry):
            note.add("unchanged")
            return
        if self.dry_run:
            if st is not None:
                self._clear_the_way(folder, entry.rel, name, st, note)
                note.add("replaced")
            note.restored(entry.rel, entry.size)
            return
        self.tree.staging()  # made here, before any worker needs it
        self._temp_count += 1
        if entry.kind == "file" and self.pool.workers > 1:
            self._submit_file(entry, self._holder.hold(parent_rel, folder), name, st, note, str(self._temp_count))
            return
        self._put(entry, folder, name, st, note, str(self._temp_count), self._links.of(entry))  # at once, here
        if entry.kind == "link":
            self._made_links.add(entry.rel)

    def _existing(self, folder, parent_rel, name):
        """lstat of ``name`` in ``folder``, asked only when the folder held
        that name before this restore wrote there: one listing per folder
        instead of a round trip per file on a share (a name made meanwhile
        by someone else is replaced, as it would be a moment later)."""
        if folder is None:
            return None
        names = self._names.get(parent_rel)
        if names is None:
            if len(self._names) >= 16:  # the folders of the current path, about
                self._names.clear()
            names = self._names[parent_rel] = {os.path.normcase(n) for n in folder.names()}
        return folder.lstat(name) if os.path.normcase(name) in names else None

    def _submit_file(self, entry, held, name, st, note, tmp):
        """Hand the copy of file ``entry`` to the pool; its note is closed
        by the job. A file's later names (hard links) wait for its earlier."""
        folder = held.take()
        linked, wait_for, done = self._links.of(entry), None, None
        if linked is not None:
            done = threading.Event()
            with self._lock:
                wait_for, linked.last = linked.last, done

        def job():
            try:
                while wait_for is not None and not wait_for.wait(0.1):
                    self._check_stop_in_job()
                self._guarded(note, entry.rel, self._put, entry, folder, name, st, note, tmp, linked)
            finally:
                held.release()
                if done is not None:
                    done.set()
                    with self._lock:
                        if linked.last is done:
                            linked.last = None  # no event kept per file
                self.tally.close(note)
        note.deferred = True
        self.pool.submit(held, job)

    def _put(self, entry, folder, name, st, note, tmp, linked):
        """Stage ``entry`` as ``tmp``, clear the way, rename it into place."""
        staging = self.stager.staged(entry, tmp, linked)
        try:
            if st is not None:
                self._clear_the_way(folder, entry.rel, name, st, note)
            staging.move(tmp, folder, name)
        except BaseException:
            with contextlib.suppress(OSError):
                staging.remove(tmp)
            raise
        if st is not None:
            note.add("replaced")
        if linked is not None:
            linked.place = (os.path.dirname(entry.rel), name)
        note.restored(entry.rel, entry.size)

    def _equal(self, folder, name, st, entry):
        if entry.kind == "link":
            return stat.S_ISLNK(st.st_mode) and folder.readlink(name) == entry.target
        return (stat.S_ISREG(st.st_mode) and st.st_size == entry.size
                and same_mtime(st.st_mtime_ns, entry.mtime_ns))

    def _clear_the_way(self, folder, rel, name, st, note):
        """What is at ``name`` and differs from the snapshot: kept beside as
        NAME.before-restore-<time>.EXT, or (without keep_existing) removed when
        a folder must go there; a file or link is then replaced by the rename."""
        what = "a symbolic link" if safedir.is_link(st) else "a folder" if stat.S_ISDIR(st.st_mode) else "a file"
        if not self.overwrite:
            raise UsageError("%s exists in the target (%s): add --overwrite to keep it aside and restore the "
                             "snapshot's" % (console.printable(rel), what))
        if not self.keep_existing:
            if what == "a folder":
                raise _EntryError("a folder is in the way (not replaced with --no-keep-existing)")
            note.action("replace", rel)
            if not self.dry_run:
                folder.remove(name)
            return
        # The extension stays last, so the file kept aside still opens with a double-click:
        # cv.before-restore-<time>.docx (a folder, a link or a dotfile: the name, then the mark).
        base, ext = os.path.splitext(name) if what == "a file" else (name, "")
        aside, n = "%s.before-restore-%s%s" % (base, self.stamp, ext), 2
        while folder.lstat(aside) is not None:
            aside, n = "%s.before-restore-%s_%d%s" % (base, self.stamp, n, ext), n + 1
        note.action("keep aside", rel + " -> " + aside)
        if not self.dry_run:
            folder.move(name, folder, aside)
        note.add("kept_aside")


def _hint(exc):
    if getattr(exc, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "disk full"
    return "drive unplugged or not writable"


def restore(task, snapshot_name, target, wanted=(), overwrite=False, keep_existing=True, dry_run=False,
            stop_event=None, progress=None, clock=None, zone=LOCAL, log=None, ops=OPS, fold=None, new_folder=False):
    """Restore ``wanted`` (paths relative to src; all when empty) from
    ``snapshot_name`` of ``task`` into ``target``, with as many workers as
    ``task.parallel`` says (work.workers). Returns a RestoreResult.
    UsageError for a target it must not write into; BackupError when the
    target as a whole fails (disk full, drive gone); Interrupted when
    ``stop_event`` is set; NotInSnapshot for a path the snapshot does not
    hold. Names compare as the system does (``fold``: osutil.name_fold).
    The target is opened once (target.py), never by its path again;
    with ``new_folder`` it must be made by this restore (a folder there
    already, made by another account perhaps, is refused)."""
    log = log or task_log(logger, task.name)  # every line of a restore names its task
    path = os.path.join(task.dest, snapshot_name)
    stamp = local_datetime(clock(), zone).strftime("%Y-%m-%d_%H-%M-%S")
    with restore_target.open_target(task, target, overwrite, must_create=new_folder) as opened:
        try:
            reader = snapshot_reader.SnapshotReader(path)
        except (OSError, snapshot_reader.BadZipFile) as exc:
            raise BackupError("cannot read the snapshot %s: %s" % (path, exc))
        with reader:
            wanted, renamed = resolve_wanted(reader, wanted, snapshot_name, fold, log)
            workers = 1 if dry_run else restore_work.workers(task.parallel, opened.path, path, log)
            restorer = Restorer(reader, opened, wanted, overwrite, keep_existing, stamp, dry_run,
                                stop_event, progress, log, workers, ops)
            try:
                restorer.run()
            except (OSError, snapshot_reader.BadZipFile) as exc:
                raise BackupError("the restore could not be completed: %s" % exc)
    log.info("%s %d file%s (%s) from %s into %s%s", "would restore" if dry_run else "restored", restorer.files,
             "" if restorer.files == 1 else "s", console.human_bytes(restorer.bytes), snapshot_name, opened.path,
             "; %d kept aside" % restorer.kept_aside if restorer.kept_aside else "")
    return RestoreResult(path, restorer.files, restorer.bytes, restorer.replaced, restorer.kept_aside,
                         restorer.unchanged, restorer.errors, restorer.error_count, dry_run, restorer.actions,
                         opened.path, tuple(renamed))
