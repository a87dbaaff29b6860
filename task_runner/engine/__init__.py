"""The copy engine: build one snapshot of a task's ``src`` inside its ``dest``.

A snapshot is built as ``NAME.partial`` and renamed only when complete
(snapshots/__init__.py says what a snapshot is). The walk (walk.py) streams the
source; a writer (writers.py) makes the folder or the ZIP archive. With
``incremental`` a file whose size, modification time, mode (and owner, as
root) match the newest complete snapshot is hard-linked to it instead of
copied (like ``rsync --link-dest``); a file found under another path of
that snapshot (moved, renamed, copied: index.py) is linked from there; a
changed file is always written fresh, so a published snapshot never changes.

Errors come in two kinds:
* per file (unreadable, vanished, locked, a name the destination cannot
  hold): the file is skipped and named in ``errors``; the run goes on;
* whole run (source missing or empty, destination missing, read-only or
  full): BackupError; the ``.partial`` is removed, earlier snapshots are
  untouched.
"""

import collections
import logging
import os
import time

from ..fs import drive, filesystems, osutil, private_folder
from .. import snapshots
from ..errors import BackupError, Interrupted
from ..config.excludes import Matcher
from ..clock import LOCAL
from ..snapshots import PARTIAL, list_snapshots, new_snapshot_name, newest_folder_snapshot, remove_leftovers
from ..fs.fileio import OPS
from ..fs.pool import Pool, workers_for
from .previous import DryRunWriter
from .walk import Stats, Walk, reason
from .writers import FolderWriter
from .index import IndexWriter, remove_stale_temporaries, sqlite3
from .moved import PreviousIndexes

logger = logging.getLogger(__name__)

EngineResult = collections.namedtuple(
    "EngineResult", "snapshot files bytes copied linked bytes_copied errors error_count warnings dry_run symlinks "
                    "moved")


def _check_source(src):
    if not os.path.isdir(src):
        if os.path.exists(src):
            raise BackupError("source %s is not a folder: set src to the folder to back up" % src)
        raise BackupError("source folder %s not found: is the drive connected? "
                          "Check src in config.json" % src)
    try:
        os.scandir(src).close()
    except OSError as exc:  # the walk checks again (Walk._listing): it may change in between
        raise BackupError("source folder %s cannot be read: %s: give the account that runs the backup "
                          "read access to it (nothing was backed up; the run is retried)" % (src, reason(exc)))


def incomplete_reason(seen, skipped):
    """Why a run that met ``seen`` entries of src and skipped ``skipped``
    (files or folders it could not read or write) is not a backup at all,
    or None when its snapshot may be published (as ``partial`` when
    ``skipped``). The rule (docs/REFERENCE.md, "Outcomes"): the run fails
    when more than half of what it met was skipped; the root folder that
    cannot be read fails it before (``_check_source``)."""
    if skipped and skipped * 2 > max(seen, skipped):
        return ("%d of the %d entries of the source could not be read: more than half, so this is not "
                "a backup (nothing was published; earlier snapshots are untouched; the run is retried)"
                % (skipped, max(seen, skipped)))
    return None


def _is_empty(path):
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _snapshot_is_empty(path):
    if path.endswith(".zip"):
        import zipfile  # only ZIP tasks pay for it
        try:
            with zipfile.ZipFile(path) as zf:
                return not zf.namelist()
        except (OSError, zipfile.BadZipFile):
            return True
    return _is_empty(path)


def _check_not_empty(src, dest, allow_empty):
    """An empty source replacing a non-empty backup is an unmounted drive
    until the task says otherwise (allow_empty)."""
    if allow_empty or not _is_empty(src):
        return
    previous = list_snapshots(dest)
    if previous and not _snapshot_is_empty(os.path.join(dest, previous[-1])):
        raise BackupError("source %s is empty but the last backup (%s) was not: is the drive "
                          "mounted? Set \"allow_empty\": true if the folder really is empty now"
                          % (src, previous[-1]))


def _prepare_dest(dest, create=True):
    """Check that ``dest`` can take a snapshot, making the folder when only
    it is missing. ``create`` False (a dry run) checks the same, changing
    nothing."""
    foreign = private_folder.untrusted(dest)
    if foreign:  # (found from outside: root's backup took over the folder such a link led to)
        raise BackupError(private_folder.untrusted_message(dest, foreign))
    if os.path.isdir(dest):
        if not create and not os.access(dest, os.W_OK):
            raise BackupError("cannot write to the destination %s: permission denied" % dest)
        return
    if os.path.lexists(dest):
        raise BackupError("destination %s exists but is not a folder: set dest to a folder" % dest)
    problem = drive.missing_problem(dest)
    if problem:  # an unplugged drive must fail the run, not fill the system disk
        raise BackupError(problem)
    if not create:
        return
    try:
        os.mkdir(dest, 0o700)  # private from the start (fs/private_folder.py)
    except OSError as exc:
        raise BackupError("cannot create the destination folder %s: %s" % (dest, exc.strerror or exc))


def _ready_dest(dest, log, private_marks):
    """``dest`` made where missing, private, and rid of what killed runs left."""
    _prepare_dest(dest)
    private_folder.keep_private(dest, log, private_marks)
    remove_leftovers(dest, log)


def _open_writer(task, root, stats, ops, stop_event, previous, log, pool):
    if task.format == "zip":
        from .zip_writer import ZipWriter  # only ZIP tasks load zipfile
        return ZipWriter(root, stats, ops, stop_event)  # one stream: never a worker
    # The real clock, as the file system stamps ctimes with it (the next run compares them).
    index = IndexWriter(root, previous, pool.workers, int(time.time() * 10 ** 9)) if sqlite3 is not None else None
    if index is not None:
        # Against the files' own times, which are the real clock's: a run given another time (a
        # test's, a clock set years ahead) must not take the live temporaries of other runs for stale.
        remove_stale_temporaries(time.time())
    if index is not None and index.broken:
        log.warning("%s: moved files will be copied again by the next run", index.broken)
        index = None
    try:
        return FolderWriter(root, stats, ops, stop_event, previous, log, pool,
                            index, _previous_indexes(task.dest, previous))
    except BaseException:
        if index is not None:
            index.abandon()  # its temporary file too
        raise


def _previous_indexes(dest, previous):
    """The indexes of the newest folder snapshots (moved.LOOK_BACK), or
    None: where moved files and files that came back are looked up."""
    if not previous:
        return None
    older = [osutil.long_path(os.path.join(dest, n)) for n in reversed(list_snapshots(dest))
             if not n.endswith(".zip")]
    return PreviousIndexes.open([previous] + [p for p in older if p != previous])


def _close_indexes(writer, log):
    """Complete the new snapshot's index (before it is published) and let
    go of the previous one's."""
    index = getattr(writer, "index", None)
    if index is not None:
        index.close()
        if index.broken:
            log.warning("%s: moved files will be copied again by the next run", index.broken)
    _drop_previous_index(writer)


def _drop_previous_index(writer):
    previous_index = getattr(writer, "previous_index", None)
    if previous_index is not None:
        previous_index.close()
        writer.previous_index = None


def _workers(task, dest, workers, log):
    if task.format == "zip":
        return 1
    if workers is None:
        network = filesystems.network_filesystem(dest) if task.parallel == "auto" else None
        workers, why = workers_for(task.parallel, network)
        log.info("%d %s copying: %s", workers, "worker" if workers == 1 else "workers", why)
    return workers


def _run_walk(walk, writer, progress):
    for kind, rel, entry, st in walk.events():
        if kind == "file":
            writer.file(rel, entry, st)
            if progress is not None:
                progress(walk.stats, rel)
        elif kind == "dir":
            if not writer.dir(rel, entry, st):
                walk.refuse()
        elif kind == "end":
            writer.end(rel, st)
        else:
            writer.link(rel, entry, st)


def _start_partial(partial, dest, as_zip):
    """The long-path form of ``partial``, made now for a folder snapshot
    (a ZIP writer makes its file itself)."""
    root = osutil.long_path(partial)
    if not as_zip:
        try:
            os.mkdir(root)
        except OSError as exc:
            raise BackupError("cannot write to the destination %s: %s" % (dest, exc.strerror or exc))
    return root


def make_snapshot(task, started, zone=LOCAL, stop_event=None, log=logger, ops=OPS,
                  progress=None, dry_run=False, listing=None, workers=None, low_priority=False, private_marks=None):
    """Back up ``task.src`` into a new snapshot in ``task.dest``.

    ``task`` needs src, dest, incremental, exclude, format and allow_empty.
    ``progress(stats, rel)`` is called after each file. With ``dry_run``
    nothing is written: the destination is checked as a run would, and the
    result counts what would be copied and linked (``listing(action, rel)``
    hears of each file, action "copy" or "link"). ``workers`` threads (None:
    as ``task.parallel`` says) do the per-file work of a folder snapshot
    (fs/pool.py), each at low priority when ``low_priority``. ``dest`` is kept
    private (fs/private_folder.py; ``private_marks``: the folder of its
    Windows marks, the lock folder beside the history).
    Raises BackupError when the run as a whole fails and Interrupted when
    ``stop_event`` is set; in both cases the ``.partial`` is removed.
    """
    src, dest = task.src, task.dest
    _check_source(src)
    _check_not_empty(src, dest, task.allow_empty)
    stats = Stats(log)
    matcher = Matcher(task.exclude or ())
    as_zip = task.format == "zip"
    previous = newest_folder_snapshot(dest) if task.incremental and not as_zip else None
    previous = previous and osutil.long_path(previous)

    def check_stop():
        if stop_event is not None and stop_event.is_set():
            raise Interrupted("stopped on request before the backup was complete")

    if dry_run:
        return _dry_run(Walk(osutil.long_path(src), matcher, stats, check_stop), dest, previous, listing, ops,
                        progress)

    _ready_dest(dest, log, private_marks)
    final = os.path.join(dest, new_snapshot_name(dest, started, zone, as_zip))
    partial = final + PARTIAL
    root = _start_partial(partial, dest, as_zip)
    writer = None
    try:
        try:
            writer = _open_writer(task, root, stats, ops, stop_event, previous, log,
                                  Pool(_workers(task, dest, workers, log), check_stop, low_priority, log))
            walk = Walk(osutil.long_path(src), matcher, stats, check_stop)
            _run_walk(walk, writer, progress)
            writer.close(os.stat(src))  # every worker done; the snapshot's top as the source folder
            _close_indexes(writer, log)
            _check_enough_read(stats)
            check_stop()  # a run stopped (or timed out) at the very end is not published
            _record_incomplete(stats, dest, final)
            osutil.flush_filesystem(dest)
            os.rename(partial, final)
            osutil.fsync_dir(dest)
        except OSError as exc:  # the source or destination as a whole went away
            raise BackupError("the backup could not be completed: %s" % exc)
    except BaseException:
        _discard(writer, dest, partial, log)
        raise
    if previous is not None and not stats.linked and stats.copied and not as_zip:
        log.debug("no file could be linked to %s", previous)
    return _result(final, stats, False)


def _dry_run(walk, dest, previous, listing, ops, progress):
    """What a run would do (make_snapshot with ``dry_run``), changing
    nothing: what it would copy, link and find moved."""
    _prepare_dest(dest, create=False)
    previous_index = _previous_indexes(dest, previous)
    try:
        _run_walk(walk, DryRunWriter(walk.stats, previous, listing, ops, previous_index), progress)
    finally:
        if previous_index is not None:
            previous_index.close()
    _check_enough_read(walk.stats)
    return _result(None, walk.stats, True)


def _check_enough_read(stats):
    """BackupError when the run read too little to be a backup (incomplete_reason)."""
    too_few = incomplete_reason(stats.seen, stats.error_count)
    if too_few:
        raise BackupError(too_few)


def _record_incomplete(stats, dest, final):
    """A partial run's record beside its snapshot, written before it is
    published, so that a published partial snapshot always has one."""
    if stats.error_count:
        snapshots.write_incomplete(dest, os.path.basename(final), stats.skipped_paths)


def _discard(writer, dest, partial, log):
    """A run that failed or was stopped: end every worker, then remove the
    ``.partial``."""
    if writer is not None:
        writer.abandon()  # no worker writes into the .partial any more
        if getattr(writer, "index", None) is not None:
            writer.index.abandon()
        _drop_previous_index(writer)
    if os.path.lexists(partial):
        try:
            snapshots.delete_snapshot(dest, os.path.basename(partial))
        except OSError as exc:
            log.warning("could not remove %s (the next run will): %s", partial, exc)


def _result(snapshot, stats, dry_run):
    return EngineResult(snapshot, stats.files, stats.bytes, stats.copied, stats.linked,
                        stats.bytes_copied, stats.errors, stats.error_count, stats.warnings, dry_run,
                        stats.symlinks, stats.moved)
