"""Pure: given a task, its history and ``now``, decide what to do.

The one rule (docs/REFERENCE.md, "Catch-up and retries"):

* An occurrence is *satisfied* when the history holds a ``success`` or
  ``partial`` run of the task that started at or after it, whatever
  triggered that run.
* Only the newest occurrence at or before ``now`` matters; older unsatisfied
  ones are coalesced into it.
* ``watch_start`` is when the daemon last started watching the clock without
  a gap (its start-up, or the pass after a clock jump or sleep). An
  occurrence after it came due while the daemon was watching: it always runs
  (trigger ``schedule``). One at or before it is seen for the first time:
  it runs (``missed``) when at most ``missed_task_days`` old, otherwise one
  ``skipped`` record says so.
* A run that started later than ``now`` (beyond FUTURE_SLACK) was recorded
  under a wrong clock since corrected: it satisfies nothing, so a clock
  that once read 2030 cannot silence the schedule until 2030.
* A ``failed`` or ``interrupted`` attempt leaves the occurrence unsatisfied;
  it is retried every ``retry_minutes`` after the last attempt finished,
  while within the window (``retry``). When the window closes, one
  ``skipped`` record says so. The one exception: an attempt recorded before
  this process started (``started_up``), and not by this process, is
  followed by one attempt at once (``missed``); a sleep or a clock jump is
  no start-up and waits as usual.
* Which attempts this process made is known by their run ids (``ours``),
  not from their times: the history has whole seconds, so an attempt made
  in the second of the start-up is recorded "before" it (issue 20: that let
  one start make 125 attempts in under a second).
* A task is not older than the scheduler's first sight of it
  (``first_seen``, kept in the history): occurrences before it are neither
  missed nor skipped. A task that has none since and no run at all gets
  its first backup at once (``first``): first_seen stands in for its
  occurrence, so a failed first backup is retried like any other.
* After a failure for a missing backup drive (DRIVE_MISSING in the
  message), the drive's return is watched (``watch``: the folder the
  destination needs) and makes one attempt at once (``drive``): at most
  one such early attempt per ``retry_minutes`` per occurrence, besides the
  usual retries (a loose cable cannot make a storm). Retries off: none.
"""

import collections

from ..errors import DRIVE_MISSING
from ..history.records import ATTEMPTS, DONE, attempts_made, run_time, runs_into_dest
from ..clock import short_time
from ..fs.drive import needed_folder

DAY = 86400.0

Decision = collections.namedtuple("Decision", "action trigger occurrence reason wake_at watch")  # pragma: no mutate
Decision.__new__.__defaults__ = (None,)  # watch (3.6 has no namedtuple defaults=)
Decision.__doc__ = """action: "run", "skip" (write a skipped record) or "wait".
trigger: the trigger of the run or skipped record. occurrence: the scheduled instant concerned, or None.
reason: a sentence for the log. wake_at: when to look at this task again. watch: the folder whose
appearance means the backup drive is back (a task waiting for its drive), else None."""  # pragma: no mutate

RUN, SKIP, WAIT = "run", "skip", "wait"  # pragma: no mutate (compared only with themselves)
# Clocks of two programs on one machine agree to well within this.
FUTURE_SLACK = 300.0
_ATTEMPTS = ATTEMPTS


def _days(seconds):
    return "%.1f days" % (seconds / DAY)


def plan_task(task, runs, now, zone, missed_task_days, retry_minutes, watch_start, started_up=None,
              ours=(), first_seen=None, drive_back=None):
    """Decide for one scheduled task. ``runs`` are its history records
    (any order); runs into another ``dest`` are not counted (same_dest).
    ``started_up`` is when this process started (default: ``watch_start``);
    ``ours`` the ids of the runs it started; ``first_seen`` when the
    scheduler first saw the task (None: it predates the record);
    ``drive_back(task)`` tells whether the folder ``dest`` needs is there
    (one stat; asked only after a failure for a missing drive). Tasks
    without a schedule always get WAIT."""
    if task.schedule is None:
        return Decision(WAIT, None, None, "runs on demand only", None)
    if not task.enabled:
        # Paused: no scheduled, missed or retried run, and no skipped records.
        # Re-enabled, the usual rule applies to the newest occurrence only.
        return Decision(WAIT, None, None, "paused (\"enabled\": false)", None)
    next_occ = task.schedule.next_after(now, zone)
    occ, first = _occurrence(task, runs, now, zone, first_seen)
    if occ is None:
        return Decision(WAIT, None, None, "no occurrence since the task first appeared" if first
                        else "no occurrence yet", next_occ)

    runs = runs_into_dest(runs, task)
    since = _since(runs, occ, now, watch_start)
    statuses = [run.get("status") for _, run in since]

    if any(s in DONE for s in statuses):
        return Decision(WAIT, None, occ, "done", next_occ)
    if "running" in statuses:
        return Decision(WAIT, None, occ, "a run is in progress", next_occ)
    # A skipped record names its occurrence in scheduled_for (it may have
    # been written before a clock change, so look at every run).
    for run in runs:
        if run.get("status") == "skipped" and run_time(run, "scheduled_for") == occ:
            return Decision(WAIT, None, occ, "already skipped", next_occ)

    window = missed_task_days * DAY
    age = now - occ
    in_window = age <= window
    attempts = [(t, r) for t, r in since if r.get("status") in _ATTEMPTS]
    # Made before this process started: one attempt at once.
    earlier = (attempts and attempts[-1][1].get("id") not in ours
               and attempts[-1][0] < (watch_start if started_up is None else started_up))

    if first and not attempts:
        return Decision(RUN, "first", occ, "a new task: its first backup", next_occ)
    if not attempts or earlier:
        return _plan_first(occ, attempts, age, in_window, watch_start, missed_task_days, next_occ)
    decision = _plan_retry(occ, attempts[-1], now, age, missed_task_days, retry_minutes, next_occ)
    if decision.action == WAIT and retry_minutes > 0 and DRIVE_MISSING in (attempts[-1][1].get("message") or ""):
        return plan_drive(task, decision, attempts, now, zone, retry_minutes, drive_back)
    return decision


def _occurrence(task, runs, now, zone, first_seen):
    """(the occurrence that matters or None, whether the task is newer
    than the schedule's newest occurrence). A task never backed up stands
    its first backup for the occurrences it never had: first_seen."""
    occ = task.schedule.latest_at_or_before(now, zone)
    if first_seen is None or (occ is not None and occ >= first_seen):
        return occ, False
    if any(run.get("status") in DONE for run in runs):  # (one from the future too: it was made)
        return None, True
    return first_seen, True


def plan_drive(task, waiting, attempts, now, zone, retry_minutes, drive_back):
    """A task ``waiting`` to retry after its last attempt failed for a
    missing drive: the drive is back (``drive_back(task)``) -> RUN
    ``drive``, unless a ``drive`` attempt of this occurrence started within
    ``retry_minutes`` (the flapping bound); else WAIT, watching the folder."""
    recent = [t for t, r in attempts if r.get("trigger") == "drive" and now - t < retry_minutes * 60]
    if not recent and drive_back is not None and drive_back(task):
        return Decision(RUN, "drive", waiting.occurrence, "the backup drive is back: running the backup of %s"
                        % short_time(waiting.occurrence, zone, now), waiting.wake_at)
    reason = "waiting for the backup drive" if not recent else (
        "waiting to retry (the drive came back and went again within retry_minutes=%d)" % retry_minutes)
    return waiting._replace(reason=reason, watch=None if recent else needed_folder(task.dest))


def plan_connected(task, runs, now, was_there, there, retry_minutes):
    """``when_connected``: RUN ``drive`` (for no occurrence) when the task's
    drive came back (``was_there`` False, ``there`` True: two looks of the
    daemon) and its last success into ``dest`` is older than
    ``when_connected_hours`` (or there is none); not again within
    ``retry_minutes`` of such a run. Else None."""
    if not (task.when_connected and task.enabled and was_there is False and there):
        return None
    mine = runs_into_dest(runs, task)
    done = [run_time(r, "started") for r in mine if r.get("status") in DONE]
    done = [t for t in done if t is not None and t <= now + FUTURE_SLACK]
    age = now - max(done) if done else None
    if age is not None and age < task.when_connected_hours * 3600:
        return None
    recent = [r for r in mine if r.get("trigger") == "drive" and r.get("scheduled_for") is None
              and now - (run_time(r, "started") or 0) < max(retry_minutes, 1) * 60]
    if recent:
        return None
    return Decision(RUN, "drive", None, "the backup drive is back and the last backup is %s "
                    "(when_connected_hours=%s)" % ("none" if age is None else _days(age) + " old",
                                                  "%g" % task.when_connected_hours), None)


def _plan_first(occ, attempts, age, in_window, watch_start, missed_task_days, next_occ):
    """The decision for ``occ`` when this process has not attempted it:
    its time reached now, or a catch-up (none yet, or one attempt for a
    failure recorded before start-up) within missed_task_days, else a skip."""
    if not attempts and occ > watch_start:
        return Decision(RUN, "schedule", occ, "scheduled time reached", next_occ)
    if in_window:
        why = ("the last attempt %s before start-up" % attempts[-1][1].get("status")
               if attempts else "missed while the runner was not running")
        return Decision(RUN, "missed", occ, "%s, %s ago (within missed_task_days=%d)"
                        % (why, _days(age), missed_task_days), next_occ)
    return Decision(SKIP, "missed", occ, "missed by %s, more than missed_task_days=%d: not caught up"
                    % (_days(age), missed_task_days), next_occ)


def _plan_retry(occ, attempt, now, age, missed_task_days, retry_minutes, next_occ):
    """The decision after ``attempt`` (time, run), the last attempt of ``occ``."""
    last_time, last = attempt
    if age > missed_task_days * DAY:
        return Decision(SKIP, "retry", occ, "still %s after %s: retries stop after missed_task_days=%d"
                        % (last.get("status"), _days(age), missed_task_days), next_occ)
    if retry_minutes <= 0:
        return Decision(WAIT, None, occ, "%s; retries are off (retry_minutes=0)" % last.get("status"),
                        next_occ)
    retry_at = _finished(attempt) + retry_minutes * 60
    if now >= retry_at:
        return Decision(RUN, "retry", occ, "last attempt %s; retrying every %s"
                        % (last.get("status"), "minute" if retry_minutes == 1 else "%d minutes" % retry_minutes),
                        next_occ)
    wake = retry_at if next_occ is None else min(retry_at, next_occ)
    return Decision(WAIT, None, occ, "waiting to retry", wake)


def _finished(attempt):
    """When an attempt (time, run) ended; one from the future counts as
    made at its time (see _since)."""
    last_time, last = attempt
    return (run_time(last, "finished") or last_time) if run_time(last, "started") == last_time else last_time


def retry_state(task, runs, now, zone, missed_task_days, retry_minutes, first_seen=None):
    """For --status, the page and /metrics: when the newest occurrence of a
    scheduled task (a new task's first backup: ``first_seen``, as in
    plan_task) has failed and nothing has satisfied it since,
    {"attempts": how many, "last_attempt": when the last ended, "next_try":
    when it is retried (None: retries off, or the window closes first)};
    else None. ``runs``: the task's history records."""
    if task.schedule is None or not task.enabled:
        return None
    occ = _occurrence(task, runs, now, zone, first_seen)[0]
    if occ is None:
        return None
    since = _since(runs_into_dest(runs, task), occ, now, now)
    if any(run.get("status") in DONE + ("running",) for _, run in since):
        return None
    attempts = [(t, r) for t, r in since if r.get("status") in _ATTEMPTS]
    if not attempts:
        return None
    last = _finished(attempts[-1])
    next_try = last + retry_minutes * 60 if retry_minutes > 0 else None
    if next_try is not None and next_try - occ > missed_task_days * DAY:
        next_try = None
    return {"attempts": attempts_made([r for _, r in attempts]), "last_attempt": last, "next_try": next_try}


def _since(runs, occ, now, watch_start):
    """(time, run) of the runs that started at or after ``occ``, oldest
    first. A run from the future (beyond FUTURE_SLACK) counts as made when
    this clock was first watched (``watch_start``) when it is a failed
    attempt (setting the clock back allows no second attempt sooner than
    retry_minutes), or a success recorded for an occurrence that has come
    (setting the clock back never runs that occurrence again). Any other
    satisfies nothing: a clock that once read 2030 silences nothing."""
    since = []
    for run in runs:
        started = run_time(run, "started")
        if started is None or started < occ:
            continue
        if started <= now + FUTURE_SLACK:
            since.append((started, run))
        elif run.get("status") in _ATTEMPTS or (
                run.get("status") in DONE and occ <= (run_time(run, "scheduled_for") or now + DAY) <= now):
            since.append((min(started, watch_start), run))
    since.sort(key=lambda pair: pair[0])
    return since


def runs_from_the_future(runs, now):
    """The runs that started later than ``now`` (beyond FUTURE_SLACK)."""
    return [r for r in runs if (run_time(r, "started") or 0) > now + FUTURE_SLACK]


def task_overview(task, runs, now, zone, count=3):
    """What --list shows for one task: schedule in words, the next ``count``
    run times (epoch seconds), the last run and the last successful one
    (into this ``dest``). After ``dest`` changed: ``last_run_elsewhere``,
    the former destination the last run went to, and ``success_elsewhere``,
    the one the last success went to while none went to this one (else None)."""
    last = last_ok = last_ok_anywhere = None
    mine = [run for run in runs if run.get("task") == task.name]
    here = set(id(run) for run in runs_into_dest(mine, task))  # each path resolved once
    for run in mine:
        last = run
        if run.get("status") in DONE:
            last_ok_anywhere = run
            if id(run) in here:
                last_ok = run
    return {
        "name": task.name,
        "src": task.src,
        "dest": task.dest,
        "default": task.default,
        "schedule": task.schedule.describe() if task.schedule else "only when started by hand (no timestamp)",
        "paused": not task.enabled,
        "next_runs": task.schedule.upcoming(now, count, zone) if task.schedule and task.enabled else [],
        "last_run": last,
        "last_success": last_ok,
        "last_run_elsewhere": None if last is None or id(last) in here else last.get("dest"),
        "success_elsewhere": last_ok_anywhere.get("dest") if last_ok is None and last_ok_anywhere else None,
    }
