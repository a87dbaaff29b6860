"""When an offsite upload runs, what is recorded of it, and what is pending.

After a local snapshot is published (success or partial), the task's
newest local snapshot is uploaded: backup_now waits for it
(``upload_now``); the scheduler and the HTTP trigger start it in a thread
of its own (``start_background``) and go on. Only the newest snapshot
travels: when several appear while an upload runs, the next upload takes
the newest and the ones in between never reach the remote.

One upload per task at a time, in any process: the task's offsite lock
(not its run lock, which a long upload must not hold). Each upload is a
record in the history's ``uploads`` list: task, snapshot, remote (secrets
removed), started, finished, status (running, success, failed,
interrupted), bytes and files sent, bytes copied or linked on the remote's side,
seconds, message and rclone's error. A failed upload is retried by the
scheduler after ``retry_minutes``; failure and recovery are notified.
"""

import collections
import logging
import os
import threading
import time

from ..fs import priority
from .. import snapshots
from ..console import human_bytes, plural
from ..history import History
from ..history.records import run_time
from ..runs.locks import offsite_lock
from ..logs import task_log
from ..clock import LOCAL, format_local
from . import rclone, record as kept_manifest
from .prelink import local_folder_problem
from .upload import upload_snapshot

logger = logging.getLogger(__name__)

LOCAL_DONE = ("success", "partial")
PROGRESS_EVERY = 10.0  # seconds between progress notes in the history
STALLED = 180  # seconds without a byte sent before status warns about a running upload
STOP_WAIT = 5.0  # at shutdown, how long an upload gets to stop rclone (2 s at most) and record itself
Decision = collections.namedtuple("Decision", "upload snapshot wake_at reason watch trigger")
Decision.__new__.__defaults__ = (None, "schedule")  # (3.6 has no namedtuple defaults=)
Decision.__doc__ = """upload: start one now (as ``trigger``). watch: the folder whose return means the
drive of a local remote is back (a failed upload is retried then), else None."""


def shown_remote(task):
    """The task's remote path as it may be shown (credential-like parts hidden)."""
    return rclone.redact(task.offsite.remote) if task.offsite else None


def make_rclone(config, low_priority=False, environ=None, log=logger):
    """An rclone.Rclone for ``config`` (RcloneError when rclone is missing)."""
    return rclone.Rclone(rclone.find(config.rclone), environ=environ, low_priority=low_priority, log=log)


# -- Pure decisions --------------------------------------------------------------

def _of(records, task_name):
    return [r for r in records if r.get("task") == task_name]


def pending(task_name, runs, uploads):
    """The snapshot of the newest successful or partial run of
    ``task_name`` when no upload of it (or of a newer one) has succeeded;
    else None."""
    done = [r for r in _of(runs, task_name) if r.get("status") in LOCAL_DONE and r.get("snapshot")]
    if not done:
        return None
    newest = os.path.basename(done[-1]["snapshot"])
    for up in _of(uploads, task_name):
        if up.get("status") == "success" and isinstance(up.get("snapshot"), str) and \
                snapshots.snapshot_sort_key(up["snapshot"]) >= snapshots.snapshot_sort_key(newest):
            return None
    return newest


def decide(task, runs, uploads, now, retry_minutes, is_there=os.path.isdir):
    """Whether an upload of ``task`` should start now (Decision). An
    upload that was stopped (Ctrl+C, shutdown, a kill) resumes at once; a
    failed one is retried ``retry_minutes`` after it ended (0: only once a
    newer snapshot exists). One that failed because its local remote's drive
    was away (its ``watch``) is also retried when that folder is back
    (``is_there``: one stat), as trigger "drive": once, then the next retry
    waits ``retry_minutes`` again, so a drive that comes and goes makes at
    most one extra attempt per retry period (as a backup's drive does)."""
    if task.offsite is None:
        return Decision(False, None, None, "no offsite")
    snap = pending(task.name, runs, uploads)
    if snap is None:
        return Decision(False, None, None, "nothing to upload")
    mine = _of(uploads, task.name)
    last = mine[-1] if mine else None
    if last is not None and last.get("status") == "running":
        return Decision(False, snap, None, "an upload is running")  # reap_stale_uploads ends a dead one
    # A failed record without a snapshot: there was no local snapshot to upload (dest emptied).
    if last is None or last.get("snapshot") not in (snap, None):
        return Decision(True, snap, None, "%s is not on the remote yet" % snap)
    if last.get("status") == "interrupted":
        return Decision(True, snap, None, "resuming the upload of %s (it was stopped)" % snap)
    ended = run_time(last, "finished") or now
    if retry_minutes == 0:
        return Decision(False, snap, None, "the upload of %s failed; retries are off (retry_minutes 0)" % snap)
    watch = _watched(last)
    if watch is not None and is_there(watch):
        return Decision(True, snap, None, "the offsite copy's drive is back (%s): retrying the upload of %s"
                        % (watch, snap), None, "drive")
    wake = ended + retry_minutes * 60
    if now < wake:
        return Decision(False, snap, wake, "the upload of %s failed; retrying after %d minutes%s" % (
            snap, retry_minutes, " or when %s is back" % watch if watch else ""), watch)
    return Decision(True, snap, None, "retrying the upload of %s" % snap, None, "retry")


def reap_stale_uploads(config, history, uploads, finished):
    """Mark upload records left ``running`` by a process that is gone
    (nobody holds the task's offsite lock) as interrupted; returns how many."""
    count = 0
    for name in sorted({u["task"] for u in uploads if u.get("status") == "running"}):
        lock = offsite_lock(config, name)
        if lock.acquire(timeout=0):
            try:
                count += history.mark_uploads_interrupted(name, finished)
            finally:
                lock.release()
    return count


def offsite_status(task, runs, uploads, now, is_there=os.path.isdir):
    """The offsite part of a task's status (None without ``offsite``);
    ``waiting_for_drive``: the folder of a local remote whose drive the last
    upload found away, while it still is."""
    if task.offsite is None:
        return None
    mine = _of(uploads, task.name)
    ok = [u for u in mine if u.get("status") == "success"]
    last = mine[-1] if mine else None
    done_at = run_time(ok[-1], "finished") if ok else None
    uploading = bool(last and last.get("status") == "running")
    return {"remote": shown_remote(task), "last_upload": last, "last_success": ok[-1] if ok else None,
            "last_success_days_ago": None if done_at is None else round((now - done_at) / 86400.0, 1),
            "pending": pending(task.name, runs, uploads), "uploading": uploading,
            "stalled_minutes": _stalled_minutes(last, now) if uploading else None,
            "waiting_for_drive": _away(last, is_there)}


def _watched(record):
    """The folder whose return retries the failed upload ``record`` (its
    local remote's drive was away), unless it was itself that retry; else None."""
    watch = record.get("watch") if record and record.get("status") == "failed" else None
    return watch if isinstance(watch, str) and record.get("trigger") != "drive" else None


def _away(record, is_there):
    """As ``decide``: the folder the scheduler watches, while it is still away."""
    watch = _watched(record)
    return watch if watch is not None and not is_there(watch) else None


def _stalled_minutes(record, now):
    """Whole minutes since the running upload ``record`` last sent a byte
    (since it started, when it has sent none), or None under STALLED."""
    progress = record.get("progress") if isinstance(record.get("progress"), dict) else {}
    since = run_time(progress, "moved_at") or run_time(record, "started")
    if since is None or now - since < STALLED:
        return None
    return int((now - since) // 60)


def stall_warning(state):
    """The warning for an upload that has made no progress (offsite_status), or None."""
    if not state or not state.get("uploading") or state.get("stalled_minutes") is None:
        return None
    return ("the offsite upload has made no progress for %d minutes: the remote may be unreachable, stalled or "
            "full; rclone gives up on a try after a minute without an answer, and the upload is retried later"
            % state["stalled_minutes"])


# -- Doing it -----------------------------------------------------------------

class Upload(object):
    """One upload of ``task``'s newest local snapshot: lock, record, rclone,
    record, notify. ``run`` returns the final record (failed, without a
    snapshot, when ``dest`` holds none), or None when another upload of the
    task holds the lock."""

    def __init__(self, config, task, trigger, notifier=None, clock=time.time, zone=LOCAL, environ=None):
        self.config, self.task, self.trigger = config, task, trigger
        self.notifier, self.clock, self.zone, self.environ = notifier, clock, zone, environ
        self.log = task_log(logger, task.name)

    def run(self, stop_event=None, on_stats=None, low_priority=False):
        lock = offsite_lock(self.config, self.task.name)
        if not lock.acquire(timeout=0):
            self.log.info("offsite: an upload of this task, or a restore from its offsite copy, is running: the "
                          "next upload sends the newest snapshot")
            return None
        try:
            names = snapshots.list_snapshots(self.task.dest)
            return self._upload(names[-1] if names else None, stop_event, on_stats, low_priority)
        finally:
            lock.release()

    def _upload(self, name, stop_event, on_stats, low_priority):
        history = History.for_config(self.config, self.clock)
        previous = [u for u in history.uploads() if u.get("task") == self.task.name]
        record = history.start_upload(self.task.name, name, format_local(self.clock(), self.zone),
                                      remote=shown_remote(self.task), trigger=self.trigger)
        started = time.monotonic()
        try:
            if name is None:
                raise rclone.RcloneError("there is no snapshot in %s to upload (is the drive connected?)"
                                         % self.task.dest)
            rc = make_rclone(self.config, low_priority, self.environ, self.log)
            shared = local_folder_problem(rc, self.task, self.config.tasks)
            if shared:
                raise rclone.RcloneError(shared)
            done = upload_snapshot(rc, self.task, name, record["started"], stop_event,
                                   _Progress(history, record, on_stats, wall=self.clock, zone=self.zone), log=self.log,
                                   last_copy=_last_copy(previous, shown_remote(self.task)),
                                   kept=kept_manifest.path_for(self.config.lock_dir, self.task.name,
                                                               self.task.offsite.remote))
        except rclone.RcloneError as exc:
            stopped = stop_event is not None and stop_event.is_set()
            fields = dict(status="interrupted" if stopped else "failed", message=str(exc), error=str(exc),
                          watch=getattr(exc, "folder", None))  # upload.DriveMissing: where its drive comes back
        except Exception as exc:  # a bug must not leave the upload marked running
            self.log.exception("offsite: the upload failed with an internal error")
            fields = dict(status="failed", message="internal error: %s: %s" % (type(exc).__name__, exc))
        else:
            fields = dict(status="success", bytes=done.bytes, files=done.files,
                          server_side_bytes=done.server_side_bytes, deleted=done.deleted,
                          message=_summary(done))
        fields.update(finished=format_local(self.clock(), self.zone), seconds=round(time.monotonic() - started, 3),
                      progress=None)
        final = history.finish_upload(record["id"], record, **fields)
        level = logging.INFO if final["status"] == "success" else logging.WARNING
        self.log.log(level, "offsite upload of %s %s: %s", name, final["status"], final["message"])
        if self.notifier is not None:
            recovered = final["status"] == "success" and bool(previous) and previous[-1].get("status") == "failed"
            self.notifier.upload_finished(final, recovered)
        return final


def _last_copy(uploads, remote):
    """The snapshot the newest successful upload of ``uploads`` left on
    ``remote`` (as shown), or None."""
    done = [u for u in uploads if u.get("status") == "success" and u.get("remote") == remote
            and isinstance(u.get("snapshot"), str)]
    return done[-1]["snapshot"] if done else None


class _Progress(object):
    """rclone's statistics: to ``on_stats`` (the console) each time, and
    into the running record every PROGRESS_EVERY seconds, where --status,
    GET /status and the page of any process read them; ``moved_at`` is
    when the bytes sent last grew (``wall``, in ``zone``)."""

    def __init__(self, history, record, on_stats, clock=time.monotonic, wall=time.time, zone=LOCAL):
        self.history, self.record, self.on_stats, self.clock = history, record, on_stats, clock
        self.wall, self.zone = wall, zone
        self._last = clock()
        self._bytes, self._moved = None, wall()

    def __call__(self, stats):
        if self.on_stats is not None:
            self.on_stats(stats)
        if stats.get("bytes") != self._bytes:
            self._bytes, self._moved = stats.get("bytes"), self.wall()
        if self.clock() - self._last < PROGRESS_EVERY:
            return
        self._last = self.clock()
        progress = {key: stats.get(key) for key in ("bytes", "totalBytes", "transfers", "totalTransfers", "speed")}
        progress["moved_at"] = format_local(self._moved, self.zone)
        try:
            self.history.finish_upload(self.record["id"], self.record, progress=progress)
        except Exception:  # progress is a nicety: the upload goes on
            logger.debug("could not record the upload's progress", exc_info=True)


def _summary(done):
    if done.already:
        return "already complete on the remote"
    text = "%d file%s, %s sent" % (done.files, "" if done.files == 1 else "s", human_bytes(done.bytes))
    if done.server_side_bytes:
        text += ", %s copied or linked on the remote from the previous snapshot" % human_bytes(done.server_side_bytes)
    if done.damaged:
        source, paths = done.damaged
        text += "; %s damaged or missing in the remote copy %s sent again" % (plural(len(paths), "file"), source)
        if source not in (done.deleted or ()):
            text += " (the copy %s stays as it is)" % source
    if done.deleted:
        text += "; deleted on the remote: %s" % ", ".join(done.deleted)
    return text


def upload_now(config, task, trigger, stop_event=None, on_stats=None, notifier=None, clock=time.time):
    """Upload ``task``'s newest snapshot and wait (backup_now)."""
    return Upload(config, task, trigger, notifier, clock).run(stop_event, on_stats)


def start_background(config, task, trigger, stop_event=None, notifier=None, clock=time.time, on_done=None):
    """Upload ``task``'s newest snapshot in a thread of its own at low
    priority (rclone, its child, inherits it); returns the thread.
    ``on_done(record)`` hears of the upload's final record (None when
    another upload of the task was running)."""
    def work():
        try:
            with priority.background_priority(task_log(logger, task.name)):
                final = Upload(config, task, trigger, notifier, clock).run(stop_event, low_priority=True)
            if on_done is not None:
                on_done(final)
        except Exception:  # a background thread has nobody else to tell
            task_log(logger, task.name).exception("offsite: the upload could not be recorded")
    thread = threading.Thread(target=work, name="offsite-%s" % task.name)
    thread.daemon = True
    thread.start()
    return thread
