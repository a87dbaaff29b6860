"""What an upload deletes on the remote: the snapshots ``offsite.keep``
lets go, what uploads and deletions cut short left incomplete, and room for
a new snapshot on a remote that is full."""

import logging

from ..snapshots import retention
from .. import snapshots
from . import layout
from .rclone import RcloneError, explain

logger = logging.getLogger(__name__)


def delete_remote(rc, remote, name):
    """Delete remote snapshot ``name``: its manifest first (from then on it
    is incomplete and listed nowhere), then its folder or file. RcloneError
    when a step fails; what is left is removed by a later upload."""
    for args in (["deletefile", layout.join(remote, layout.manifest_name(name))],
                 ["deletefile" if name.endswith(".zip") else "purge", layout.join(remote, name)]):
        result = rc.run(args, timeout=3600, quiet=True)  # a manifest never sent is not found: no warning
        if result.code not in (0, 3, 4):
            raise RcloneError(explain(result.code, result.error))


def apply_retention(rc, task, newest, complete, incomplete, now, log=logger):
    """After ``newest`` is complete on the remote (``complete`` and
    ``incomplete``: the remote's snapshots, as listed before the upload,
    ``newest`` added): delete the remote snapshots ``offsite.keep`` does
    not keep, and the incomplete ones older than ``newest`` (abandoned
    uploads, deletions cut short). A failed deletion is logged and tried
    again after the next upload. Returns the names deleted. A snapshot of a
    ``partial`` run (its record beside the local snapshot) counts as
    retention.decide says: never in place of a complete one."""
    doomed = [] if task.offsite.keep is None else [
        (d.name, d.reason) for d in retention.decide(complete, task.offsite.keep, now,
                                                     incomplete=_partial_runs(task, complete)) if not d.keep]
    doomed += [(n, "incomplete (an upload or deletion cut short)") for n in _older(incomplete, newest)]
    return _delete_all(rc, task, doomed, log)


def _partial_runs(task, names):
    """{name: what it lacks} of ``names`` made by ``partial`` runs (their
    record beside the local snapshot), for retention.decide."""
    partial = {}
    for name in names:
        lacks = snapshots.read_incomplete(task.dest, name)
        if lacks is not False:
            partial[name] = lacks
    return partial


def _older(names, newest):
    return [n for n in names if snapshots.snapshot_sort_key(n) < snapshots.snapshot_sort_key(newest)]


def _delete_all(rc, task, doomed, log):
    """Delete each (name, reason) of ``doomed``; the names deleted (a
    failure is logged: a later upload tries again)."""
    deleted = []
    for name, reason in doomed:
        try:
            delete_remote(rc, task.offsite.remote, name)
        except RcloneError as exc:
            log.warning("offsite: could not delete %s on the remote (%s): %s; tried again after the next upload",
                        name, reason, exc)
            continue
        log.info("offsite: deleted %s on the remote: %s", name, reason)
        deleted.append(name)
    return deleted


def remove_incomplete(rc, task, newest, incomplete, log=logger):
    """Before ``newest`` is sent: delete the incomplete remote snapshots
    older than it (an upload that failed, on a full remote too, or a
    deletion cut short), so that they free their space first; ``newest``
    itself, when an earlier try left it incomplete, is resumed into.
    Returns the names deleted."""
    return _delete_all(rc, task, [(n, "incomplete (an upload or deletion cut short), removed before a new upload")
                                  for n in _older(incomplete, newest)], log)


def make_room(rc, task, newest, complete, now, log=logger):
    """The remote is full before ``newest`` is complete: delete the
    complete snapshots ``offsite.keep`` would delete once ``newest`` is
    there (never any other), but never the newest complete one, so that
    the remote holds a whole copy whatever the next try does (with
    ``keep: 1`` it deleted the only one, and the try failed again); the
    names deleted (none without a keep)."""
    if task.offsite.keep is None:
        return []
    last = max(complete, key=snapshots.snapshot_sort_key) if complete else None
    doomed = [(d.name, "%s; deleted before %s was sent: the remote is full" % (d.reason, newest))
              for d in retention.decide(complete + [newest], task.offsite.keep, now,
                                        incomplete=_partial_runs(task, complete + [newest]))
              if not d.keep and d.name not in (newest, last)]
    return _delete_all(rc, task, doomed, log)
