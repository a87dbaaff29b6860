"""What the programs print for offsite copies: --check's rclone lines, the
upload's progress and summary, --snapshots/--restore/--verify --offsite.
The entry scripts only call these."""

import os
import sys
import threading
import time

from ..snapshots import catalog
from .. import console, errors
from ..fs import osutil
from ..console import ProgressLine, human_bytes, plural
from ..config.values import remote_name
from ..errors import UsageError
from ..logs import task_log
from ..restore import report
from ..runs.locks import offsite_lock
from . import prelink, rclone, remote, service, verify as remote_verify


def check_problems(config):
    """--check: rclone missing or too old, remote names rclone's config
    does not define. Nothing contacts a remote."""
    tasks = [t for t in config.tasks if t.offsite is not None]
    if not tasks:
        return []
    try:
        rc = service.make_rclone(config)
        problem = rclone.version_problem(rc.version())
        if problem:
            return ["offsite: %s" % problem]
        names = rc.remotes()
    except rclone.RcloneError as exc:
        return ["offsite: %s" % exc]
    out = []
    for task in tasks:
        name = remote_name(task.offsite.remote)
        if name not in names:
            out.append("%s: offsite: rclone's config has no remote named \"%s\" (it has: %s): set it up with "
                       "\"rclone config\", or correct \"offsite\"" % (task.name, name, ", ".join(names) or "none"))
    for i, task in enumerate(tasks):  # (a pair of copies in one folder once: against the earlier tasks)
        shared = prelink.local_folder_problem(rc, task, config.tasks, copies_of=tasks[:i])
        if shared:
            out.append("%s: offsite: %s" % (task.name, shared))
    return out


class UploadProgress(object):
    """One live line (console.ProgressLine) for an upload, from rclone's statistics."""

    def __init__(self, stream, name):
        self.line, self.name = ProgressLine(stream), name

    def __call__(self, stats):
        self.line.show("offsite %s: %s of %s, %s of %s files, %s/s" % (
            self.name, human_bytes(stats.get("bytes") or 0), human_bytes(stats.get("totalBytes") or 0),
            stats.get("transfers") or 0, stats.get("totalTransfers") or 0, human_bytes(stats.get("speed") or 0)))

    def clear(self):
        self.line.clear()


class UploadStop(object):
    """backup_now's Ctrl+C while an upload runs: it stops only the upload."""

    def __init__(self):
        self.event = threading.Event()
        self.active = False

    def claim(self):
        """Stop the running upload; False when none runs (or it was already asked)."""
        if not self.active or self.event.is_set():
            return False
        console.print_safe("stopping the offsite copy (the local snapshot stays)...", sys.stderr)
        self.event.set()
        return True


def upload_after_run(config, task, status, stop, notifier):
    """backup_now, after a run that ended ``status``: upload the new
    snapshot of a task with ``offsite`` and wait, showing progress on a
    terminal (``stop``: an UploadStop); prints one line. Returns the
    upload's record, or None when there was nothing to upload."""
    if task.offsite is None or status not in service.LOCAL_DONE:
        return None
    progress = None
    if sys.stderr is not None and sys.stderr.isatty():
        progress = UploadProgress(sys.stderr, task.name)
    console.print_safe("%s: copying the new snapshot offsite to %s (Ctrl+C stops only this copy)"
                       % (task.name, service.shown_remote(task)))
    stop.active = True
    try:
        record = service.upload_now(config, task, "manual", stop.event, progress, notifier)
    finally:
        stop.active = False
        stop.event.clear()
    if progress is not None:
        progress.clear()
    if record is None:
        console.print_safe("%s: offsite: another upload of this task is running; it takes the newest snapshot"
                           % task.name)
    else:
        console.print_safe("%s: offsite %s (%s) %s" % (task.name, record["status"], record["snapshot"],
                                                       record["message"]))
    return record


def _task_with_offsite(config, names, paths=()):
    task = catalog.task_meant(config, names, paths)
    if task.offsite is None:
        raise UsageError("%s has no \"offsite\" in config.json: it has no remote copy" % task.name)
    return task, _rclone_of(config, task)


def _rclone_of(config, task):
    """An Rclone whose own log lines name ``task``."""
    return service.make_rclone(config, log=task_log(rclone.logger, task.name))


def shown_remote(task):
    return service.shown_remote(task)


def remote_snapshots(config, task):
    """The complete snapshot names on ``task``'s remote, oldest first."""
    return remote.complete_snapshots(_rclone_of(config, task), task)


def remote_reader(config, task, name):
    """The entries of remote snapshot ``name`` as its manifest lists them
    (remote.ManifestReader: the guided restore checks and browses a path
    there, as on the backup drive), or None for a ZIP snapshot (the
    manifest does not list its contents)."""
    if name.endswith(".zip"):
        return None
    return remote.ManifestReader(remote.read_manifest(_rclone_of(config, task), task, name), "")


def print_snapshots(config, tasks):
    """--snapshots --offsite: the remote's complete snapshots."""
    for task in tasks:
        if task.offsite is None:
            console.print_safe("%s: no \"offsite\" in config.json" % task.name)
            continue
        names = remote_snapshots(config, task)
        console.print_safe("%s (%s):" % (task.name, service.shown_remote(task)))
        for name in names:
            console.print_safe("  %s  %s" % (name, "zip" if name.endswith(".zip") else "folder"))
        console.print_safe("  %s on the remote" % plural(len(names), "complete snapshot"))
    return errors.EXIT_OK


def restore(config, names, spec, paths, target, overwrite, keep_existing, stop_event, dry_run=False):
    """--restore --offsite: from the remote alone (the local dest may be gone)."""
    if not target:
        raise UsageError("restore --offsite needs --to DIR: the folder to restore into, such as backup_now.py "
                         "restore TASK --offsite --to %s" % osutil.example_path("D:/Restored", "~/Restored"))
    task, rc = _task_with_offsite(config, names, paths)
    wanted = [catalog.rel_in_src(task, p) for p in paths]
    lock = offsite_lock(config, task.name)  # no upload (and its remote retention) while it downloads
    if not lock.acquire(timeout=0):
        console.print_safe("%s: an upload of this task's offsite copy is running: restore from the remote when it "
                           "has finished" % task.name)
        return errors.EXIT_ALREADY_RUNNING
    try:
        name, result = remote.restore_remote(rc, task, spec, os.path.abspath(target), wanted, overwrite,
                                             keep_existing, stop_event, clock=time.time, dry_run=dry_run)
    finally:
        lock.release()
    for line in report.summary_lines(task.name, result, "the remote snapshot %s" % name, dry_run):
        console.print_safe(line)
    return errors.EXIT_PARTIAL if result.error_count else errors.EXIT_OK


def verify(config, names, deep=False):
    """--verify --offsite: the newest remote snapshot against the local one."""
    task, rc = _task_with_offsite(config, names)
    name, differences, checked, has_local = remote_verify.verify_remote(rc, task, deep)
    said = ("matches the local one" if has_local else "matches its manifest") if not differences else \
        "DIFFERS%s: %s" % ("" if has_local else " from its manifest", plural(len(differences), "difference"))
    gone = "" if has_local else "; %s is not in %s (deleted by retention, or the drive is not connected): " \
        "not compared with a local copy" % (name, task.dest)
    console.print_safe("%s: the remote snapshot %s %s (%s)%s" % (task.name, name, said, checked, gone))
    for line in differences[:20]:
        console.print_safe("  " + console.printable(line))  # a newline in a name cannot forge a line
    return errors.EXIT_FAILED if differences else errors.EXIT_OK
