"""Files back from the status page: a snapshot's folders one at a time, one
file downloaded as it was, and a folder or file restored into a new folder
beside ``src``, through the same reader and restore as the command.

Everything a client sends is untrusted: a snapshot must be one of the
task's complete snapshots by its exact name, and a path is a name inside
the snapshot (``/``-separated; no ``..``, ``.`` or empty part, not
absolute, no drive, no NUL; on Windows no ``\\``), reached through folders
only: the reader never passes through a link the snapshot holds.
"""

import itertools
import logging
import os
import threading
import time
from urllib.parse import quote

from ..snapshots import catalog
from ..restore import restorer as restore, target as restore_target
from .. import snapshots
from ..config import find_task
from ..errors import Interrupted, TaskRunnerError
from ..logs import task_log
from ..console import human_bytes, plural
from ..runs.locks import task_lock
from ..clock import LOCAL, local_datetime
from ..snapshots.reader import BadZipFile, SnapshotReader
from .auth import HttpError

logger = logging.getLogger(__name__)

PAGE = 200  # entries of a folder per listing, by default
MAX_PAGE = 1000
CHUNK = 64 * 1024
NEW, ORIGINAL = "new", "original"  # where a restore goes: a new folder beside src, or back into src


def snapshot_path(task, name):
    """The path of complete snapshot ``name`` of ``task``; 404 for any other name."""
    if name not in snapshots.list_snapshots(task.dest):
        raise HttpError(404, "not_found", "%s has no snapshot %s" % (task.name, name))
    return os.path.join(task.dest, name)


def check_rel(text):
    """The os.sep-separated path a client's ``text`` names inside a
    snapshot ("" for the top); 400 for anything that could leave it."""
    if text in ("", "/"):
        return ""
    parts = text.split("/")
    bad = ("\x00" in text or text.startswith("/") or any(p in ("", ".", "..") for p in parts)
           or (os.sep != "/" and (os.sep in text or os.path.splitdrive(text)[0])))
    if bad:
        raise HttpError(400, "bad_request", "path must be a name inside the snapshot such as "
                                            "Documents/letter.txt (no .., not absolute)")
    return os.sep.join(parts)


def _describe(entry):
    return {"name": os.path.basename(entry.rel), "path": entry.rel.replace(os.sep, "/"), "kind": entry.kind,
            "size": entry.size if entry.kind == "file" else None,
            "modified": local_datetime(entry.mtime_ns / 1e9, LOCAL).isoformat() if entry.mtime_ns else None}


def listing(task, name, rel, offset=0, limit=PAGE):
    """One folder of a snapshot, a page at a time."""
    with _reader(snapshot_path(task, name)) as reader:
        rel = _stored(reader, rel)
        if rel and getattr(reader.entry(rel), "kind", None) != "dir":
            raise HttpError(404, "not_found", "no folder %s in snapshot %s" % (rel.replace(os.sep, "/"), name))
        entries = reader.children(rel)
    return {"task": task.name, "snapshot": name, "path": rel.replace(os.sep, "/"), "total": len(entries),
            "offset": offset, "limit": limit, "entries": [_describe(e) for e in entries[offset:offset + limit]]}


def _stored(reader, rel):
    """``rel`` as the snapshot holds it (names compared as this system does:
    catalog.stored_rel), or as asked when it holds no such path."""
    found = catalog.stored_rel(reader, rel) if rel else rel
    return rel if found is None else found


def _reader(path):
    try:
        return SnapshotReader(path)
    except (OSError, BadZipFile) as exc:
        raise HttpError(500, "unreadable", "the snapshot cannot be read: %s" % exc)


def content_disposition(name):
    """An attachment header that names the file safely: an ASCII fallback
    and the exact name encoded as RFC 5987 says; in a name that is not
    valid UTF-8, each byte that is not becomes "_" (a "?" cannot be saved
    on Windows)."""
    name = "".join("_" if 0xD800 <= ord(c) <= 0xDFFF else c for c in name)
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%<>:/|?*' else "_" for c in name) or "file"
    exact = quote(name.encode("utf-8", "replace"), safe="")
    return "attachment; filename=\"%s\"; filename*=UTF-8''%s" % (ascii_name, exact)


def open_download(task, name, rel):
    """(reader, entry) of the file to send; the caller closes the reader."""
    reader = _reader(snapshot_path(task, name))
    rel = _stored(reader, rel) if rel else rel
    entry = reader.entry(rel) if rel else None
    if entry is None or entry.kind != "file":
        reader.close()
        what = "a folder: restore it instead" if entry is not None and entry.kind == "dir" else "not a file"
        raise HttpError(404, "not_found", "%s in snapshot %s is %s" % (rel.replace(os.sep, "/"), name,
                                                                      what if entry is not None else "not there"))
    return reader, entry


class Restores(object):
    """The restores started from the page, each in its own thread; the
    newest 50 are remembered for their progress."""

    def __init__(self, config_of, stop_event, clock=time.time):
        self.config_of, self.stop_event, self.clock = config_of, stop_event, clock
        self._ids = itertools.count(1)
        self._mutex = threading.Lock()
        self.jobs = {}

    def preview(self, task, name, rel, where):
        """What restoring ``rel`` of snapshot ``name`` to ``where`` ("new":
        a new folder beside src; "original": back in src, files there that
        differ kept beside) would do, done as a dry run: {"where", "target",
        "files", "bytes", "kept_aside", "unchanged"}."""
        self._check(task, name, rel)
        target = restore_target.new_folder_beside(task.src, self.clock()) if where == NEW else task.src
        try:
            result = restore.restore(task, name, target, [rel] if rel else [], overwrite=where != NEW,
                                     dry_run=True, clock=self.clock)
        except TaskRunnerError as exc:
            raise HttpError(400, "bad_request", str(exc))
        return {"where": where, "target": target, "files": result.files, "bytes": result.bytes,
                "kept_aside": result.kept_aside, "unchanged": result.unchanged}

    @staticmethod
    def _check(task, name, rel):
        path = snapshot_path(task, name)
        with _reader(path) as reader:
            if rel and catalog.stored_rel(reader, rel) is None:
                raise HttpError(404, "not_found", "%s is not in snapshot %s" % (rel.replace(os.sep, "/"), name))

    def start(self, task, name, rel, where=None):
        """Start restoring ``rel`` (all when "") of snapshot ``name`` to
        ``where`` (as preview's); 409 while a backup (or another restore)
        of the task holds its lock."""
        self._check(task, name, rel)
        where = where or NEW
        lock = task_lock(self.config_of(), task.name)
        if not lock.acquire(timeout=0):
            raise HttpError(409, "already_running", "a backup or restore of %s is running: try again when it "
                                                    "has finished" % task.name)
        with self._mutex:
            job = {"id": next(self._ids), "task": task.name, "snapshot": name, "path": rel.replace(os.sep, "/"),
                   "target": restore_target.new_folder_beside(task.src, self.clock()) if where == NEW else task.src, "where": where,
                   "status": "running", "files": 0, "bytes": 0, "kept_aside": 0, "message": None, "errors": []}
            self.jobs[job["id"]] = job
            for old in sorted(self.jobs)[:-50]:
                del self.jobs[old]
        threading.Thread(target=self._run, args=(job, task, lock), name="restore-%d" % job["id"],
                         daemon=True).start()
        return dict(job)

    def get(self, job_id):
        with self._mutex:
            job = self.jobs.get(job_id)
            return dict(job) if job is not None else None

    def _run(self, job, task, lock):
        def progress(restorer, rel):
            job["files"], job["bytes"] = restorer.files, restorer.bytes
        try:
            result = restore.restore(task, job["snapshot"], job["target"], [job["path"].replace("/", os.sep)]
                                     if job["path"] else [], overwrite=job["where"] != NEW,
                                     stop_event=self.stop_event, progress=progress, clock=self.clock,
                                     new_folder=job["where"] == NEW)
            job.update(files=result.files, bytes=result.bytes, errors=result.errors, kept_aside=result.kept_aside,
                       status="partial" if result.error_count else "success",
                       message="%s (%s) restored into %s%s" % (
                           plural(result.files, "file"), human_bytes(result.bytes), job["target"],
                           ", %d not restored (see errors)" % result.error_count if result.error_count else ""))
        except TaskRunnerError as exc:
            job.update(status="stopped" if isinstance(exc, Interrupted) else "failed", message=str(exc))
        except Exception as exc:  # one restore never takes the server down
            logger.exception("restore %s failed", job["id"])
            job.update(status="failed", message=str(exc))
        finally:
            lock.release()
        task_log(logger, task.name).info("restore %d from the status page: %s: %s", job["id"], job["status"],
                                         job["message"])


def task_named(config, name):
    """The task called ``name`` (config.find_task's rule), or 404."""
    task = find_task(config, name)
    if task is None:
        raise HttpError(404, "not_found", "no task named %s" % name)
    return task

