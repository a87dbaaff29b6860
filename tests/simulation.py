"""A month in the life of the scheduler (issue 20), as a seeded simulation.

The real Daemon (its injected clock and wait), the real planning, history,
runner, engine and notification decisions run over 60 simulated days;
only the copy is replaced, through the engine's Ops seam, and deliveries
of notifications are recorded instead of sent. A seeded random script of
events happens in between: the backup drive unplugged and plugged back,
the machine asleep (the clock jumps), the scheduler restarted (a new
Daemon on the same history), the wall clock set back or forward, a task
paused and resumed, a manual run, a flaky drive. The scheduler's runs
take time (up to a length drawn per seed: seconds to hours), during which
the other tasks' times come due. After every step the
invariants are checked; a broken one raises SimulationFailure with a
replayable trace (the seed, the events, the step).

    python3 dev/simulate.py --seeds 5000      runs thousands of seeds
"""

import json
import logging
import os
import random
import shutil
import tempfile
import threading
import time

from task_runner.runs import notify
from task_runner.fs import fileio
from task_runner.config import load_config
from task_runner.schedule.daemon import Daemon
from task_runner.history import History
from task_runner.history.records import DONE, run_time
from task_runner.runs.runner import begin_run, run_task
from task_runner.clock import LOCAL, format_local
from task_runner.config.timestamps import parse_schedule

HOUR, DAY = 3600.0, 86400.0
RETRY_MINUTES, WINDOW_DAYS, HISTORY_LIMIT = 480, 3, 5
# Sundays 02:30 (the spring-forward gap in Berlin and New York), Sundays and
# Wednesdays 01:30 (repeated at New York's fall-back), the 1st at 23:56.
TASKS = [("Weekly", "30 2 * * 0"), ("Twice", "30 1 * * 0,3"), ("Monthly", "1 23:56")]
SCHEDULES = dict((name, parse_schedule(when)) for name, when in TASKS)
# The longest run of a seed: a run lasts from nothing up to it.
RUN_LENGTHS = [0.0, 30.0, 600.0, HOUR, 4 * HOUR]
# Windows with both zones' DST changes: autumn 2026, spring 2027.
STARTS = ["2026-10-01T12:00:00+00:00", "2027-02-20T12:00:00+00:00"]
ZONES = ["Europe/Berlin", "America/New_York"]


class SimulationFailure(AssertionError):
    pass


class SimOps(fileio.Ops):
    """The copy, replaced: a flaky drive refuses some files (a partial run)."""

    def __init__(self, world):
        self.world = world

    def open_write(self, path, mode=0o666):
        if self.world.flaky:
            raise OSError(5, "simulated I/O error on a flaky drive", path)
        return fileio.Ops.open_write(self, path, mode)

    sendfile = None  # read and write, through this seam


class RecordingNotifier(notify.Notifier):
    """The real decisions of Notifier; deliveries are recorded, not sent."""

    def __init__(self, world, settings):
        super(RecordingNotifier, self).__init__(settings)
        self.world = world

    def _spawn(self, func, *args):
        if func.__name__ == "_webhook":
            self.world.notifications.append(dict(args[0]))


class World(object):
    """The simulated machine: its wall clock, the real time that passed
    (``elapsed``), the drive, and what happened."""

    def __init__(self, folder, seed):
        self.folder, self.seed = folder, seed
        self.rng = random.Random(seed)
        self.zone_name = self.rng.choice(ZONES)
        self.now = run_time({"t": self.rng.choice(STARTS)}, "t")
        self.start = self.now
        self.elapsed = 0.0
        self.flaky = False
        self.plugged = True
        self.paused = set()
        self.longest_run = self.rng.choice(RUN_LENGTHS)
        # dicts: instance, elapsed, wall, task, trigger, scheduled_for, status, run_id; end (the clock
        # when the run ended), paused (the tasks paused then)
        self.attempts = []
        self.notifications = []
        self.events = []
        self.instance = 0
        self.ops = SimOps(self)

    def clock(self):
        return self.now


def _write_config(world):
    tasks = [{"name": name, "src": "src", "dest": "drive/" + name, "timestamp": when, "priority": "normal",
              "enabled": name not in world.paused} for name, when in TASKS]
    data = {"tasks": tasks, "retry_minutes": RETRY_MINUTES, "missed_task_days": WINDOW_DAYS,
            "history_limit": HISTORY_LIMIT, "notify": {"webhook": "http://127.0.0.1:9/never"}}
    path = os.path.join(world.folder, "config.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path


class Simulation(object):
    """One seed: ``run()`` plays the script and checks after every step."""

    def __init__(self, seed, days=60, folder=None):
        # On a RAM disk where there is one: the history is written (and fsynced) a few hundred times.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.folder = folder or tempfile.mkdtemp(prefix="sim-", dir=shm)
        self.world = World(self.folder, seed)
        self.days = days
        self.stop = threading.Event()
        os.makedirs(os.path.join(self.folder, "src"))
        os.makedirs(os.path.join(self.folder, "drive"))
        with open(os.path.join(self.folder, "src", "a.txt"), "w") as f:
            f.write("data")
        self.config_path = _write_config(self.world)
        self.notifier = RecordingNotifier(self.world, load_config(self.config_path).notify)

    # -- the machine ---------------------------------------------------------
    def _wait(self, timeout):
        """The daemon's wait: time passes, and the events due meanwhile
        happen (a sleep makes the daemon wake late, as a real one would)."""
        w = self.world
        target = w.elapsed + timeout
        while self._next < len(self._events) and self._events[self._next][0] <= target:
            at, kind, arg = self._events[self._next]
            w.now += max(0.0, at - w.elapsed)
            w.elapsed = max(w.elapsed, at)
            target += self._event(kind, arg)
            self._next += 1
            problem = self._capture.problem or check_step(w)
            if problem:
                raise SimulationFailure(self.trace(self._next - 1, problem))
            if kind == "restart":
                self.stop.set()
                return True
        w.now += target - w.elapsed
        w.elapsed = target
        if self._next >= len(self._events):
            self.stop.set()
        return self.stop.is_set()

    def _run(self, config, task, trigger, scheduled_for=None, clock=None, zone=None, **kw):
        """The Daemon's run function: run_task with the simulated copy,
        taking time (the clock and the real time go on during it)."""
        w = self.world
        started = begin_run(config, task, trigger, scheduled_for, clock, zone)
        if not hasattr(started, "execute"):  # already running
            return started
        wall, elapsed = w.now, w.elapsed
        length = w.rng.uniform(0, w.longest_run)
        w.now += length
        w.elapsed += length
        outcome = started.execute(ops=w.ops, **kw)
        return self._record(outcome, trigger, dict(kw, scheduled_for=scheduled_for), wall, elapsed)

    def _record(self, outcome, trigger, kw, wall=None, elapsed=None):
        w = self.world
        wall = w.now if wall is None else wall
        elapsed = w.elapsed if elapsed is None else elapsed
        if trigger in SCHEDULED and any(a["task"] == outcome.task and a["elapsed"] == elapsed
                                        and a["trigger"] in SCHEDULED for a in w.attempts[-3:]):
            # Checked here: a storm never returns to the wait, where the others are
            # (and the daemon catches what a run raises: the capture keeps it).
            self._capture.problem = self._capture.problem or (
                "%s was attempted again without time passing (%s)" % (outcome.task, trigger))
            raise SimulationFailure(self.trace(self._next, self._capture.problem))
        w.attempts.append({"instance": w.instance, "elapsed": elapsed, "wall": wall, "task": outcome.task,
                           "trigger": trigger, "scheduled_for": kw.get("scheduled_for"),
                           "status": outcome.status, "run_id": outcome.run_id, "end": w.now,
                           "paused": set(w.paused)})
        return outcome

    def _new_daemon(self):
        self.world.instance += 1
        config = load_config(self.config_path)
        self.stop.clear()
        return Daemon(config, clock=self.world.clock, wait=self._wait, stop_event=self.stop, zone=LOCAL,
                      run=self._run, max_sleep=DAY, check_every=6 * HOUR, notifier=self.notifier)

    # -- events --------------------------------------------------------------
    def _event(self, kind, arg):
        """Apply one event; returns how much later than planned the daemon wakes."""
        w = self.world
        drive, away = os.path.join(self.folder, "drive"), os.path.join(self.folder, "drive-away")
        if kind == "unplug" and w.plugged:
            os.rename(drive, away)
            w.plugged = False
        elif kind == "plug" and not w.plugged:
            os.rename(away, drive)
            w.plugged = True
        elif kind in ("sleep", "restart"):  # asleep, or off: time passes, nothing runs
            w.now += arg
            w.elapsed += arg
            return arg
        elif kind == "set_clock":
            w.now += arg
        elif kind in ("pause", "resume"):
            (w.paused.add if kind == "pause" else w.paused.discard)(arg)
            _write_config(w)
        elif kind == "manual":
            config = load_config(self.config_path)
            task = [t for t in config.tasks if t.name == arg][0]
            self._record(run_task(config, task, "manual", clock=w.clock, zone=LOCAL, ops=w.ops,
                                  notifier=self.notifier), "manual", {})
        elif kind == "flaky":
            w.flaky = bool(arg)
        return 0.0

    def script(self):
        """The seeded events: (when, in real seconds since the start, kind, argument)."""
        rng = self.world.rng
        names = [name for name, _ in TASKS]
        events, at = [], 0.0
        while at < (self.days - WINDOW_DAYS - 2) * DAY:
            at += rng.choice([10 * 60, HOUR, 5 * HOUR, DAY, 2.5 * DAY])
            kind = rng.choice(["unplug", "plug", "plug", "sleep", "restart", "set_clock", "pause", "resume",
                               "manual", "flaky", "nothing"])
            arg = {"sleep": lambda: rng.uniform(0.1, 30) * HOUR, "restart": lambda: rng.uniform(0, 48) * HOUR,
                   "set_clock": lambda: rng.choice([-1, 1]) * rng.choice([60, 600, HOUR, 5 * HOUR, 2 * DAY]),
                   "pause": lambda: rng.choice(names), "resume": lambda: rng.choice(names),
                   "manual": lambda: rng.choice(names), "flaky": lambda: rng.random() < 0.3}.get(kind, lambda: None)()
            events.append((round(at), kind, arg))
            at += arg if kind in ("sleep", "restart") else 0
        # The end: everything back to normal, long enough for every window to close.
        events += [(round(at), "plug", None), (round(at), "flaky", False)] + [(round(at), "resume", n) for n in names]
        events.append((round(at + (WINDOW_DAYS + 2) * DAY), "nothing", None))
        return events

    def run(self):
        self._events = self.world.events = self.script()
        self._next = 0
        logger = logging.getLogger("task_runner")
        saved = (logger.propagate, logger.level, list(logger.handlers))
        self._capture = _ErrorCapture()
        logger.propagate, logger.handlers = False, [self._capture]
        logger.setLevel(logging.WARNING)
        try:
            while self._next < len(self._events):
                self._new_daemon().run()  # until a restart or the end
            problem = check_end(self.world, self.config_path)
            if problem:
                raise SimulationFailure(self.trace(len(self._events) - 1, problem))
        finally:
            logger.propagate, logger.handlers = saved[0], saved[2]
            logger.setLevel(saved[1])
        return self.world

    def trace(self, step, problem):
        w = self.world
        lines = ["seed %d (%s, from %s) broke at event %d: %s" % (w.seed, w.zone_name,
                                                                time.strftime("%Y-%m-%d", time.gmtime(w.start)),
                                                                step, problem),
                 "replay: python3 dev/simulate.py --seed %d" % w.seed, "events (real seconds since the start, kind, argument):"]
        lines += ["  %3d %r%s" % (i, e, "   <-- here" if i == step else "") for i, e in enumerate(w.events[:step + 1])]
        lines.append("the last attempts (scheduler instance, real hours since the start, clock, task, trigger, "
                     "scheduled for, status):")
        lines += ["  %d %7.2f %s %s %s %s %s" % (a["instance"], a["elapsed"] / HOUR, _local(a["wall"]), a["task"],
                                                a["trigger"], _local(a["scheduled_for"]), a["status"])
                  for a in w.attempts[-30:]]
        return "\n".join(lines)

    def cleanup(self):
        shutil.rmtree(self.folder, ignore_errors=True)


class _ErrorCapture(logging.Handler):
    """An unexpected error in the daemon is a broken invariant too."""

    def __init__(self):
        super(_ErrorCapture, self).__init__(logging.WARNING)
        self.problem = None

    def emit(self, record):
        if record.exc_info and self.problem is None:
            self.problem = "logged an exception: %s" % record.getMessage()


def _local(when):
    return "-" if when is None else format_local(when, LOCAL)


# -- invariants ---------------------------------------------------------------
SCHEDULED = ("schedule", "missed", "retry", "first", "drive")


def check_step(world):
    """The first broken invariant after a step, or None."""
    by_occurrence = {}
    for a in world.attempts:
        if a["trigger"] in SCHEDULED:
            by_occurrence.setdefault((a["task"], a["scheduled_for"]), []).append(a)
    for (task, occ), attempts in sorted(by_occurrence.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        for before, after in zip(attempts, attempts[1:]):
            if before["status"] in DONE:
                return "%s: the occurrence %s ran again after a success" % (task, _local(occ))
            # Sooner than retry_minutes both in real time and by the clock (the clock
            # set forward is time passing, as far as the scheduler can know).
            restart = after["instance"] != before["instance"] and after["trigger"] == "missed"
            if after["trigger"] == "drive":  # the drive's return: one early attempt per retry_minutes
                drives = [a for a in attempts[:attempts.index(after)] if a["trigger"] == "drive"]
                before = drives[-1] if drives else None
            soon = RETRY_MINUTES * 60 if before is None else max(after["elapsed"] - before["elapsed"],
                                                                  after["wall"] - before["wall"])
            if not restart and soon < RETRY_MINUTES * 60 - 1:
                return ("%s: the occurrence %s was attempted again %.0f s after the last attempt (retry_minutes=%d)"
                        % (task, _local(occ), soon, RETRY_MINUTES))
        missed = {}
        for a in attempts:
            if a["trigger"] == "missed":
                missed[a["instance"]] = missed.get(a["instance"], 0) + 1
                if missed[a["instance"]] > 1:
                    return "%s: the occurrence %s was caught up twice by one scheduler" % (task, _local(occ))
            if a["trigger"] != "schedule" and a["wall"] - occ > WINDOW_DAYS * DAY:
                return "%s: the occurrence %s was caught up %.1f days late (missed_task_days=%d)" % (
                    task, _local(occ), (a["wall"] - occ) / DAY, WINDOW_DAYS)
    return _check_during_runs(world) or _check_notifications(world)


def _check_during_runs(world):
    """An occurrence that came due during another task's run (and was not
    attempted before it: the clock may have been set back) is run, as
    ``schedule``, once that run ends (not taken for a sleep of the computer)."""
    for i, run in enumerate(world.attempts):
        if run.get("end", run["wall"]) <= run["wall"] or run["trigger"] == "manual" or run.get("answered"):
            continue
        for name, schedule in sorted(SCHEDULES.items()):
            occ = schedule.latest_at_or_before(run["end"], LOCAL)
            if name == run["task"] or name in run["paused"] or occ is None or occ <= run["wall"]:
                continue
            if any(a["task"] == name and a["scheduled_for"] == occ for a in world.attempts[:i]):
                continue  # attempted before (the clock was set back since): retried, not new
            later = [a for a in world.attempts[i + 1:] if a["task"] == name and a["scheduled_for"] == occ]
            if not later or later[0]["trigger"] != "schedule":
                return "%s: the occurrence %s came due during a run of %s (%s to %s) and was %s" % (
                    name, _local(occ), run["task"], _local(run["wall"]), _local(run["end"]),
                    "not run after it" if not later else "run as %s" % later[0]["trigger"])
        run["answered"] = True  # checked once: the attempts after it never change
    return None


def _check_notifications(world):
    failures = {}
    for n in world.notifications:
        if n.get("status") in notify.FAILURES and n.get("scheduled_for"):
            key = (n["task"], n["scheduled_for"])
            failures[key] = failures.get(key, 0) + 1
            if failures[key] > 1:
                return "%s: more than one failure notification for the occurrence %s" % key
    return None


def check_end(world, config_path):
    """The invariants on the final history."""
    config = load_config(config_path)
    runs = History.for_config(config).runs()
    for task in config.tasks:
        mine = [r for r in runs if r["task"] == task.name]
        if len(mine) > 2 * HISTORY_LIMIT + 1:
            return "%s: %d runs in the history, history_limit is %d" % (task.name, len(mine), HISTORY_LIMIT)
        ok = [a for a in world.attempts if a["task"] == task.name and a["status"] in DONE]
        if ok and ok[-1]["run_id"] not in [r["id"] for r in mine]:
            return "%s: the newest success (run %s) is not in the history" % (task.name, ok[-1]["run_id"])
        problem = _check_covered(world, task, mine)
        if problem:
            return problem
    return None


def _check_covered(world, task, runs):
    """Every occurrence is answered: a success at or after it, or a skipped record for it or a later one."""
    last_done = max([run_time(r, "started") or 0 for r in runs if r.get("status") in DONE] + [0])
    last_skip = max([run_time(r, "scheduled_for") or 0 for r in runs if r.get("status") == "skipped"] + [0])
    occ = task.schedule.latest_at_or_before(world.now - (WINDOW_DAYS + 1) * DAY, LOCAL)
    if occ is not None and occ > world.start and last_done < occ and last_skip < occ:
        return "%s: the occurrence %s has neither a success after it nor a skipped record" % (task.name, _local(occ))
    return None


def run_seed(seed, days=60):
    """Play one seed; returns the World. Raises SimulationFailure."""
    sim = Simulation(seed, days)
    old = os.environ.get("TZ")
    if hasattr(time, "tzset"):
        os.environ["TZ"] = sim.world.zone_name
        time.tzset()
    try:
        return sim.run()
    finally:
        if hasattr(time, "tzset"):
            if old is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old
            time.tzset()
        sim.cleanup()

