"""Retention (the task key ``keep``): which snapshots to keep, and why.

``keep`` is a whole number (the newest N) or a calendar policy with borg
``prune``'s meaning, which users already know::

    {"last": 3, "hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 5, "within": "2d"}

* ``within`` keeps every snapshot newer than that age (h, d, w, m = 31 days,
  y = 365 days).
* Then each rule, in the order last, hourly, daily, weekly (ISO week),
  monthly, yearly, walks the snapshots newest first and keeps the newest of
  each period until it has kept its count. A snapshot already kept by an
  earlier rule is not kept again and does not count, but its period is
  used up. A rule that runs out of snapshots before its count also keeps
  the oldest one.
* The newest snapshot is always kept (when no rule keeps it, with the
  reason "the newest is always kept").
* A snapshot of a ``partial`` run (snapshots/__init__.py: its ``NAME.incomplete``
  record) never counts in place of a complete one; see ``decide``.

Periods are read from the snapshot's name (its local start time).
``decide`` is pure; ``apply`` does the deleting. Only complete snapshots
(names of the snapshot pattern, never ``.partial``) are counted or touched:
nothing else in ``dest`` is ever deleted.
"""

import collections
import datetime
import logging

from ..clock import LOCAL, local_datetime
from ..config.policy import _UNITS, RULES
from . import (EVERYTHING, delete_snapshot, list_snapshots, name_time, read_incomplete, remove_leftovers,
    snapshot_sort_key)

logger = logging.getLogger(__name__)

Decision = collections.namedtuple("Decision", "name keep reason")  # pragma: no mutate
Decision.__doc__ = "One snapshot: keep (True/False) and the reason the log and --dry-run show."  # pragma: no mutate


_PERIODS = {
    "last": None,  # every snapshot is its own period
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: t.year,
}


def decide(names, policy, now, zone=LOCAL, incomplete=None, just_made=None):
    """For snapshot ``names`` (any order), a Decision for each, oldest
    first. ``now`` (epoch seconds) is used only by ``within``.
    ``incomplete`` maps the names of snapshots made by ``partial`` runs to
    the "/"-separated paths they lack (snapshots.read_incomplete: a
    frozenset, or EVERYTHING); every other name is complete.

    Pruning is decided on complete snapshots (borg's and restic's rule): the
    policy counts the snapshots up to the newest complete one, and, as a set
    of their own, the incomplete ones made since, so that they never take a
    complete one's place. The newest complete snapshot is always kept, as is
    the newest of all, and so is the newest snapshot that holds a path a
    newer incomplete one lacks (until a complete run has it again). So is
    ``just_made``, the snapshot of the run that prunes: names are local
    times, and after the time zone changed (or in the hour clocks go back)
    the newest snapshot may not sort last."""
    incomplete = incomplete or {}
    ordered = sorted(names, key=snapshot_sort_key)
    times = {name: name_time(name) for name in ordered}
    complete = [n for n in ordered if n not in incomplete]
    cut = ordered.index(complete[-1]) + 1 if complete else 0
    since = ordered[cut:]  # incomplete, all of them: made after the newest complete one
    kept = collections.OrderedDict()
    _keep_by_policy(list(reversed(ordered[:cut])), times, policy, now, zone, kept, "")
    _keep_by_policy(list(reversed(since)), times, policy, now, zone, kept,
                    " of the incomplete snapshots since the newest complete one")
    if just_made in times and just_made not in kept:
        kept[just_made] = "the snapshot this run made is always kept"
    if ordered and ordered[-1] not in kept:
        kept[ordered[-1]] = "the newest is always kept"
    if complete and complete[-1] not in kept:
        kept[complete[-1]] = "the newest complete snapshot is always kept"
    _keep_what_newer_ones_lack(ordered[cut - 1:] if cut else since, incomplete, kept)
    return [Decision(n, n in kept, kept.get(n, "no rule keeps it")) for n in ordered]


def _keep_by_policy(newest_first, times, policy, now, zone, kept, among):
    """Add to ``kept`` (name -> reason) what ``policy`` keeps of ``newest_first``."""
    if policy.within is not None:
        since = local_datetime(now, zone) - datetime.timedelta(seconds=policy.within)
        for name in newest_first:
            if times[name] > since:
                kept.setdefault(name, "within %s%s" % (_describe_within(policy.within), among))
    for rule in RULES:
        count = getattr(policy, rule)
        if not count:
            continue
        period_of = _PERIODS[rule]
        found, last_period, name = 0, object(), None
        for name in newest_first:
            period = name if period_of is None else period_of(times[name])
            if period == last_period:
                continue
            last_period = period
            if name not in kept:
                found += 1
                kept[name] = "%s #%d%s" % (rule, found, among)
                if found == count:
                    break
        if name is not None and found < count and name not in kept:
            kept[name] = "%s #%d, the oldest%s" % (rule, found + 1, among)


def _lacks(incomplete, name, path):
    """True when snapshot ``name`` may lack ``path`` (or a folder above it)."""
    if name not in incomplete:
        return False
    skipped = incomplete[name]
    if skipped is EVERYTHING or "." in skipped:
        return True
    parts = path.split("/")
    return any("/".join(parts[:i]) in skipped for i in range(1, len(parts) + 1))


def _keep_what_newer_ones_lack(sequence, incomplete, kept):
    """``sequence``: the newest complete snapshot (when there is one) and the
    incomplete ones after it, oldest first. For each path one of them lacks,
    the last snapshot before it that holds the path is kept."""
    paths = set()
    for name in sequence:
        skipped = incomplete.get(name, frozenset())
        if skipped is EVERYTHING:
            # It does not say what it lacks: every older one may hold the only copy.
            for older in sequence[:sequence.index(name)]:
                kept.setdefault(older, "%s may lack any file (its record of what it skipped is "
                                       "missing or cut short)" % name)
            continue
        paths.update(skipped)
    for path in sorted(paths):
        holder = None
        for name in sequence:
            if not _lacks(incomplete, name, path):
                holder = name
            elif holder is not None:
                kept.setdefault(holder, "holds %s, which the newer run %s could not read" % (path, name))
                holder = None


def _describe_within(seconds):
    """"2d" for 2 days: the largest unit that divides it (an hour always does)."""
    unit = next(u for u in ("y", "m", "w", "d", "h") if seconds % _UNITS[u] == 0)
    return "%d%s" % (seconds // _UNITS[unit], unit)


def apply(dest, policy, now, log=logger, dry_run=False, extra_new=None, zone=LOCAL, verbose=False, just_made=None):
    """Delete the snapshots of ``dest`` that ``policy`` does not keep;
    returns the names deleted (or, with ``dry_run``, that would be).
    ``extra_new`` is the name of a snapshot a dry run would add, and
    ``just_made`` that of the run's own snapshot (both always kept). Each
    deletion is logged with its reason (each keep too, at INFO with
    ``verbose``, else DEBUG). A deletion that fails is logged and left for
    the next run; it never fails the backup. A deletion cut short (a kill, a
    power cut) leaves the snapshot whole or out of every listing, and is
    finished here or by the next run (snapshots.delete_snapshot)."""
    if not dry_run:
        remove_leftovers(dest, log, partials=False)
    names = list_snapshots(dest)
    incomplete = {}
    for name in names:
        lacks = read_incomplete(dest, name)
        if lacks is not False:
            incomplete[name] = lacks
    if extra_new:
        names.append(extra_new)
    done = []
    for decision in decide(names, policy, now, zone, incomplete, just_made or extra_new):
        name = decision.name
        if decision.keep:
            log.log(logging.INFO if verbose else logging.DEBUG, "keeping %s (%s)", name, decision.reason)
            continue
        if dry_run:
            log.info("would delete %s: %s", name, decision.reason)
            done.append(name)
            continue
        try:
            delete_snapshot(dest, name)
        except OSError as exc:
            log.warning("could not delete old snapshot %s: %s; the next run tries again", name, exc)
            continue
        log.info("deleted %s: %s", name, decision.reason)
        done.append(name)
    return done
