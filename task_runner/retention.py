"""Retention (the task key ``keep``): which snapshots to delete, and why.

``select_deletions`` is pure; ``apply`` does the deleting. Only complete
snapshots (names of the snapshot pattern, never ``.partial``) are counted
or touched: nothing else in ``dest`` is ever deleted.
"""

import logging
import os

from . import osutil
from .snapshots import list_snapshots, remove_snapshot_folder

logger = logging.getLogger(__name__)


def select_deletions(names, keep):
    """Given complete snapshot names oldest first, the (name, reason) pairs
    to delete so that the newest ``keep`` remain. ``keep`` None keeps all."""
    if keep is None or len(names) <= keep:
        return []
    doomed = names[:len(names) - keep]
    return [(name, "keep=%d: %d newer snapshot(s) are kept" % (keep, keep)) for name in doomed]


def _delete(path, dest):
    if os.path.isdir(path) and not os.path.islink(path):
        remove_snapshot_folder(path, dest)
    else:
        os.chmod(path, 0o600)  # a read-only file cannot be deleted on Windows
        os.remove(path)


def apply(dest, keep, log=logger, dry_run=False, extra_new=None):
    """Delete the snapshots of ``dest`` beyond ``keep``; returns the names
    deleted (or, with ``dry_run``, that would be). ``extra_new`` is the name
    of a snapshot a dry run would add. A deletion that fails is logged and
    left for the next run; it never fails the backup."""
    names = list_snapshots(dest)
    if extra_new:
        names.append(extra_new)
    done = []
    for name, reason in select_deletions(names, keep):
        if dry_run:
            log.info("would delete snapshot %s (%s)", name, reason)
            done.append(name)
            continue
        try:
            _delete(osutil.long_path(os.path.join(dest, name)), dest)
        except OSError as exc:
            log.warning("could not delete old snapshot %s: %s; the next run tries again", name, exc)
            continue
        log.info("deleted snapshot %s (%s)", name, reason)
        done.append(name)
    return done
