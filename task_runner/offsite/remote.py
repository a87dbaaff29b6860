"""Getting files back from the remote alone: listing its complete
snapshots, restoring one (or some of its paths); verify.py compares one
with the local snapshot of the same name.

A restore downloads what it needs into a hidden folder inside the target
(``.offsite-download-<time>``, removed at the end), then writes the
snapshot's entries from the manifest through restore.Restorer, with every
safety rule of a local restore (safedir: no link in the target followed,
staging, kept-aside files): contents, modification times, permission bits,
symbolic links and empty folders come back as a local restore gives them.
A downloaded file whose size or MD5 differs from the manifest's is an
entry error (the remote copy is damaged): never restored; a ZIP snapshot
is first checked whole (size, MD5), then each member by its CRC. The local
``dest`` is not needed.
"""

import logging
import os
import re
import time

from ..snapshots import catalog, reader as snapshot_reader
from ..restore import restorer as restore, target as restore_target, work as restore_work
from ..fs import locking, osutil, removal, safedir
from ..errors import BackupError, Interrupted, UsageError
from ..logs import task_log
from ..clock import LOCAL, local_datetime
from . import layout
from .rclone import RcloneError, explain
from .upload import check_local_drive, remote_listing

logger = logging.getLogger(__name__)

DAMAGED = "rclone could not read it as the remote records it: another hash, or it does not decrypt"
DOWNLOAD_PREFIX = ".offsite-download-"
DOWNLOAD_MARK = ".offsite-download"
_DOWNLOAD_RE = re.compile(r"^\.offsite-download-[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(-[0-9]+)?$")


def _new_download_folder(root, stamp):
    """(name, descriptor, path to give rclone, its mark's descriptor) of a new folder of ours in the open
    target folder ``root`` (a name nobody has taken); made and marked through the open folders, never by
    path. The mark stays locked while the restore lives: no other restore removes it (_remove_leftovers)."""
    for n in range(1000):
        name = DOWNLOAD_PREFIX + stamp + ("-%d" % n if n else "")
        try:
            root.mkdir(name, 0o700)
        except FileExistsError:
            continue
        folder = root.sub(name)
        try:
            mark = folder.create(DOWNLOAD_MARK)
            locking.try_lock(mark)
            fd, where = osutil.pin_folder(folder.path, folder.fd)
        finally:
            folder.close()
        return name, fd, where, mark
    raise BackupError("cannot make a download folder in %s: %s* names are all taken" % (root.path, DOWNLOAD_PREFIX))


def _remove_download(path, fd):
    """Remove the download folder: where it is now (it may have been moved
    and a link put in its place), never through a link."""
    path = osutil.pinned_folder_now(fd, path)
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        removal.remove_tree(path)


def _remove_leftovers(root, log):
    """Remove the download folders a killed restore left in the open
    target folder ``root`` (ours by name and mark file, never through a
    link), never one a running restore holds (its mark is locked)."""
    for name in root.names():
        if _DOWNLOAD_RE.match(name) and safedir.abandoned(root, name, DOWNLOAD_MARK):
            root.remove_tree(name)
            log.info("removed %s, left by an interrupted restore from the remote", root.join(name))


def complete_snapshots(rc, task):
    """The complete snapshot names on the task's remote, oldest first. None
    on a local remote whose drive is away is not an empty copy: it raises
    upload.DriveMissing (as an upload there does)."""
    complete = remote_listing(rc, task.offsite.remote)[0]
    if not complete:
        check_local_drive(rc, task.offsite.remote)
    return complete


def read_manifest(rc, task, name):
    """The checked manifest of remote snapshot ``name`` (layout.loads)."""
    result = rc.run(["cat", layout.join(task.offsite.remote, layout.manifest_name(name))], timeout=600)
    if result.code != 0:
        raise RcloneError("cannot read the manifest of %s: %s" % (name, explain(result.code, result.error)))
    try:
        return layout.loads(result.data, name)
    except layout.ManifestError as exc:
        raise BackupError(str(exc))


class ManifestReader(object):
    """A snapshot as restore.Restorer reads it: entries from the manifest,
    contents from the download folder (opened without following links)."""

    is_zip = False
    untrusted = True  # a remote others may write: names are checked like a ZIP's
    damaged_where = "on the remote"

    def __init__(self, doc, download_root, damaged=frozenset()):
        self.doc, self.root = doc, download_root
        self._damaged = damaged  # rels whose download rclone found damaged (and removed)
        self._md5 = {item["path"].replace("/", os.sep): item["md5"] for item in doc["entries"]
                     if item["kind"] == "file" and layout.has_md5(item)}
        self._by_rel = self._by_folder = None
        self._names = set()  # every path, and the folders on the way to it
        for item in doc["entries"]:
            parts = item["path"].replace("/", os.sep).split(os.sep)
            self._names.update(os.sep.join(parts[:i]) for i in range(1, len(parts) + 1))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def entries(self):
        return layout.entries(self.doc, self.root)

    def has(self, rel):
        return rel in self._names

    def entry(self, rel):
        """The manifest's Entry of ``rel`` (os.sep-separated), or None (the
        restorer asks for the folders it made on the way to a path asked for)."""
        if self._by_rel is None:
            self._by_rel = {e.rel: e for e in self.entries()}
        return self._by_rel.get(rel.replace("/", os.sep))

    def children(self, rel_dir):
        """The entries directly in folder ``rel_dir`` ("" for the top), sorted
        by name (catalog.resolve_wanted looks names up through them)."""
        if self._by_folder is None:
            self._by_folder = {}
            for e in self.entries():
                self._by_folder.setdefault(os.path.dirname(e.rel), []).append(e)
        return sorted(self._by_folder.get(rel_dir.replace("/", os.sep), []), key=lambda e: e.rel)

    def top(self):
        """The manifest keeps no entry for the snapshot's own folder."""
        return None

    def open_checked(self, entry):
        """(file object, entry): what the restorer reads (the manifest's metadata)."""
        return self.open(entry), entry

    def open(self, entry):
        if entry.rel in self._damaged:
            raise restore_work.EntryError("damaged on the remote, not restored: %s" % DAMAGED)
        try:
            fd = os.open(entry.source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise restore_work.EntryError("not restored: it did not download (missing on the remote, or "
                                          "rclone could not read it there)")
        f = os.fdopen(fd, "rb")
        size = os.fstat(fd).st_size
        if size != entry.size:
            f.close()
            raise restore_work.EntryError("damaged on the remote, not restored: the downloaded copy has %d bytes, "
                                          "the manifest says %d" % (size, entry.size))
        expected = self._md5.get(entry.rel)
        if expected is not None:
            try:
                got = layout.stream_md5(f)
                f.seek(0)
            except BaseException:
                f.close()
                raise
            if got != expected:
                f.close()
                raise restore_work.EntryError("damaged on the remote, not restored: the downloaded copy's MD5 is %s, "
                                              "the manifest says %s" % (got, expected))
        return f


_NOT_FOUND = re.compile(r"directory not found|object not found", re.I)


def _download(rc, task, name, wanted, folder, stop_event):
    """Download remote snapshot ``name`` (only ``wanted`` paths when given) into ``folder``; the paths
    rclone found damaged on the way (and did not keep: each is reported, the rest restored)."""
    source = layout.join(task.offsite.remote, name)
    if _everything(wanted):
        wanted = ()
    if name.endswith(".zip"):
        args = ["copyto", source, os.path.join(folder, name)]
    else:
        args = ["copy", source, folder]
        for rel in wanted:
            pattern = rel.replace(os.sep, "/").replace("\\", "\\\\")
            for char in "*?[]{}":
                pattern = pattern.replace(char, "\\" + char)
            args += ["--filter", "+ /" + pattern, "--filter", "+ /" + pattern + "/**"]
        if wanted:
            args += ["--filter", "- **"]
    result = rc.run(args, stop_event=stop_event, on_stats=lambda stats: None)
    if result.code is None or (stop_event is not None and stop_event.is_set()):  # (Ctrl+C reaches rclone too)
        raise Interrupted("the download from the remote was stopped; nothing was restored")
    if result.code != 0 and result.damaged and name.endswith(".zip"):  # (S3: rclone checks its MD5 itself)
        raise BackupError(_zip_refused(name, DAMAGED))
    if result.code != 0 and not result.damaged and (result.code in (3, 4) or _NOT_FOUND.search(result.error or "")):
        raise BackupError(_gone(task, name))  # (the remote path itself was found: it lists this manifest)
    if result.code != 0 and not result.damaged:
        raise BackupError("the download from the remote failed: %s" % explain(result.code, result.error))
    return frozenset(p.replace("/", os.sep) for p in result.damaged)


def restore_remote(rc, task, spec, target, wanted=(), overwrite=False, keep_existing=True, stop_event=None,
                   progress=None, clock=time.time, zone=LOCAL, log=None, dry_run=False):
    """Restore ``wanted`` (paths relative to src; all when empty) of remote
    snapshot ``spec`` (name, latest or date) into ``target``: (name,
    restore.RestoreResult). With ``dry_run`` nothing is downloaded or
    written: what would be restored, from the manifest alone."""
    log = log or task_log(logger, task.name)  # every line of a restore names its task
    name = catalog.choose_among(complete_snapshots(rc, task), spec, task.name, rc.redact(task.offsite.remote))
    doc = read_manifest(rc, task, name)
    made_by = doc.get("task")
    if isinstance(made_by, str) and made_by != task.name:  # said, not refused: a task may have been renamed
        log.warning("the remote snapshot %s was made by the task \"%s\", not \"%s\" (renamed since, or "
                    "offsite.remote names another task's copy): restoring it as asked", name, made_by, task.name)
    renamed = []  # (asked, the snapshot's name) where the case differs
    if not name.endswith(".zip"):  # (a ZIP's names are known once it is downloaded)
        wanted = _resolved(ManifestReader(doc, ""), wanted, name, renamed, log)
    with restore_target.open_target(task, target, overwrite, _DOWNLOAD_RE.match) as opened:
        if opened.exists() and not dry_run:
            _remove_leftovers(opened.open(), log)
        stamp = local_datetime(clock(), zone).strftime("%Y-%m-%d_%H-%M-%S")
        restorer = _dry_run(task, name, doc, opened, wanted, overwrite, keep_existing, stop_event, stamp, log) \
            if dry_run else _restore_downloaded(rc, task, name, doc, opened, wanted, overwrite, keep_existing,
                                                stop_event, progress, stamp, log, renamed)
    log.info("%s %d file(s) from the remote snapshot %s into %s", "would restore" if dry_run else "restored",
             restorer.files, name, target)
    return name, restore.RestoreResult(layout.join(rc.redact(task.offsite.remote), name), restorer.files,
                                       restorer.bytes, restorer.replaced, restorer.kept_aside, restorer.unchanged,
                                       restorer.errors, restorer.error_count, dry_run, restorer.actions, opened.path,
                                       tuple(renamed))


def _resolved(reader, wanted, name, renamed, log):
    """``wanted`` as remote snapshot ``name`` holds them (catalog.resolve_wanted,
    as a local restore: NotInSnapshot with the closest names for a path it
    does not hold); the names that differ in case are added to ``renamed``."""
    paths, differ = restore.resolve_wanted(reader, list(wanted), name, log=log)
    renamed.extend(differ)
    return paths


def _dry_run(task, name, doc, opened, wanted, overwrite, keep_existing, stop_event, stamp, log):
    """What a restore of remote snapshot ``name`` would do, from its
    manifest: nothing downloaded, nothing written."""
    if name.endswith(".zip"):
        raise UsageError("--dry-run cannot look inside %s, a ZIP snapshot on the remote, without downloading it: "
                         "restore it into a new folder instead (--to a folder that does not exist yet)" % name)
    restorer = restore.Restorer(ManifestReader(doc, ""), opened, list(wanted), overwrite,
                                keep_existing, stamp, dry_run=True, stop_event=stop_event, log=log)
    restorer.run()
    return restorer


def _restore_downloaded(rc, task, name, doc, opened, wanted, overwrite, keep_existing, stop_event, progress,
                        stamp, log, renamed):
    """Download into a folder of ours inside the target, then restore from it."""
    download, fd, where, mark = _new_download_folder(opened.open(), stamp)
    download = os.path.join(opened.path, download)
    done = False
    try:
        damaged = _download(rc, task, name, wanted, where, stop_event)
        if _everything(wanted) and not damaged and not name.endswith(".zip") and _no_file_came(doc, where):
            raise BackupError(_gone(task, name))
        if name.endswith(".zip"):
            reader = _downloaded_zip(os.path.join(where, name), doc, name)
        else:
            reader = ManifestReader(doc, where, damaged)
        with reader:
            if name.endswith(".zip"):
                wanted = _resolved(reader, wanted, name, renamed, log)
            restorer = restore.Restorer(reader, opened, list(wanted), overwrite, keep_existing, stamp,
                                        stop_event=stop_event, progress=progress, log=log,
                                        workers=restore_work.workers(task.parallel, opened.path, download, log))
            restorer.run()
            done = restorer.files > 0  # else a folder it made is not left behind, empty
    except OSError as exc:
        raise BackupError("the restore could not be completed: %s" % (exc.strerror or exc))
    finally:
        os.close(mark)  # (Windows removes no open file)
        _remove_download(download, fd)
        if not done:
            opened.remove_if_unused()  # stopped or failed before anything was restored: no folder is left behind
    return restorer


def _everything(wanted):
    """Whether paths ``wanted`` ask for the whole snapshot: none, or the top (src itself) among them."""
    return not wanted or not all(wanted)


def _gone(task, name):
    return ("the %s of %s %s not on the remote, only its manifest (deleted there by hand or by another program?): "
            "nothing was restored; \"backup_now.py snapshots %s --offsite\" lists the other copies there"
            % ("ZIP" if name.endswith(".zip") else "files", name, "is" if name.endswith(".zip") else "are",
               task.name))


def _no_file_came(doc, where):
    """Whether the manifest lists files and not one was downloaded into
    ``where`` (an object store has no folder to be missing: rclone copies
    nothing from a prefix that holds nothing, and says nothing)."""
    if not any(e["kind"] == "file" for e in doc["entries"]):
        return False
    return not any([f for f in files if not (folder == where and f == DOWNLOAD_MARK)]
                   for folder, _, files in os.walk(where))


def _zip_refused(name, why):
    return ("%s on the remote is not the ZIP that was uploaded (%s): it was damaged or replaced there; nothing was "
            "restored. Restore another snapshot (--snapshot), or from the backup drive (without --offsite); what is "
            "still whole in it can be taken out by hand (rclone copyto, then 7-Zip)" % (name, why))


def _downloaded_zip(path, doc, name):
    """A SnapshotReader of the ZIP snapshot downloaded to ``path``, once it
    is the very file remote snapshot ``name``'s manifest ``doc`` describes
    (its size, and its MD5 where the manifest has one): a ZIP damaged or
    replaced on the remote (another snapshot's, whose members' CRCs are
    all right) is refused, never restored from. Its members are then
    checked by their CRCs as they are read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        md5 = layout.stream_md5(f) if layout.has_md5(doc) and size == doc["bytes"] else None
    if size != doc["bytes"] or md5 not in (None, doc.get("md5")):
        raise BackupError(_zip_refused(name, "%d bytes, the manifest says %d" % (size, doc["bytes"])
                                       if size != doc["bytes"] else "its MD5 is %s, the manifest says %s"
                                       % (md5, doc["md5"])))
    try:
        reader = snapshot_reader.SnapshotReader(path)
    except snapshot_reader.BadZipFile as exc:
        raise BackupError("%s on the remote is damaged (%s): nothing was restored" % (name, exc))
    reader.damaged_where = "on the remote"
    return reader
