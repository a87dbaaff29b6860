"""One status view of every task, for --status and GET /status.

Per task: schedule in words, next run, last run and status, last success
and how long ago, snapshot count and the newest snapshot, free space on the
destination's drive, whether it is running, and plain warnings when
something needs attention.
"""

import os
import shutil
import time

from .. import snapshots
from ..clock import LOCAL, format_local
from ..config import edit as config_edit
from ..errors import DRIVE_MISSING, ConfigError, HistoryError
from ..fs import drive, private_folder
from ..fs.locking import holder
from ..history import History
from ..history.records import run_time
from ..offsite import service as offsite_service
from ..runs.locks import offsite_lock, task_lock
from ..runs.runner import reap_stale_runs
from .plan import retry_state, task_overview

DAY = 86400.0
LOW_SPACE_PERCENT = 10


def _free_space(dest, disk_usage):
    """(free bytes, free percent) of the drive holding ``dest`` (or its
    nearest existing parent); None when even the drive is missing."""
    path = dest
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    if os.path.normpath(path) != os.path.normpath(dest) and path != os.path.dirname(os.path.normpath(dest)):
        return None  # the drive or share itself is missing (unplugged)
    try:
        usage = disk_usage(path)
    except OSError:
        return None
    return usage.free, (100.0 * usage.free / usage.total) if usage.total else 0.0


BAD, WARN = "bad", "warn"  # how much a warning needs attention: the page colours it so


def warnings_for(task, item, now, zone, free, marks=None):
    """Plain sentences about what needs attention, each with its level
    (BAD: backups are not being made; WARN: look when you can), from the
    item, the source folder on disk and ``free`` (None: no drive)."""
    out = []
    last_ok = item["last_success"]
    last = item["last_run"]
    if not task.enabled:
        out.append((WARN, "paused (\"enabled\": false): no scheduled backups"))
    elif task.schedule is not None:
        if last_ok is None:
            out.append((BAD, "no successful backup yet" if item.get("success_elsewhere") is None else
                        "no successful backup into %s yet (the last one went to %s, this task's destination "
                        "before)" % (task.dest, item["success_elsewhere"])))
        else:
            # The newest scheduled run has not succeeded for over a day
            # (retries have had their chance): say how old the backup is.
            latest = task.schedule.latest_at_or_before(now, zone)
            last_ok_at = run_time(last_ok, "started") or now
            if latest is not None and last_ok_at < latest and now - latest > DAY:
                out.append((BAD, "no successful backup for %d days" % ((now - last_ok_at) // DAY)))
    src_there = os.path.isdir(task.src)
    if last is not None and last.get("status") == "failed" and free is not None and src_there:
        # (With a drive missing now, the line about that drive says why: once.)
        out.append((BAD, "the last run failed: %s" % (last.get("message") or "see the log")))
    elif last is not None and last.get("status") == "partial":
        out.append((WARN, "the last backup could not read everything (%s): what it skipped is only in older "
                          "backups; see the log" % (last.get("message") or "partial")))
    if not src_there:
        out.append((BAD, "the source folder %s does not exist right now: is its drive connected?" % task.src))
    if item.get("waiting_for_drive"):
        out.append((BAD, "waiting for the backup drive (%s): the scheduler runs the backup as soon as it is "
                         "back" % item["waiting_for_drive"]))
    elif free is None:  # (the words of a run that would fail so)
        out.append((BAD, drive.missing_problem(task.dest) or "the free space on the backup drive cannot be read"))
    elif free[1] < LOW_SPACE_PERCENT:
        out.append((WARN, "destination drive has %d%% free" % free[1]))
    if free is not None:
        out.extend((WARN, text) for text in private_folder.open_warning(task.dest, marks))
    return out


def _waiting_for_drive(config, task, item, retry):
    """The drive (``E:\\``) the scheduler watches for this task
    (schedule/plan.plan_drive): a scheduled time (``retry``) or the first
    backup (no success yet) failed, the last time for a missing drive,
    which is still away, and retries are on. None otherwise."""
    last = item["last_run"]
    if (item["running"] or task.schedule is None or not task.enabled or config.retry_minutes <= 0
            or last is None or last.get("status") != "failed" or DRIVE_MISSING not in (last.get("message") or "")
            or (retry is None and item["last_success"] is not None) or drive.is_back(task.dest)):
        return None
    return drive.drive_label(task.dest)


def task_status(config, task, runs, now, zone, running, disk_usage=shutil.disk_usage, uploads=(), uploading=None,
                scheduler_running=True, first_seen=None):
    item = task_overview(task, runs, now, zone, count=1)
    retry = retry_state(task, [r for r in runs if r.get("task") == task.name], now, zone,
                        config.missed_task_days, config.retry_minutes, first_seen)
    # A failing scheduled time: how many attempts, the last, the next (None: no more). With no
    # scheduler running nothing retries at that time: its start (or the next "once") tries at once.
    item["retry"] = None if retry is None else {
        "attempts": retry["attempts"], "last_attempt_at": format_local(retry["last_attempt"], zone),
        "next_try_at": None if retry["next_try"] is None else format_local(retry["next_try"], zone),
        "at_scheduler_start": retry["next_try"] is not None and not scheduler_running}
    nxt = item.pop("next_runs")
    item["next_run"] = format_local(nxt[0], zone) if nxt else None
    item["running"] = running
    item["waiting_for_drive"] = _waiting_for_drive(config, task, item, retry)
    last_ok = item["last_success"]
    started = run_time(last_ok, "started") if last_ok else None
    item["last_success_days_ago"] = None if started is None else round((now - started) / DAY, 1)
    snaps = snapshots.list_snapshots(task.dest)
    item["snapshots"] = len(snaps)
    item["newest_snapshot"] = os.path.join(task.dest, snaps[-1]) if snaps else None
    free = _free_space(task.dest, disk_usage)
    item["free_bytes"] = None if free is None else free[0]
    item["free_percent"] = None if free is None else round(free[1], 1)
    found = warnings_for(task, item, now, zone, free, config.lock_dir)
    item["warnings"] = [text for _, text in found]
    levels = [level for level, _ in found]
    item["offsite"] = offsite = offsite_service.offsite_status(task, runs, uploads, now)
    if offsite and offsite["uploading"] and uploading is not None:
        offsite["uploading"] = uploading  # False: a record a killed process left "running"
    if offsite and not (scheduler_running and config.retry_minutes > 0):
        offsite["waiting_for_drive"] = None  # nobody waits for it: a copy made only by hand, or no retries
    stalled = offsite_service.stall_warning(offsite)
    if stalled:
        item["warnings"].append(stalled)
        levels.append(WARN)
    last_up = offsite and offsite["last_upload"]
    if last_up and last_up.get("status") in ("failed", "interrupted"):
        away = offsite["waiting_for_drive"]
        item["warnings"].append("the last offsite copy %s: %s%s" % (last_up["status"], last_up.get("message") or "",
                                                                    "; it is copied when %s is back" % away if away else ""))
        levels.append(WARN)
    item["severity"] = BAD if BAD in levels else WARN if levels else "ok"
    return item


def runs_now(config, clock=time.time, zone=LOCAL):
    """The history's runs, those a process that is gone left ``running``
    marked interrupted first (runner.reap_stale_runs), so that status, list,
    the page and /metrics never show a run that can no longer end as
    running. A history that cannot be written is shown as it is."""
    history = History.for_config(config, clock)
    runs = history.runs()
    try:
        if reap_stale_runs(config, history, runs, clock, zone):
            runs = history.runs()
    except HistoryError:
        pass
    return runs


def current_report(config, clock, zone, runs=None):
    """status_report from the history on disk (or ``runs`` read from it,
    see runs_now) and the locks now."""
    history = History.for_config(config, clock)
    if runs is None:
        runs = runs_now(config, clock, zone)
    uploads = history.uploads() if any(t.offsite for t in config.tasks) else []
    try:
        examples = config_edit.example_names(config_edit.load_raw(config.path).data) if config.path else ()
    except ConfigError:  # the file changed meanwhile: the tasks are shown as tasks
        examples = ()
    return status_report(config, runs, clock(), zone, lambda name: not task_lock(config, name).is_free(),
                         running_programs(config), uploads,
                         lambda name: not offsite_lock(config, name).is_free(), history.tasks_seen(), examples)


def status_report(config, runs, now, zone, is_running, programs=None, uploads=(), is_uploading=None, seen=None,
                  examples=()):
    """Every task's status; ``is_running(task_name)`` tells from the locks.
    ``programs``: {"scheduler": holder or None, "http_servers": [holder...]}
    from the single-instance locks; a scheduler that is not running is a
    warning (nothing runs on schedule). ``uploads``: the history's upload
    records; ``is_uploading(task_name)`` tells from the offsite locks
    (None: the records are believed). ``seen``: History.tasks_seen().
    ``examples``: the names of the sample's example tasks, as shipped: each
    says only that it is one (severity "example": nothing needs attention)."""
    programs = programs or {"scheduler": None, "http_servers": []}
    scheduler = programs["scheduler"]
    warnings = []
    if scheduler is None and any(t.schedule is not None and t.enabled and t.name not in examples for t in config.tasks):
        warnings.append("the scheduler is not running: scheduled backups do not happen until "
                        "scheduled_task_runner is started")
    return {"now": format_local(now, zone),
            "scheduler": dict(scheduler, running=True) if scheduler is not None else {"running": False},
            "http_servers": programs["http_servers"],
            "warnings": warnings,
            "tasks": [_example(task_status(config, t, runs, now, zone, is_running(t.name), uploads=uploads,
                                           uploading=None if is_uploading is None or t.offsite is None
                                           else is_uploading(t.name), scheduler_running=scheduler is not None,
                                           first_seen=(seen or {}).get(t.name)), t.name in examples)
                      for t in config.tasks]}


def _example(item, example):
    if example:
        item.update(warnings=[config_edit.EXAMPLE_NOTE], severity="example")
    return item


def running_programs(config):
    """Who holds the scheduler's and the HTTP servers' locks right now."""
    servers = []
    try:
        names = sorted(os.listdir(config.lock_dir))
    except OSError:
        names = []
    for name in names:
        if name.startswith("http-") and name.endswith(".lock"):
            info = holder(os.path.join(config.lock_dir, name))
            if info is not None:
                servers.append(info)
    return {"scheduler": holder(os.path.join(config.lock_dir, "daemon.lock")), "http_servers": servers}
