"""What a snapshot is: its name, where it lives, how to find the complete ones.

A snapshot of a task is one entry in the task's ``dest``:

* a folder ``YYYY-MM-DD_HH-MM-SS`` (the local time the run started), or a
  file ``YYYY-MM-DD_HH-MM-SS.zip`` for ``"format": "zip"``;
* a second snapshot in the same second gets ``_2``, ``_3``, ... after the time;
* while it is built it is called ``NAME.partial`` and is renamed only when
  complete, so a name without ``.partial`` is always a whole backup;
* to be deleted it is first renamed to ``.deleting-NAME``, so a deletion cut
  short never leaves part of a snapshot under its name;
* a snapshot of a ``partial`` run (some files or folders could not be read)
  has a small JSON file ``NAME.incomplete`` beside it, written before it
  is published, listing the paths it lacks: retention never counts it in
  place of a complete one (retention.py). A snapshot without one (every
  snapshot made before it existed) is complete.

Nothing else in ``dest`` is ever listed, counted or deleted. The engine,
retention, status, verify and restore all ask this module.
"""

import datetime
import json
import logging
import os
import re

from ..fs import osutil, removal
from ..clock import LOCAL, local_datetime

logger = logging.getLogger(__name__)

# ASCII digits only: a name is a time the program wrote, never a look-alike.
SNAPSHOT_RE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2})(?:_([0-9]+))?(\.zip)?$")
PARTIAL = ".partial"
DELETING = ".deleting-"
INCOMPLETE = ".incomplete"
EVERYTHING = None  # what read_incomplete says when it cannot say which paths a snapshot lacks
# Beside a snapshot folder NAME: NAME.index, where each of its files came
# from (engine/index.py); deleted with it, and on its own when orphaned.
INDEX = ".index"


NAME_FORMAT = "%Y-%m-%d_%H-%M-%S"


def snapshot_name(started, zone=LOCAL):
    return local_datetime(started, zone).strftime(NAME_FORMAT)


def new_snapshot_name(dest, started, zone=LOCAL, as_zip=False):
    """The name a snapshot started at ``started`` gets in ``dest``: its
    local time, with ``_2``, ``_3``... when that time is taken. The suffix
    is above every one of that second ever seen in ``dest`` (a name freed by
    a deletion is not reused: names stay in the order the runs started).
    When the local time is behind the newest name by at most a day (the
    time zone moved west, the hour the clocks go back), the snapshot takes
    the newest one's time with the next number, so that the newest backup
    is the one whose name sorts last for restore, retention and listings."""
    ext = ".zip" if as_zip else ""
    base = snapshot_name(started, zone)
    try:
        names = os.listdir(dest)
    except OSError:
        names = []
    base = _not_before_newest(base, names)
    highest = 0
    for entry in names:
        m = SNAPSHOT_RE.match(_strip_marks(entry))
        if m and m.group(1) == base:
            highest = max(highest, int(m.group(2) or 1))
    name, n = base, max(2, highest + 1)
    if highest:
        name = "%s_%d" % (base, n)
    while (os.path.lexists(os.path.join(dest, name + ext))
           or os.path.lexists(os.path.join(dest, name + ext + PARTIAL))):
        n += 1
        name = "%s_%d" % (base, n)
    return name + ext


_ZONE_SLACK = datetime.timedelta(hours=26)  # the most local time can go back with the clock right


def _not_before_newest(base, names):
    """``base``, or the time of the newest snapshot name in ``names`` when
    ``base`` is behind it by at most _ZONE_SLACK (further behind: that name
    came from a clock that was wrong then, and is not followed)."""
    times = [m.group(1) for m in (SNAPSHOT_RE.match(_strip_marks(n)) for n in names) if m]
    newest = max(times) if times else None
    if newest is None or newest <= base:
        return base
    ahead = name_time(newest) - name_time(base)  # (not strptime: slow under Wine, and called by every run)
    return newest if ahead <= _ZONE_SLACK else base


def _strip_marks(entry):
    """A snapshot's name from the name of it or of its .partial, .deleting- or .incomplete."""
    if entry.startswith(DELETING):
        entry = entry[len(DELETING):]
    for mark in (PARTIAL, INCOMPLETE):
        if entry.endswith(mark):
            entry = entry[:-len(mark)]
    return entry


def name_time(name):
    """The local start time a snapshot name holds, as a naive datetime."""
    text = SNAPSHOT_RE.match(name).group(1)
    return datetime.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]),
                             int(text[11:13]), int(text[14:16]), int(text[17:19]))


def snapshot_sort_key(name):
    """Chronological order of snapshot names (``_10`` after ``_9``)."""
    m = SNAPSHOT_RE.match(name)
    return (m.group(1), int(m.group(2) or 1)) if m else ("", 0)


def list_snapshots(dest):
    """Complete snapshots in ``dest`` (folders and .zip files whose names
    match the pattern), oldest first. Never a ``.partial``."""
    try:
        names = os.listdir(dest)
    except OSError:
        return []
    found = []
    for name in names:
        m = SNAPSHOT_RE.match(name)
        if not m:
            continue
        path = os.path.join(dest, name)
        if (os.path.isfile(path) if m.group(3) else os.path.isdir(path)) and not os.path.islink(path):
            found.append(name)
    return sorted(found, key=snapshot_sort_key)


def newest_folder_snapshot(dest):
    for name in reversed(list_snapshots(dest)):
        if not name.endswith(".zip"):
            return os.path.join(dest, name)
    return None


def is_partial_name(name):
    return name.endswith(PARTIAL) and bool(SNAPSHOT_RE.match(name[:-len(PARTIAL)]))


def _remove(path, dest):
    """Delete the folder or file ``path`` of ``dest``. A folder's files may
    be hard links shared with the other snapshots, which must not change
    (removal.remove_tree)."""
    path = osutil.long_path(path)
    if os.path.isdir(path) and not os.path.islink(path):
        others = [osutil.long_path(os.path.join(dest, n)) for n in list_snapshots(dest) if not n.endswith(".zip")]
        removal.remove_tree(path, others)
    else:
        if osutil.WINDOWS:
            os.chmod(path, 0o600)  # a read-only file cannot be deleted there
        os.remove(path)


def write_incomplete(dest, name, skipped, limit=100000):
    """Record beside snapshot ``name`` of ``dest`` that its run skipped the
    "/"-separated paths ``skipped`` (more than ``limit``: "more", read back
    as EVERYTHING). Written and flushed before the snapshot is published."""
    record = {"incomplete": True, "skipped": sorted(set(skipped))[:limit], "more": len(skipped) > limit}
    path = osutil.long_path(os.path.join(dest, name + INCOMPLETE))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())


def read_incomplete(dest, name):
    """False for a complete snapshot (no record: every snapshot made before
    records existed is complete); else the frozenset of "/"-separated paths
    its run could not read, or EVERYTHING when the record is unreadable or
    was cut short (then it may lack anything)."""
    path = osutil.long_path(os.path.join(dest, name + INCOMPLETE))
    try:
        with open(path, "r", encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return EVERYTHING
    skipped = record.get("skipped") if isinstance(record, dict) else None
    if not isinstance(skipped, list) or record.get("more") is not False:
        return EVERYTHING
    return frozenset(p for p in skipped if isinstance(p, str))


def _remove_incomplete(dest, name):
    path = osutil.long_path(os.path.join(dest, name + INCOMPLETE))
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def delete_snapshot(dest, name):
    """Delete snapshot ``name`` of ``dest`` (complete or ``.partial``) so
    that a kill at any moment leaves it whole under its name or out of
    every listing: one atomic rename to ``.deleting-NAME`` (which nothing
    lists, restores or counts), then the removal. OSError when the rename
    fails (on Windows: a file of it open elsewhere): then it is untouched."""
    remove_index(dest, name)  # first: a snapshot without its index is only copied more
    doomed = os.path.join(dest, DELETING + name)
    if os.path.lexists(osutil.long_path(doomed)):
        _remove(doomed, dest)  # an earlier deletion of that name, interrupted
    os.rename(osutil.long_path(os.path.join(dest, name)), osutil.long_path(doomed))
    osutil.fsync_dir(dest)
    _remove(doomed, dest)
    _remove_incomplete(dest, name)  # last: until the snapshot is gone it stays marked incomplete


def remove_index(dest, name):
    """Delete the index (engine/index.py) of snapshot ``name`` of ``dest``
    (complete or ``.partial``), if it has one."""
    base = name[:-len(PARTIAL)] if name.endswith(PARTIAL) else name
    for suffix in (INDEX, INDEX + "-journal"):
        try:
            os.remove(osutil.long_path(os.path.join(dest, base + suffix)))
        except FileNotFoundError:
            pass


def is_orphan_index(dest, name):
    """True for an index whose snapshot is gone (a crash between the two)."""
    base = name[:-len(INDEX)]
    return (name.endswith(INDEX) and bool(SNAPSHOT_RE.match(base)) and not base.endswith(".zip")
            and not os.path.lexists(os.path.join(dest, base))
            and not os.path.lexists(os.path.join(dest, base + PARTIAL)))


def is_deleting_name(name):
    rest = name[len(DELETING):]
    return name.startswith(DELETING) and (bool(SNAPSHOT_RE.match(rest)) or is_partial_name(rest))


def is_orphan_record(dest, name):
    """True for ``NAME.incomplete`` whose snapshot is gone (a kill between
    the deletion and the record's, or before the snapshot was published)."""
    base = name[:-len(INCOMPLETE)]
    return (name.endswith(INCOMPLETE) and bool(SNAPSHOT_RE.match(base))
            and not os.path.lexists(os.path.join(dest, base)) and not os.path.lexists(os.path.join(dest, base + PARTIAL))
            and not os.path.lexists(os.path.join(dest, DELETING + base)))


def remove_leftovers(dest, log=logger, partials=True):
    """Finish what a crash or a kill left in ``dest``: deletions it
    interrupted (``.deleting-*``), records of snapshots that are gone
    (``NAME.incomplete``) and, with ``partials``, unfinished snapshots
    (``*.partial``). Only names of those patterns are touched.
    Call with the task lock held, so no other run is building or deleting one."""
    try:
        names = os.listdir(dest)
    except OSError:
        return
    for name in sorted(names):
        try:
            if is_deleting_name(name):
                _remove(os.path.join(dest, name), dest)
                _remove_incomplete(dest, name[len(DELETING):])
                log.info("finished deleting %s (its deletion had been interrupted)", name[len(DELETING):])
            elif is_orphan_record(dest, name):
                _remove_incomplete(dest, name[:-len(INCOMPLETE)])
            elif partials and is_partial_name(name):
                delete_snapshot(dest, name)
                log.info("removed unfinished snapshot %s left by an interrupted run", name)
            elif partials and is_orphan_index(dest, name):
                remove_index(dest, name[:-len(INDEX)])
                log.info("removed %s, the index of a snapshot that is gone", name)
        except OSError as exc:
            log.warning("could not remove %s: %s; the next run tries again", os.path.join(dest, name), exc)


# A backup folder (a task's dest) shows itself by what only a dest holds
# beside its snapshots: their index and incomplete records (an upload never
# writes them), so that an offsite remote that turns out to be one (a chunker
# or hasher remote over it, an alias) is refused before its clean-up could
# take the snapshots for an upload's leftovers.


def looks_like_dest(names):
    """True when the names of a folder (a listing, folders with or without a
    trailing "/") show a backup folder of this program."""
    for name in (n.rstrip("/") for n in names):
        for mark in (INDEX, INCOMPLETE):
            if name.endswith(mark) and SNAPSHOT_RE.match(name[:-len(mark)]):
                return True
    return False
