"""What the history's runs say: pure questions over a list of run records
(the newest of a task, the attempts of a scheduled time, a run's times,
whether a run went into the task's current ``dest``). The History (the
package's ``__init__``) reads and writes them; these only read."""

import os

from .shape import is_int
from ..clock import parse_iso

DONE = ("success", "partial")


def runs_of(runs, task):
    """The runs of ``task`` (oldest first)."""
    return [r for r in runs if r.get("task") == task]


def last_run(runs, task, statuses=None):
    """The newest run of ``task`` (with one of ``statuses``), or None."""
    for run in reversed(runs):
        if run.get("task") == task and (statuses is None or run.get("status") in statuses):
            return run
    return None


ATTEMPTS = ("failed", "interrupted")


def attempts_made(runs):
    """How many attempts ``runs`` (the failed or interrupted ones of one
    scheduled time) stand for: their count, or the number the newest says
    it was, when the older ones were trimmed out."""
    return max([len(runs)] + [r.get("attempt") for r in runs if is_int(r.get("attempt"))])


def attempts_of(runs, task, scheduled_for):
    when = parse_iso(scheduled_for)
    return attempts_made([r for r in runs if r["task"] == task and r.get("status") in ATTEMPTS
                          and run_time(r, "scheduled_for") == when])


def last_of_latest_occurrences(runs, count):
    """The ids (``id()``) of the last finished run (runs are in order) of
    each of the ``count`` latest scheduled times of each task: how each
    of the latest points of its schedule ended."""
    last = {}
    for run in runs:
        when = run_time(run, "scheduled_for")
        if when is not None and run.get("status") != "running":
            last[(run["task"], when)] = run
    per_task = {}
    for (task, when), run in last.items():
        per_task.setdefault(task, []).append((when, run))
    keep = set()
    for pairs in per_task.values():
        pairs.sort(key=lambda pair: pair[0])
        keep.update(id(run) for _, run in pairs[-count:])
    return keep


def earliest(runs, task, now_text):
    """The earliest time the runs of ``task`` name, none after ``now_text``
    (5 minutes' slack); ``now_text`` when it has no runs; None when every
    time it names is later (a clock that was wrong then)."""
    now = parse_iso(now_text)
    times = [(when, run[key]) for run in runs if run["task"] == task for key in ("started", "scheduled_for")
             for when in [run_time(run, key)] if when is not None]
    if not times:
        return now_text
    past = [pair for pair in times if pair[0] <= now + 300]
    return min(past)[1] if past else None


def run_time(run, key):
    """A run's ``started``/``finished``/``scheduled_for`` as epoch seconds,
    or None when absent or unreadable (a hand-edited file)."""
    try:
        return parse_iso(run.get(key))
    except (ValueError, TypeError):
        return None


def same_dest(run, task):
    """True when ``run`` backed up into the task's current ``dest`` (or is
    an older record that does not say). Runs into a dest the task no longer
    has do not count: the new destination is not backed up yet. A folder
    reached through a link is the folder it leads to."""
    dest = run.get("dest")
    return dest is None or _path_key(dest) == _path_key(task.dest)


def runs_into_dest(runs, task):
    """The runs of ``runs`` for which same_dest holds, each path resolved once."""
    mine, keys = _path_key(task.dest), {}
    kept = []
    for run in runs:
        dest = run.get("dest")
        if dest is not None and dest not in keys:
            keys[dest] = _path_key(dest)
        if dest is None or keys[dest] == mine:
            kept.append(run)
    return kept


def _path_key(path):
    return os.path.normcase(os.path.realpath(path)) if isinstance(path, str) else path
