"""One local snapshot to the remote (then the remote's retention, cleanup.py).

A folder snapshot travels with ``rclone copy LOCAL REMOTE/NAME`` (copy,
not sync: nothing of a snapshot is ever deleted by its own upload; rclone's
sync also trips over the partial files a killed upload leaves on a local
remote):

* only what is not already there is sent, so an upload cut short (a kill, a
  reboot, a network failure) resumes where it stopped when tried again;
* every file equal to the one in the previous complete remote snapshot
  reaches the new one without being sent again (an unchanged re-run sends
  only the manifest), in the first way the remote allows (reuse.py:
  server-side copies checked against the remote's MD5s, ``--copy-dest``,
  hard links made here or by an SFTP server). A file shared by two
  snapshots is never written in place: rclone writes to a ``.partial``
  name and renames it, and runs with ``--no-update-modtime`` where files
  are linked. Other remotes (a crypt remote over a local folder) receive
  each snapshot whole;
* links are not sent (``--skip-links``): the manifest holds them.

A ZIP snapshot is one file (``rclone copyto``). The manifest is uploaded
last (``rclone rcat``): until then the remote snapshot is incomplete.
"""

import collections
import logging
import os
import re
import threading
import time

from .. import snapshots
from ..errors import DRIVE_MISSING
from ..fs import drive
from . import cleanup, layout, prelink, record, resend, reuse
from .rclone import RcloneError, explain, explain_stop, is_full

logger = logging.getLogger(__name__)

LISTING_TIMEOUT = 600  # seconds: a listing gets far longer than rclone's own bounds (rclone.BOUNDS)
Uploaded = collections.namedtuple("Uploaded", "snapshot bytes files server_side_bytes seconds already deleted "
                                              "damaged")
Uploaded.__new__.__defaults__ = (None,)
Uploaded.__doc__ = """What upload_snapshot did: bytes and files sent, bytes copied (or linked) on the
remote's side, seconds, ``already`` (the remote had it complete), the remote
snapshots retention deleted, and ``damaged``: (the older remote snapshot, its
files found damaged and sent again: resend.py), or None."""


def remote_listing(rc, remote, stop_event=None):
    """(complete, incomplete) snapshot names on ``remote``; a remote folder
    that does not exist yet holds none."""
    result = rc.run(["lsf", remote], stop_event=stop_event, timeout=LISTING_TIMEOUT, quiet=True)
    if result.code is None and stop_event is not None and stop_event.is_set():
        raise RcloneError("stopped on request while listing %s" % rc.redact(remote))
    if result.code is None:
        raise RcloneError("cannot list %s: %s" % (rc.redact(remote), explain_stop(
            "no answer within %d minutes" % (LISTING_TIMEOUT // 60), result.error)))
    if result.code == 3 or (result.code != 0 and result.error and "directory not found" in result.error):
        return [], []
    if result.code != 0:
        raise RcloneError("cannot list %s: %s" % (rc.redact(remote), explain(result.code, result.error)))
    lines = result.output.splitlines()
    if snapshots.looks_like_dest(lines):  # whatever kind of remote shows it: its clean-up would delete backups
        raise RcloneError("%s is a backup folder of this program (it holds the index files of snapshots): the "
                          "offsite copy needs a folder of its own, outside every task's dest" % rc.redact(remote))
    return layout.read_listing(lines)


def _previous(complete, name):
    """The newest complete folder snapshot before ``name`` (copy-dest source)."""
    older = [n for n in complete if not n.endswith(".zip")
             and snapshots.snapshot_sort_key(n) < snapshots.snapshot_sort_key(name)]
    return older[-1] if older else None


class DriveMissing(RcloneError):
    """The folder a local remote needs is not there (its drive unplugged, a
    share not mounted): nothing was written. ``folder``: the one whose return
    means the drive is back (the scheduler watches it)."""

    def __init__(self, message, folder):
        RcloneError.__init__(self, message)
        self.folder = folder


def _check_drive(root):
    """A local remote (``root``; None: not one) is written only where the
    folder it needs exists, as a backup's ``dest`` is: a drive that is away
    fails the upload instead of filling the disk its mount point is on
    (rclone would make every folder)."""
    if root is None:
        return
    folder = prelink.local_folder(root)
    problem = drive.missing_problem(folder, "the offsite folder")
    if problem:
        raise DriveMissing(problem, drive.needed_folder(folder))


def check_local_drive(rc, remote):
    """DriveMissing when ``remote`` is a local remote whose drive is away."""
    _check_drive(prelink.local_root(rc.describe(remote)))


def _send_args(task, name):
    """rclone's arguments that send snapshot ``name`` (its files, not its
    manifest; without the options of the files' reuse)."""
    local = os.path.join(task.dest, name)
    args = ["copyto", local, layout.join(task.offsite.remote, name)] if name.endswith(".zip") else \
        ["copy", local, layout.join(task.offsite.remote, name), "--skip-links"]
    return args + (["--bwlimit", task.offsite.bwlimit] if task.offsite.bwlimit else [])


def read_previous(rc, task, previous, stop_event, log):
    """The checked manifest of remote snapshot ``previous``, or None (none
    given, unreadable or damaged: then nothing of it is reused)."""
    if previous is None:
        return None
    got = rc.run(["cat", layout.join(task.offsite.remote, layout.manifest_name(previous))], stop_event=stop_event,
                 timeout=600, quiet=True)
    try:
        return layout.loads(got.data, previous) if got.code == 0 else None
    except layout.ManifestError as exc:
        log.warning("offsite: %s; it is not used to find the unchanged files", exc)
        return None


def _new_doc(manifest, log):
    """The new snapshot's manifest, or None when it could not be built."""
    try:
        return manifest.result()[0]
    except Exception as exc:  # raised again where the manifest is sent, after rclone says what it found
        log.info("offsite: no files reused on the remote: the manifest could not be built (%s)", exc)
        return None


def upload_snapshot(rc, task, name, created, stop_event=None, on_stats=None, clock=time.monotonic, log=logger,
                    last_copy=None, kept=None):
    """Upload local snapshot ``name`` of ``task`` to ``task.offsite.remote``
    (an Uploaded). RcloneError says why it failed; Interrupted-like stops
    (``stop_event``, the timeout) raise RcloneError too, saying so.
    ``last_copy``: the snapshot the history says the last successful upload
    left on this remote; a local remote that does not hold it is not the
    drive it was made on (a folder rclone left on the system disk when the
    drive was pulled out mid-upload, an empty mount point): DriveMissing.
    ``kept``: where the manifest of the task's last upload is kept here
    (record.py), or None.

    Before it is sent, what older uploads left incomplete is removed (it
    would keep a full remote full); when the remote is full all the same,
    the snapshots ``offsite.keep`` lets go once this one is there are
    deleted first and the send is tried once more."""
    started = clock()
    remote = task.offsite.remote
    info = rc.describe(remote)
    root = prelink.local_root(info)
    _check_drive(root)
    complete, incomplete = remote_listing(rc, remote, stop_event)
    if root and last_copy and last_copy not in complete:
        raise DriveMissing("the offsite folder %s does not hold %s, the copy the last upload made there: %s "
                           "(If it is, and that copy was removed on purpose, give offsite a new folder: the next "
                           "copy starts there afresh.)" % (prelink.local_folder(root), last_copy, DRIVE_MISSING), None)
    if name in complete:
        log.info("offsite: %s is already complete on the remote", name)
        return Uploaded(name, 0, 0, 0, 0.0, True, [])
    local = os.path.join(task.dest, name)
    if not os.path.lexists(local):
        raise RcloneError("the local snapshot %s is gone (deleted by keep?): the next upload takes the newest" % name)
    old, manifest = _previous_and_new(rc, task, name, complete, created, kept, stop_event, log)
    if root:  # rclone writes there by path: no link may stand where it writes
        prelink.clear_links(root, [name, layout.manifest_name(name)], log)
    deleted = cleanup.remove_incomplete(rc, task, name, incomplete, log)
    incomplete = [n for n in incomplete if n not in deleted]
    try:
        sent, linked, damaged = _send(rc, task, name, complete, info, manifest, old, name in incomplete,
                                      stop_event, on_stats, log)
    except RemoteFull:
        freed = cleanup.make_room(rc, task, name, complete, time.time(), log)
        if not freed:
            raise
        deleted += freed
        complete = [n for n in complete if n not in freed]
        sent, linked, damaged = _send(rc, task, name, complete, info, manifest, old, True,  # (resumed)
                                      stop_event, on_stats, log)
    data = manifest.result()[1]
    put = rc.run(["rcat", layout.join(remote, layout.manifest_name(name))], stop_event=stop_event,
                 timeout=600, stdin=data)
    _check(rc, put, name, stop_event, task)
    record.save(kept, data, log)
    deleted += cleanup.apply_retention(rc, task, name, complete + [name], incomplete, time.time(), log)
    stats = sent.stats or {}
    on_remote = int(stats.get("serverSideCopyBytes", 0))  # counted in "bytes" and "transfers" too
    return Uploaded(name, int(stats.get("bytes", 0)) - on_remote + len(data),
                    int(stats.get("transfers", 0)) - int(stats.get("serverSideCopies", 0)) + 1,
                    on_remote + linked.bytes, round(clock() - started, 3), False, deleted, damaged)


def _previous_and_new(rc, task, name, complete, created, kept, stop_event, log):
    """((the previous complete remote snapshot, its manifest or None), the
    new manifest being built in the background while rclone sends).

    The previous manifest is the one kept here (``kept``) when it is that
    snapshot's, else the remote's. MD5s are carried into the new one only
    from the kept one; without it each file is read: a manifest read from
    the remote would carry an MD5 forged there into every new snapshot
    (found from outside: the kept one deleted, or a newer remote snapshot's
    manifest deleted to make an older forged one the previous)."""
    before = _previous(complete, name) if not name.endswith(".zip") else None
    ours = record.load(kept, before) if before else None
    old = (before, ours if ours is not None else read_previous(rc, task, before, stop_event, log))
    local = os.path.join(task.dest, name)
    return old, _Background(lambda: _manifest(task.name, local, created, ours))


def _send(rc, task, name, complete, info, manifest, old, resumed, stop_event, on_stats, log):
    """Send snapshot ``name`` (its files, reusing what the remote has;
    ``old``: (a previous snapshot, its manifest or None) already read;
    ``resumed``: an earlier try left the snapshot's folder there):
    (rclone's Result, what was linked or copied on the remote first, and
    Uploaded.damaged)."""
    previous = None if name.endswith(".zip") else _previous(complete, name)
    plan = reuse.plan(rc, task.offsite.remote, previous, info, stop_event, resumed)
    log.info("offsite: uploading %s to %s%s", name, rc.redact(task.offsite.remote),
             reuse.HOW[plan.how] % previous if plan.how else "")
    first = reuse.Copied(prelink.Linked(0, 0), (), plan.options)
    if plan.how in ("link", "precopy", "listed"):
        old_doc = old[1] if previous == old[0] else read_previous(rc, task, previous, stop_event, log)
        first = reuse.copy_first(rc, task, name, previous, plan, old_doc, _new_doc(manifest, log), stop_event,
                                 on_stats, log)
    if first.damaged and not (stop_event is not None and stop_event.is_set()):
        resend.say_damaged(previous, first.damaged, False, log)
    args = _send_args(task, name) + first.options
    timeout = None if task.offsite.timeout_minutes is None else task.offsite.timeout_minutes * 60
    deadline = None if timeout is None else time.monotonic() + timeout
    sent = rc.run(args, stop_event=stop_event, on_stats=on_stats, timeout=timeout)
    # Only --copy-dest copies from the previous snapshot as it sends; elsewhere a file found damaged
    # fails the upload (tried again).
    if "--copy-dest" in first.options and sent.code not in (0, None) and sent.damaged:
        sent = resend.send_again(rc, task, name, args, sent, previous, stop_event, on_stats, deadline, log)
    elif "--copy-dest" in first.options and sent.code not in (0, None) and _TYPE_CLASH.search(sent.error or ""):
        # A file where the previous snapshot has a folder (or the reverse): rclone's --copy-dest trips
        # over it there (rclone's WebDAV), and would on every try. What was sent stays; the rest goes.
        log.info("offsite: rclone's --copy-dest failed (%s); the rest is sent without it", sent.error)
        again = rc.run(_send_args(task, name), stop_event=stop_event, on_stats=on_stats,
                       timeout=resend.time_left(deadline))
        sent = resend.combined([sent, again])
    if not os.path.lexists(os.path.join(task.dest, name)):  # before rclone's "file not found" (blames the remote)
        raise RcloneError("the local snapshot %s was deleted while it uploaded: the next upload takes the newest"
                          % name)
    _check(rc, sent, name, stop_event, task)
    damaged = tuple(sorted(set(first.damaged) | set(sent.damaged or ())))
    return sent, first.linked, (previous, damaged) if damaged else None


_TYPE_CLASH = re.compile(r"is a directory not a file|is a file not a directory|not a directory", re.I)


def _manifest(task_name, local, created, previous=None):
    """(the manifest, its bytes) of the local snapshot at ``local``; a
    file's MD5 is taken from manifest ``previous`` when it records one for
    the same path, size and time and the local snapshot of that name holds
    the same file (the engine linked it), else read from the file."""
    before = None if previous is None else os.path.join(os.path.dirname(local), previous["snapshot"])
    doc = layout.build(task_name, local, created, known=layout.known_md5s(previous), previous_local=before)
    return doc, layout.dumps(doc)


class _Background(object):
    """``func()`` in a thread of its own; ``result()`` waits for it and
    returns its value (or raises its exception)."""

    def __init__(self, func):
        self._box = {}

        def work():
            try:
                self._box["value"] = func()
            except BaseException as exc:  # handed to the caller in result()
                self._box["error"] = exc
        self._thread = threading.Thread(target=work, name="offsite-manifest")
        self._thread.daemon = True
        self._thread.start()

    def result(self):
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]


_RESUMES = "the next upload resumes where it stopped, unless a newer snapshot is made first (then that one is sent)"


def _check(rc, result, name, stop_event, task):
    if result.code == 0:
        return
    if result.code is None or (stop_event is not None and stop_event.is_set()):  # Ctrl+C reaches rclone too
        if stop_event is not None and stop_event.is_set():
            raise RcloneError("stopped on request before %s was complete on the remote; %s" % (name, _RESUMES))
        raise RcloneError("%s; %s" % (explain_stop("timed out after %s minutes (offsite.timeout_minutes)"
                                                   % task.offsite.timeout_minutes, result.error), _RESUMES))
    if is_full(result.error):
        raise RemoteFull(explain(result.code, result.error))
    raise RcloneError(explain(result.code, result.error))


class RemoteFull(RcloneError):
    """The remote said it is full (or over its quota)."""
