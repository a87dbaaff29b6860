"""The page's task editor over HTTP: config.json's tasks read, checked,
added, changed and deleted, and the server's folders browsed to choose
``src`` and ``dest``. The same sign-in and CSRF rules as /restore (API).

Endpoints (docs/HTTP.md, "The task editor"):
    GET /config/tasks                  the tasks as written in config.json, and the file's version
    POST /config/check                 {"task", "index"}: check's problems (and notes: a folder not
                                       there right now), the next three runs
    POST /config/tasks                 {"version", "task"}: add a task
    POST /config/tasks/<i>             {"version", "task", "name"}: change task i (0-based), named so
    DELETE /config/tasks/<i>           {"version", "name"}: delete task i
    GET /folders[?path=P]              the drives (no path) or the folders in P (and whether P holds backups)

The writing, the checks and the refusal of a stale version are
config_edit's; this module only speaks HTTP.
"""

import logging
import os
import re
import threading

from ..config import edit as config_edit
from ..fs import drive, places
from ..history import History
from ..snapshots import SNAPSHOT_RE
from ..errors import ConfigError
from ..offsite import rclone, service
from ..config.timestamps import ScheduleError, parse_schedule
from ..clock import format_local
from .auth import HttpError
from .transport import API

logger = logging.getLogger(__name__)

UPCOMING = 3


def _route(pattern, methods, name):
    return re.compile(pattern), methods, name, API


ROUTES = [
    _route(r"^/config/tasks$", ("GET", "POST"), "config_tasks"),
    _route(r"^/config/tasks/(?P<index>[0-9]{1,6})$", ("POST", "DELETE"), "config_task"),
    _route(r"^/config/check$", ("POST",), "config_check"),
    _route(r"^/folders$", ("GET",), "folders"),
]


class Editor(object):
    """What the editor's endpoints do, apart from HTTP. ``path()`` is the
    config file's path; ``clock``/``zone`` give the next runs."""

    def __init__(self, watcher, clock, zone):
        self.watcher = watcher
        self.clock = clock
        self.zone = zone
        self.lock = threading.Lock()

    def path(self):
        return self.watcher.current().path

    def listing(self):
        loaded = config_edit.load_raw(self.path())
        return dict(self._state(loaded), remotes=self.remotes())

    def _state(self, loaded):
        tasks = loaded.data.get("tasks")
        return {"version": loaded.version, "tasks": tasks if isinstance(tasks, list) else [],
                "first_start": config_edit.is_first_start(loaded.data)}

    def remotes(self):
        """rclone's remotes (``rclone listremotes``), or None without rclone."""
        try:
            return service.make_rclone(self.watcher.current()).remotes()
        except rclone.RcloneError:
            return None

    def check(self, index, given):
        loaded = config_edit.load_raw(self.path())
        _, at, problems, config = config_edit.apply_change(loaded.data, self.path(), index, given)
        notes = [] if problems or at is None else self._notes(config.tasks[at])
        return {"problems": problems + notes, "schedule": self.upcoming(given.get("timestamp"))}

    @staticmethod
    def _notes(task):
        """What a run would find now, as ``check`` says it; a save is not
        refused for it (a drive may be unplugged just now)."""
        notes = []
        if not os.path.isdir(task.src):
            notes.append({"field": "src", "note": True,
                          "message": "the folder %s does not exist right now: is its drive connected?" % task.src})
        problem = drive.missing_problem(task.dest, "the backup folder")
        if problem:
            notes.append({"field": "dest", "note": True, "message": problem})
        return notes

    def upcoming(self, timestamp):
        """The schedule in words and its next runs, or None."""
        if not timestamp:
            return None
        try:
            schedule = parse_schedule(timestamp)
        except ScheduleError:
            return None
        return {"describe": schedule.describe(),
                "next": [format_local(t, self.zone) for t in schedule.upcoming(self.clock(), UPCOMING, self.zone)]}

    def save(self, version, index, given, name=None):
        """(status, body) of one change."""
        try:
            loaded, problems = config_edit.save_change(self.path(), version, index, given, self.lock, name)
        except config_edit.Conflict as exc:
            return 409, dict(self._state(exc.current), error="changed", message=str(exc))
        if problems:
            return 400, dict(error="invalid", message="\n".join(p["message"] for p in problems), problems=problems)
        logger.info("config.json: task %s from the status page", "deleted" if given is None else
                    "added" if index is None else "changed")
        renamed = config_edit.shown_name(loaded.data["tasks"][index]) if given and index is not None else name
        if name and renamed != name:  # the same backup: its runs and its first sight go with it
            history = History.for_config(self.watcher.current())
            if history.rename_task(name, renamed):
                logger.info("the history of %s is %s's now", name, renamed)
        return 200, self._state(loaded)


def _zip_snapshots_in(path):
    """Whether folder ``path`` holds ZIP snapshots (a backup folder of a ZIP task)."""
    try:
        return any(n.endswith(".zip") and SNAPSHOT_RE.match(n) for n in os.listdir(path))
    except OSError:
        return False


class TaskEndpoints(object):
    """The editor's endpoints, mixed into the API's handler."""

    def _given(self, body, keys):
        extra = sorted(set(body) - set(keys))
        if extra:
            raise HttpError(400, "bad_request", "unknown field \"%s\": send %s" % (extra[0], ", ".join(keys)))
        given = body.get("task")
        problems = config_edit.check_given(given) if "task" in keys else []
        if problems:
            raise HttpError(400, "bad_request", problems[0])
        return given

    def _version(self, body):
        version = body.get("version")
        if not isinstance(version, str):
            raise HttpError(400, "bad_request", "send the \"version\" that GET /config/tasks gave, so that a "
                                                "change made meanwhile is not overwritten")
        return version

    def ep_config_tasks(self, body, query):
        editor = self.server.app.editor
        try:
            if self.command == "GET":
                self.send_json(200, editor.listing())
                return
            given = self._given(body, ("version", "task"))
            self.send_json(*editor.save(self._version(body), None, given))
        except ConfigError as exc:  # the file itself cannot be read
            raise HttpError(500, "config_unreadable", str(exc))

    def ep_config_task(self, body, query, index):
        editor = self.server.app.editor
        given = self._given(body, ("version", "task", "name") if self.command == "POST" else ("version", "name"))
        name = body.get("name")  # the task's name as loaded: another task now at that place is not changed
        if name is not None and not isinstance(name, str):
            raise HttpError(400, "bad_request", "name must be the task's name as GET /config/tasks gave it")
        try:
            self.send_json(*editor.save(self._version(body), int(index), given, name))
        except ConfigError as exc:
            raise HttpError(500, "config_unreadable", str(exc))

    def ep_config_check(self, body, query):
        given = self._given(body, ("task", "index"))
        index = body.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise HttpError(400, "bad_request", "index must be the task's number (from 0), or null for a new task")
        try:
            self.send_json(200, self.server.app.editor.check(index, given))
        except ConfigError as exc:
            raise HttpError(500, "config_unreadable", str(exc))

    def ep_folders(self, body, query):
        path = query.get("path", [""])[-1]
        if not path:
            self.send_json(200, {"path": None, "parent": None, "folders": [], "drives": places.drives()})
            return
        if not os.path.isabs(path):
            raise HttpError(400, "bad_request", "path must be a full path such as %s"
                            % ("C:/Users" if os.name == "nt" else "/home"))
        try:
            path, parent, found, cut = places.folders(path)
        except OSError as exc:
            raise HttpError(404, "not_found", "cannot open %s: %s" % (path, exc.strerror or exc))
        # "backups": it holds snapshots already (a backup folder): the page backs up into it, not below it.
        holds = any(SNAPSHOT_RE.match(f["name"]) for f in found) or _zip_snapshots_in(path)
        self.send_json(200, {"path": path, "parent": parent, "folders": found, "cut": cut, "backups": holds})
