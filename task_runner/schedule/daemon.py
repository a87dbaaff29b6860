"""The daemon's loop: read the clock once per pass, decide, run, sleep.

The clock and the wait function are constructor arguments with real
defaults, so tests drive the loop with a fake clock and no patching. After
a pass it sleeps with ``Event.wait`` until the next thing due (an
occurrence or a retry; at most ``max_sleep``), waking once every
``check_every`` seconds only for a cheap look: the config or the history
file changed, or the clock jumped (a sleep of the computer, the clock set)
mean a pass now; otherwise it sleeps on. So it notices those within a
minute and an idle scheduler costs next to nothing.
"""

import logging
import os
import threading
import time

from .. import console
from ..config import load_config
from ..config.watch import ConfigWatcher, file_signature
from ..errors import AlreadyRunning
from ..history import History
from ..history.records import runs_of
from ..fs.locking import FileLock, write_holder
from ..logs import task_log
from ..runs.notify import previous_run
from ..offsite import service as offsite_service
from ..runs.runner import (ALREADY_RUNNING, finish_interrupted_deletions, reap_stale_runs, remove_unused_task_locks,
    run_task)
from ..clock import LOCAL, format_local, short_time
from ..fs import drive
from . import plan as planning

logger = logging.getLogger(__name__)

# A pass that starts this much later than planned means the machine slept
# or the clock was set forward; this much earlier than the last pass means
# it was set back.
JUMP_FORWARD = 90.0
JUMP_BACK = 5.0
UPLOAD_STOP_WAIT = offsite_service.STOP_WAIT  # at shutdown, for each upload to stop and record itself


def instance_lock(config, clock=time.time, zone=LOCAL):
    """Take the one-daemon-per-config lock, or raise AlreadyRunning. Who
    holds it (process id, since when) is written beside it for --status."""
    lock = FileLock(daemon_lock_path(config))
    if not lock.acquire(timeout=0):
        raise AlreadyRunning("scheduled_task_runner is already running for %s (another window "
                             "or the Startup folder?): leave that one running; this one exits" % config.path)
    write_holder(lock, {"program": "scheduled_task_runner", "pid": os.getpid(),
                        "since": format_local(clock(), zone)})
    return lock


def daemon_lock_path(config):
    return os.path.join(config.lock_dir, "daemon.lock")


class Daemon(object):
    """Runs due and missed tasks of a config until ``stop()``."""

    def __init__(self, config, clock=time.time, wait=None, stop_event=None, zone=LOCAL,
                 run=run_task, load=load_config, max_sleep=86400.0, recheck=5.0, notifier=None, check_every=60.0,
                 start_upload=offsite_service.start_background):
        self.watcher = ConfigWatcher(config, load, logger)
        self.clock = clock
        self.stop_event = stop_event or threading.Event()
        self._wait = wait or self.stop_event.wait
        self.zone = zone
        self._run = run
        self.max_sleep = max_sleep
        self.check_every = check_every
        self.notifier = notifier
        self.recheck = recheck
        self.watch_start = None
        self.started_up = None
        self._ours = set()  # ids of the runs this process started
        self._last_now = None
        self._late = None  # how late the last wait ended (a sleep or the clock set forward), until told
        self._last_reason = {}
        self._ran = False
        self._future_warned = False
        self._start_upload = start_upload
        self._uploads = {}  # task name -> the thread of its running upload
        self._watched = {}  # task name (or "offsite NAME") -> the folder whose return means its drive is back
        self._there = {}  # task name -> whether its drive was there at the last look (when_connected)
        self._seen = (None, {})  # (the config, its tasks' first_seen times from the history)

    @property
    def config(self):
        return self.watcher.config

    def stop(self):
        self.stop_event.set()

    def run_once(self):
        """Run whatever is due or missed now, one task after another, then
        return (for --once: the OS scheduler starts us instead of a daemon)."""
        logger.info("once: running what is due or missed in %s", self.config.path)
        ran_any = False
        while not self.stop_event.is_set():
            self._ran = False
            self.run_pass()
            ran_any = ran_any or self._ran
            if not self._ran:
                break
        if not ran_any:
            logger.info("once: no backup is due now%s%s", self._next_runs_text(),
                        "; waiting for the offsite upload started" if self._uploads else "")
        for thread in list(self._uploads.values()):  # the process ends here: its uploads finish first
            while thread.is_alive():
                thread.join(0.25)
        if self.notifier is not None:
            self.notifier.flush(60.0)

    def _next_runs_text(self):
        now = self.clock()
        parts = []
        for task in self.config.tasks:
            nxt = task.schedule.next_after(now, self.zone) if task.schedule is not None and task.enabled else None
            if nxt is not None:
                parts.append((nxt, "%s at %s" % (task.name, short_time(nxt, self.zone, now))))
        return "; next: " + min(parts)[1] if parts else "; no task has a schedule"

    def _announce(self):
        """Per task, at start-up: when it runs next (or why it does not)."""
        now = self.clock()
        for task in self.config.tasks:
            log = task_log(logger, task.name)
            if task.schedule is None:
                log.info("runs on demand only (no timestamp): %s", console.command("backup_now", task.name))
            elif not task.enabled:
                log.info("paused (\"enabled\": false): no scheduled backups")
            else:
                nxt = task.schedule.next_after(now, self.zone)
                log.info("%s; next run %s", task.schedule.describe(),
                         short_time(nxt, self.zone, now) if nxt is not None else "never")
            if not os.path.isdir(task.src):
                log.warning("the source folder %s does not exist right now (a drive not connected?)", task.src)

    def run(self):
        logger.info("started: %d task(s) from %s; history in %s", len(self.config.tasks),
                    self.config.path, self.config.history_file)
        remove_unused_task_locks(self.config)
        finish_interrupted_deletions(self.config)
        self._announce()
        while not self.stop_event.is_set():
            # Before the pass: whatever changes the files from now on (an
            # upload thread that ends at once, a run elsewhere) ends the sleep.
            files = self._files()
            try:
                timeout = self.run_pass()
            except Exception:  # one bad pass (history unwritable...) must not stop the daemon
                logger.exception("unexpected error; trying again in %d s", self.check_every)
                timeout = self.check_every
            if self.stop_event.is_set():
                break
            self._sleep(timeout, files)
        for thread in list(self._uploads.values()):  # stopped with the same event: each records how it ended
            thread.join(UPLOAD_STOP_WAIT)
        if self.notifier is not None:
            self.notifier.flush(1.0)
        logger.info("stopped")

    def _files(self):
        return [file_signature(self.config.path), file_signature(self.config.history_file)]

    def _sleep(self, seconds, files):
        """Sleep ``seconds``, in steps of at most ``check_every``; return
        early when stopped, when the config or the history file differs
        from ``files`` (taken before the pass), or when the clock jumped
        (forward past JUMP_FORWARD or back). A jump forward is measured
        across this wait only: time spent in our own runs is no sleep."""
        until = self.clock() + seconds
        while not self.stop_event.is_set():
            before = self.clock()
            step = min(until - before, self.check_every)
            if step <= 0:
                return
            self._wait(step)
            now = self.clock()
            if now > before + step + JUMP_FORWARD:
                self._late = now - (before + step)
                return
            if now < before - JUMP_BACK:
                return
            if self._files() != files:
                return
            # One stat per task waiting for its drive; none when no task waits.
            if any(os.path.isdir(folder) for folder in self._watched.values()):
                return

    # -- one pass ------------------------------------------------------
    def _notice_clock(self, now):
        """Set watch_start at start-up and after a clock jump or a sleep.
        started_up is the earliest clock reading of this process: a failed
        attempt recorded before it, and not one of ours, was made by an
        earlier process (and gets one attempt at once)."""
        self.started_up = now if self.started_up is None else min(self.started_up, now)
        if self.watch_start is None:
            self.watch_start = now
        elif self._last_now is not None and now < self._last_now - JUMP_BACK:
            logger.warning("the clock went back %.0f s; nothing that already ran will run again",
                           self._last_now - now)
            self.watch_start = now
        elif self._late is not None:
            logger.warning("woke %.0f s late (the computer slept or the clock was changed); "
                           "checking for missed runs", self._late)
            self.watch_start = now
        self._late = None  # told once: the passes after a run measure nothing
        self._last_now = now

    def run_pass(self):
        """Decide and act once; returns how long to sleep before the next pass.
        Runs at most one task, then asks for an immediate new pass, so every
        decision uses a fresh clock reading and history."""
        config = self.watcher.current()
        now = self.clock()
        self._notice_clock(now)
        history = History.for_config(config, self.clock)
        runs = history.runs()
        if any(r.get("status") == "running" for r in runs):
            if reap_stale_runs(config, history, runs, self.clock, self.zone):
                runs = history.runs()
        wake = now + self.max_sleep
        self._warn_future(runs, now)
        self._watched = {}
        wake = min(wake, self._offsite_pass(config, history, runs, now))
        first_seen = self._first_seen(config, history, now)
        for task in config.tasks:
            mine = runs_of(runs, task.name)
            decision = planning.plan_task(task, mine, now, self.zone,
                                          config.missed_task_days, config.retry_minutes,
                                          self.watch_start, self.started_up, self._ours,
                                          first_seen.get(task.name), lambda t: drive.is_back(t.dest))
            if decision.action == planning.WAIT:
                decision = self._connected(task, mine, now, decision, config.retry_minutes)
            if decision.wake_at is not None:
                wake = min(wake, decision.wake_at)
            if decision.watch is not None:
                self._watched[task.name] = decision.watch
            if decision.action == planning.WAIT:
                self._note(task, decision)
                continue
            if decision.action == planning.SKIP:
                self._skip(history, task, decision, now)
                continue
            if self._start(task, decision):
                return 0.0
            wake = min(wake, now + self.recheck)  # look again soon, try the next task now
        return max(0.0, wake - now)

    def _first_seen(self, config, history, now):
        """{task name: when the scheduler first saw it}, from the history
        (recorded there on first sight, so a restart gives the same answer);
        read again when the config changed."""
        if self._seen[0] is not config:
            names = [task.name for task in config.tasks]
            self._seen = (config, history.first_seen(names, format_local(now, self.zone)))
        return self._seen[1]

    def _connected(self, task, runs, now, decision, retry_minutes):
        """``when_connected``: one look at the task's drive; the run when it
        came back (plan.plan_connected), else ``decision``, watching the
        drive while it is away."""
        if not task.when_connected or not task.enabled:
            self._there.pop(task.name, None)
            return decision
        there = drive.is_back(task.dest)
        was_there, self._there[task.name] = self._there.get(task.name), there
        chosen = planning.plan_connected(task, runs, now, was_there, there, retry_minutes)
        if chosen is not None:
            return chosen
        if not there and decision.watch is None:
            return decision._replace(watch=drive.needed_folder(task.dest))
        return decision

    def _offsite_pass(self, config, history, runs, now):
        """Start the offsite uploads that are due (after a run, or a retry)
        in threads of their own; returns when to look again."""
        wake = now + self.max_sleep
        if not any(t.offsite for t in config.tasks):
            return wake
        uploads = history.uploads()
        if any(u.get("status") == "running" for u in uploads) and offsite_service.reap_stale_uploads(
                config, history, uploads, format_local(now, self.zone)):
            uploads = history.uploads()
        for task in config.tasks:
            decision = offsite_service.decide(task, runs, uploads, now, config.retry_minutes)
            if decision.wake_at is not None:
                wake = min(wake, decision.wake_at)
            if decision.watch is not None:  # the offsite copy's drive: looked at with the backups' drives
                self._watched["offsite " + task.name] = decision.watch
            thread = self._uploads.get(task.name)
            if decision.upload and (thread is None or not thread.is_alive()):
                task_log(logger, task.name).info("offsite: starting an upload (%s)", decision.reason)
                self._uploads[task.name] = self._start_upload(config, task, decision.trigger, self.stop_event,
                                                              self.notifier, self.clock)
        return wake

    def _warn_future(self, runs, now):
        future = planning.runs_from_the_future(runs, now)
        if future and not self._future_warned:
            logger.warning("the history holds %d run(s) that started after now (the newest at %s): "
                           "the clock was wrong then or is wrong now. They do not count as done; "
                           "scheduled runs go on as usual", len(future), future[-1].get("started"))
        self._future_warned = bool(future)

    def _note(self, task, decision):
        if self._last_reason.get(task.name) != decision.reason:
            self._last_reason[task.name] = decision.reason
            nxt = format_local(decision.wake_at, self.zone, " ") if decision.wake_at else "never"
            task_log(logger, task.name).debug("waiting (%s); next look at %s", decision.reason, nxt)

    def _skip(self, history, task, decision, now):
        occ = format_local(decision.occurrence, self.zone)
        task_log(logger, task.name).warning("skipping the run scheduled for %s: %s. To back it up now: %s",
                                            short_time(decision.occurrence, self.zone, now), decision.reason,
                                            console.command("backup_now", task.name))
        runs = history.runs()  # before the skipped record may trim the one to compare with
        record = history.add_skipped(task.name, decision.trigger, format_local(now, self.zone), occ,
                                     decision.reason)
        if self.notifier is not None and self.notifier.active:
            self.notifier.run_finished(record, previous=previous_run(runs, record))

    def _start(self, task, decision):
        """Run ``task``; False when it did not run (already running, or an
        error before the run could be recorded)."""
        log = task_log(logger, task.name)
        log.info("running now (%s): %s", decision.trigger, decision.reason)
        try:
            outcome = self._run(self.config, task, decision.trigger, scheduled_for=decision.occurrence,
                                clock=self.clock, stop_event=self.stop_event, zone=self.zone,
                                notifier=self.notifier)
        except Exception:  # one failed task never stops the daemon
            log.exception("the run could not be started or recorded; trying again later")
            return False
        ran = outcome.status != ALREADY_RUNNING
        if ran:
            self._ours.add(outcome.run_id)
        self._ran = self._ran or ran
        return ran
