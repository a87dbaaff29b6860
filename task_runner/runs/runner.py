"""run_task(): the one function behind every way of starting a task.

It takes the task's cross-process lock (a second run of the same task, in
any process, does not start and reports "already running"), records the run
as ``running``, makes the snapshot, records the result and logs a one-line
summary. The daemon, backup_now.py and the HTTP server all call it.
"""

import collections
import contextlib
import logging
import os
import threading
import time

from .. import engine, errors, snapshots
from ..snapshots import retention
from ..fs import fileio, locking, priority
from ..console import how_made, human_bytes, plural
from ..errors import BackupError, Interrupted
from ..history import History
from ..history.records import last_run
from ..logs import RUN_RESULT, task_log
from .locks import offsite_lock, task_lock
from .notify import RunLogCapture, previous_run
from ..clock import LOCAL, format_local

logger = logging.getLogger(__name__)

# After a timeout, how long a copy gets to stop cleanly before it is abandoned.
ABANDON_AFTER = 10.0
ALREADY_RUNNING = "already_running"
# Runs nobody is waiting for: the task's "priority" (default low) applies.
BACKGROUND_TRIGGERS = ("schedule", "missed", "retry", "first", "drive")
EXIT_CODES = {
    "success": errors.EXIT_OK,
    "partial": errors.EXIT_PARTIAL,
    "failed": errors.EXIT_FAILED,
    "interrupted": errors.EXIT_INTERRUPTED,
    ALREADY_RUNNING: errors.EXIT_ALREADY_RUNNING,
}


# The outcomes after which retention runs (docs/REFERENCE.md's table of
# outcomes, checked by tests/test_outcomes.py); a failed or interrupted run
# never deletes anything.
PRUNES_AFTER = ("success", "partial")


class Outcome(collections.namedtuple("Outcome", "task status run_id message record")):
    """What run_task did. ``record`` is the run as stored in the history
    (None when the task was already running)."""

    @property
    def exit_code(self):
        return EXIT_CODES.get(self.status, errors.EXIT_FAILED)


def remove_unused_task_locks(config):
    """Delete the lock files (run and offsite) of tasks that are no longer
    in the config (never one that is held)."""
    wanted = {os.path.basename(lock(config, t.name).path) for t in config.tasks for lock in (task_lock, offsite_lock)}
    try:
        names = os.listdir(config.lock_dir)
    except OSError:
        return
    for name in names:
        if name.startswith(("task-", "offsite-")) and name.endswith(".lock") and name not in wanted:
            locking.remove_unused(os.path.join(config.lock_dir, name))


def finish_interrupted_deletions(config):
    """At start-up, for each task whose lock is free: finish the deletions
    and remove the unfinished snapshots that a kill left in its ``dest``
    (snapshots.remove_leftovers)."""
    for task in config.tasks:
        lock = task_lock(config, task.name)
        if lock.acquire(timeout=0):
            try:
                snapshots.remove_leftovers(task.dest, task_log(logger, task.name))
            finally:
                lock.release()


def reap_stale_runs(config, history, runs, clock=time.time, zone=LOCAL):
    """Mark runs left ``running`` by a process that is gone as interrupted.
    A run is stale when nobody holds its task's lock. Returns the number."""
    count = 0
    for name in sorted({r["task"] for r in runs if r.get("status") == "running"}):
        lock = task_lock(config, name)
        if lock.acquire(timeout=0):
            try:
                count += history.mark_interrupted(
                    name, format_local(clock(), zone), "the process running it stopped unexpectedly")
            finally:
                lock.release()
    return count


def summary(result, seconds=None):
    """One line: "1200 files (15 copied, 1185 linked), 2.1 MiB copied, 1 skipped, 3.2 s"
    ("..., 1165 linked, 20 moved), ..." when files were linked from another path)."""
    text = "%s (%s), %s copied" % (
        plural(result.files, "file"), how_made(result.copied, result.linked, getattr(result, "moved", 0),
                                               result.symlinks), human_bytes(result.bytes_copied))
    if result.error_count:
        text += ", %d skipped" % result.error_count
    if seconds is not None:
        text += ", %.1f s" % seconds
    return text


class StartedRun(object):
    """A run that holds its task's lock and has a ``running`` record.
    ``execute()`` makes the snapshot, records the result and releases the
    lock, whatever happens."""

    def __init__(self, config, task, trigger, record, lock, history, started, scheduled_for,
                 clock, zone):
        self.config, self.task, self.trigger = config, task, trigger
        self.low_priority = task.priority == "low" and trigger in BACKGROUND_TRIGGERS
        self.record, self.run_id = record, record["id"]
        self._lock, self._history = lock, history
        self.started, self.scheduled_for = started, scheduled_for
        self.clock, self.zone = clock, zone

    def execute(self, stop_event=None, progress=None, notifier=None, ops=fileio.OPS, low_priority=None):
        """Make the snapshot and record the result; returns an Outcome.
        ``notifier`` (notify.Notifier) hears of the start and the end.
        ``low_priority`` True or False overrides the task's ``priority``
        (which applies to scheduled, missed and retried runs)."""
        if low_priority is not None:
            self.low_priority = low_priority
        task, clock, zone, history = self.task, self.clock, self.zone, self._history
        log = task_log(logger, task.name)
        run_id = self.run_id
        capture = RunLogCapture(task.name)
        package_logger = logging.getLogger("task_runner")
        package_logger.addHandler(capture)
        self._hung = False
        try:
            log.info("run %s started (trigger: %s%s): %s -> %s", run_id, self.trigger,
                     "" if self.scheduled_for is None else ", for " + format_local(self.scheduled_for, zone, " "),
                     task.src, task.dest)
            if notifier is not None:
                notifier.run_started(self.record)
            try:
                status, message, fields = self._copy(stop_event, progress, ops, log)
            except KeyboardInterrupt:
                history.finish_run(run_id, self.record, status="interrupted",
                                   finished=format_local(clock(), zone), message="stopped by Ctrl+C")
                raise
            except Exception as exc:  # a bug must not leave the run marked running
                log.exception("run %s failed with an internal error", run_id)
                status, message, fields = "failed", "internal error: %s: %s" % (type(exc).__name__, exc), {}
            # What the notification compares with, read before this result may trim it out.
            previous = previous_run(history.runs(), self.record) if notifier is not None else None
            record = history.finish_run(run_id, self.record, status=status,
                                        finished=format_local(clock(), zone), message=message, **fields)
            level = logging.INFO if status == "success" else (
                logging.WARNING if status in ("partial", "interrupted") else logging.ERROR)
            log.log(level, "run %s %s: %s", run_id, status, message, extra=RUN_RESULT)
            if notifier is not None and notifier.active:
                notifier.run_finished(record, list(capture.lines), previous)
            return Outcome(task.name, status, run_id, message, record)
        finally:
            package_logger.removeHandler(capture)
            if not self._hung:
                self._lock.release()

    def _snapshot(self, stop_event, progress, ops, log):
        """Run the engine (and retention, and verify); (status, message, fields)."""
        task, started = self.task, self.started
        try:
            result = engine.make_snapshot(task, started, self.zone, stop_event, log, ops=ops, progress=progress,
                                          low_priority=self.low_priority, private_marks=self.config.lock_dir)
        except Interrupted as exc:
            return "interrupted", str(exc), {}
        except BackupError as exc:
            return "failed", str(exc), {}
        except Exception as exc:  # a bug must not leave the run marked running
            log.exception("run %s failed with an internal error", self.run_id)
            return "failed", "internal error: %s: %s" % (type(exc).__name__, exc), {}
        status = "partial" if result.error_count else "success"
        seconds = self.clock() - started
        message = summary(result, seconds)
        if result.error_count:
            message += " (see errors)"
        fields = dict(snapshot=result.snapshot, files=result.files, bytes=result.bytes,
                      copied=result.copied, linked=result.linked, moved=result.moved, symlinks=result.symlinks,
                      bytes_copied=result.bytes_copied,
                      skipped=result.error_count, seconds=round(seconds, 3),
                      errors=result.errors, warnings=result.warnings)
        if task.verify:
            fields["verify"] = _verify_new(task, result.snapshot, log)
            if fields["verify"].get("ok") is False:
                message += "; verify found %d difference(s)" % fields["verify"]["differences_count"]
        if task.keep is not None and status in PRUNES_AFTER:
            fields["deleted"] = retention.apply(task.dest, task.keep, self.clock(), log, zone=self.zone,
                                                just_made=os.path.basename(result.snapshot))
        return status, message, fields

    def _copy(self, stop_event, progress, ops, log):
        """_snapshot, in a thread of its own when it runs at low priority
        (only that thread is lowered, and it ends with the copy) or under
        ``task.timeout_minutes``. A copy that does not stop when asked (a
        hung network share) is abandoned: the run is recorded failed and the
        task's lock is released only when that copy finally ends, so
        nothing else writes into its folder."""
        minutes = self.task.timeout_minutes
        low = self.low_priority
        if minutes is None and not low:
            return self._snapshot(stop_event, progress, ops, log)
        timed_out = threading.Event()
        either = _AnyEvent(stop_event, timed_out)
        box, handoff, finished = {}, threading.Lock(), threading.Event()

        def work():
            try:
                with contextlib.ExitStack() as stack:
                    if low:
                        stack.enter_context(priority.background_priority(log))
                    box["result"] = self._snapshot(either, progress, ops, log)
            finally:
                with handoff:
                    finished.set()
                    if self._hung:
                        self._lock.release()
                        log.warning("run %s: the abandoned copy has ended", self.run_id)

        worker = threading.Thread(target=work, name="run-%s" % self.run_id)
        worker.daemon = True
        worker.start()
        # Waited for with an Event, not Thread.join: a join interrupted by an
        # exception (Ctrl+C) marks a thread that is still running as stopped
        # (bpo-45274). Short waits: Windows runs Ctrl+C handlers only between them.
        limit = None if minutes is None else time.monotonic() + minutes * 60
        try:
            while not finished.wait(0.25):
                if limit is not None and time.monotonic() >= limit:
                    break
        finally:
            # Also on Ctrl+C or any error while waiting: the copy is asked to
            # stop, and a copy still running keeps the task's lock.
            if not finished.is_set():
                timed_out.set()
                finished.wait(ABANDON_AFTER)
            with handoff:
                self._hung = not finished.is_set()
        if self._hung:
            return ("failed", "timed out after %s minutes; the copy did not stop (a hung drive or "
                    "network share?) and was abandoned" % _minutes(minutes), {})
        status, message, fields = box["result"]
        if timed_out.is_set() and status == "interrupted" and not (stop_event and stop_event.is_set()):
            return "failed", "timed out after %s minutes" % _minutes(minutes), {}
        return status, message, fields


class _AnyEvent(object):
    """Set when any of the events is set (only is_set() is needed)."""

    def __init__(self, *events):
        self.events = [e for e in events if e is not None]

    def is_set(self):
        return any(e.is_set() for e in self.events)


def _minutes(value):
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def _verify_new(task, snapshot, log):
    from ..restore import verify  # only a task with "verify" pays for it
    try:
        result = verify.verify_task(task, snapshot=snapshot, log=log)
    except BackupError as exc:
        return {"ok": None, "message": str(exc)}
    if not result.ok:
        log.warning("verify: the new snapshot differs from the source in %d place(s) (the source may "
                    "have changed during the backup): %s", len(result.differences),
                    "; ".join(result.differences[:5]))
    return {"ok": result.ok, "checked": result.checked, "missing": result.missing, "extra": result.extra,
            "changed": result.changed, "differences_count": result.missing + result.extra + result.changed,
            "differences": result.differences}


def _running_record(history, task_name, wait, clock=time.monotonic):
    """The running record of ``task_name``, waiting up to ``wait`` seconds
    for it: the process holding the lock writes it just after taking it."""
    deadline = clock() + wait
    while True:
        running = last_run(history.runs(), task_name, ("running",))
        if running is not None or clock() >= deadline:
            return running
        time.sleep(0.02)


def begin_run(config, task, trigger, scheduled_for=None, clock=time.time, zone=LOCAL):
    """Take ``task``'s lock and record a ``running`` run: a StartedRun. If
    another run of the task holds the lock (in any process), an Outcome with
    status ALREADY_RUNNING and that run's id instead."""
    history = History.for_config(config, clock)
    lock = task_lock(config, task.name)
    if not lock.acquire(timeout=0):
        running = _running_record(history, task.name, wait=1.0)
        run_id = running["id"] if running else None
        message = "already running%s: not started again" % (
            " (run %s since %s)" % (run_id, running["started"]) if running else "")
        task_log(logger, task.name).info("%s", message)
        return Outcome(task.name, ALREADY_RUNNING, run_id, message, running)
    try:
        started = clock()
        record = history.start_run(
            task.name, trigger, format_local(started, zone),
            scheduled_for=None if scheduled_for is None else format_local(scheduled_for, zone),
            src=task.src, dest=task.dest)
    except BaseException:
        lock.release()
        raise
    return StartedRun(config, task, trigger, record, lock, history, started, scheduled_for, clock, zone)


def run_task(config, task, trigger, scheduled_for=None, clock=time.time, stop_event=None, zone=LOCAL,
             progress=None, notifier=None, ops=fileio.OPS, low_priority=None):
    """Run ``task`` now and return an Outcome.

    ``trigger`` is schedule, missed, retry, manual or http; ``scheduled_for`` the occurrence
    (epoch seconds) this run is for, or None. ``stop_event`` (a
    threading.Event) interrupts the run cleanly when set; ``progress(stats,
    rel)`` is called after each file; ``notifier`` hears of the start and
    the end; ``ops`` is the engine's I/O seam (tests inject faults there).
    After a success or partial run the new snapshot is verified when
    ``task.verify`` and the snapshots ``task.keep`` does not keep are deleted.
    Never raises for a failed
    backup: failures are outcomes. HistoryError propagates when the history
    cannot be written at all.
    """
    started = begin_run(config, task, trigger, scheduled_for, clock, zone)
    if isinstance(started, Outcome):
        return started
    return started.execute(stop_event=stop_event, progress=progress, notifier=notifier, ops=ops,
                           low_priority=low_priority)


def prune_task(config, task, clock=time.time, zone=LOCAL, dry_run=False):
    """Apply ``task.keep`` now, without making a snapshot (after ``keep`` was
    changed), holding the task's lock as a run does. Returns the names
    deleted (or, with ``dry_run``, that would be), or ALREADY_RUNNING when a
    run of the task holds the lock. Every keep and delete is logged at INFO
    with its reason."""
    lock = task_lock(config, task.name)
    if not lock.acquire(timeout=0):
        return ALREADY_RUNNING
    try:
        return retention.apply(task.dest, task.keep, clock(), task_log(logger, task.name), dry_run=dry_run,
                               zone=zone, verbose=True)
    finally:
        lock.release()


def preview_task(task, clock=time.time, zone=LOCAL, listing=None):
    """What a run of ``task`` would do, changing nothing: (EngineResult
    counting what would be copied and linked, snapshot names that would be
    deleted). ``listing(action, rel)`` hears of each file. Raises
    BackupError when the run would fail."""
    log = task_log(logger, task.name)
    result = engine.make_snapshot(task, clock(), zone, log=log, dry_run=True, listing=listing)
    new_name = snapshots.new_snapshot_name(task.dest, clock(), zone, task.format == "zip")
    deleted = retention.apply(task.dest, task.keep, clock(), log, dry_run=True, extra_new=new_name,
                              zone=zone) if task.keep is not None else []
    return result, deleted
