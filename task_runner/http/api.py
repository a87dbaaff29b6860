"""What the HTTP server serves: the JSON API, the sign-in of the status page
and its files. The gate every request passes first is transport.py.

Endpoints (``access`` API: the bearer token, or a browser session with its
CSRF header):
    GET /, /page.css, /page.js, /favicon.svg   the status page (no sign-in; no data)
    GET /health                  {"status": "ok"}
    GET /session                 whether this browser is signed in, and its CSRF token
    POST /login, POST /logout    start / end a browser session
    GET /signin?code=C           a one-time sign-in link -> a session, then the page
    POST /trigger[?wait=S]       (API; without a credential on loopback with open_trigger)
    POST /trigger/<task>[?wait=S], GET /runs[?limit=N], GET /runs/<id>,
    GET /status, GET /snapshots/<task>, GET /metrics      (API)
    GET /files/<task>/<snapshot>?path=P, GET /download/<task>/<snapshot>?path=P,
    POST /restore/<task>, GET /restores/<id>        files back (files.py; API)
    GET|POST /config/tasks, POST|DELETE /config/tasks/<i>, POST /config/check,
    GET /folders                 the page's task editor (tasks.py; API)
"""

import logging
import os
import re
import threading
import time
from urllib.parse import unquote

from ..snapshots.catalog import snapshot_list
from ..config import find_task
from ..history import History
from ..offsite import service as offsite_service
from ..runs.runner import ALREADY_RUNNING, begin_run
from ..clock import LOCAL
from ..schedule.status import current_report, runs_now
from . import files, metrics, page, streams, tasks, transport
from .auth import HttpError
from .sessions import set_cookie
from .transport import API, PUBLIC, TRIGGER, Handler

logger = logging.getLogger(__name__)

MAX_WAIT = 3600.0
RUNS_LISTED = 20
PROGRESS_KEYS = ("files", "bytes", "copied", "linked", "moved")
MAX_RUNS_LISTED = 500


def route(pattern, methods, name, access):
    return re.compile(pattern), methods, name, access


class ApiHandler(tasks.TaskEndpoints, Handler):
    ROUTES = [
        route("^(?P<path>%s)$" % "|".join(map(re.escape, page.ASSETS)), ("GET",), "page", PUBLIC),
        route(r"^/health$", ("GET",), "health", PUBLIC),
        route(r"^/session$", ("GET",), "session", PUBLIC),
        route(r"^/login$", ("POST",), "login", PUBLIC),
        route(r"^/logout$", ("POST",), "logout", API),
        route(r"^/status$", ("GET",), "status", API),
        route(r"^/signin$", ("GET",), "signin", PUBLIC),
        route(r"^/trigger$", ("POST",), "trigger", TRIGGER),
        route(r"^/trigger/(?P<task>[^/]+)$", ("POST",), "trigger", API),
        route(r"^/runs$", ("GET",), "runs", API),
        route(r"^/runs/(?P<run_id>[^/]+)$", ("GET",), "run", API),
        route(r"^/snapshots/(?P<task>[^/]+)$", ("GET",), "snapshots", API),
        route(r"^/metrics$", ("GET",), "metrics", API),
        route(r"^/files/(?P<task>[^/]+)/(?P<snapshot>[^/]+)$", ("GET",), "files", API),
        route(r"^/download/(?P<task>[^/]+)/(?P<snapshot>[^/]+)$", ("GET",), "download", API),
        route(r"^/restore/(?P<task>[^/]+)$", ("POST",), "restore", API),
        route(r"^/restores/(?P<job_id>[0-9]{1,9})$", ("GET",), "restore_job", API),
    ] + tasks.ROUTES
    FORM_ENDPOINTS = ("login",)
    QUIET_PATHS = ("/health", "/session") + tuple(page.ASSETS)

    # -- the page and its sign-in ----------------------------------------------
    def ep_page(self, body, query, path):
        data, content_type = page.asset(path)
        self.send_body(200, data, content_type)

    def ep_session(self, body, query):
        """Signed in or not; the CSRF token the page sends with each request."""
        if self.gate.session is None:
            self.send_json(200, {"signed_in": False, "token_required": True})
            return
        self._send_signed_in(self.gate.session, None)

    def ep_signin(self, body, query):
        """A one-time sign-in link: its code becomes a session once, then
        the browser goes on to the page (the used link opens nothing)."""
        made = self.server.sessions.redeem(query.get("code", [""])[-1])
        if made is None:  # counted as a wrong token; a browser lands on the page, which says what happened
            try:
                self.gate.count_failure()
            except HttpError as exc:  # locked out: a browser goes to the page too, which says so
                self.send_json(303, {"error": exc.code, "message": exc.message},
                               dict(exc.headers, Location="/#locked-out"))
                return
            self.send_json(303, {"signed_in": False, "message": "this sign-in link was used before or has "
                                 "expired: sign in with the token"}, {"Location": "/#link-used"})
            return
        logger.info("%s signed in to the status page with a sign-in link", self.client_address[0])
        where = "/#add" if query.get("then", [""])[-1] == "add" else "/"  # (no other place: no open redirect)
        self.send_json(303, {"signed_in": True}, {"Location": where, "Set-Cookie": set_cookie(
            self.server.cookie_name, made[0], self.server.tls is not None)})

    def ep_login(self, body, query):
        """The token from a form field or a JSON body -> a session cookie.
        A wrong token counts towards the same lockout as the API's."""
        given = body.get("token")
        # "replace": a JSON string may hold a lone surrogate; it is no token either.
        given = given.encode("utf-8", "replace") if isinstance(given, str) else None
        self.gate.check_token(given, "send the token in the field \"token\"")
        if self.gate.cookie:
            self.server.sessions.end(self.gate.cookie)
        session, headers = self._new_session()
        logger.info("%s signed in to the status page", self.client_address[0])
        self._send_signed_in(session, headers)

    def ep_logout(self, body, query):
        if self.gate.cookie:
            self.server.sessions.end(self.gate.cookie)
        self.send_json(200, {"signed_in": False},
                       {"Set-Cookie": set_cookie(self.server.cookie_name, None, self.server.tls is not None)})

    def _send_signed_in(self, session, headers):
        self.send_json(200, {"signed_in": True, "token_required": True, "csrf": session.csrf}, headers)

    def _new_session(self):
        session_id, session = self.server.sessions.create()
        return session, {"Set-Cookie": set_cookie(self.server.cookie_name, session_id,
                                                  self.server.tls is not None)}

    # -- the JSON API -----------------------------------------------------------
    def ep_health(self, body, query):
        self.send_json(200, {"status": "ok"})

    def ep_status(self, body, query):
        self.send_json(200, self.server.app.status())

    def ep_runs(self, body, query):
        try:
            limit = int(query.get("limit", [RUNS_LISTED])[-1])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_RUNS_LISTED:
            raise HttpError(400, "bad_request", "limit must be a whole number from 1 to %d" % MAX_RUNS_LISTED)
        self.send_json(200, {"runs": self.server.app.recent_runs(limit)})

    def ep_run(self, body, query, run_id):
        record = self.server.app.run_record(run_id)
        if record is None:
            raise HttpError(404, "not_found", "no run with id %s" % run_id)
        self.send_json(200, record)

    def ep_metrics(self, body, query):
        self.send_body(200, self.server.app.metrics().encode("utf-8", "backslashreplace"), metrics.CONTENT_TYPE)

    def ep_snapshots(self, body, query, task):
        listing = self.server.app.snapshots(unquote(task))
        if listing is None:
            raise HttpError(404, "not_found", "no task named %s" % unquote(task))
        self.send_json(200, {"snapshots": listing})

    # -- files back ----------------------------------------------------------------
    def _number(self, query, key, default, largest, smallest=0):
        text = str(query.get(key, [default])[-1])
        digits = text and len(text) < 12 and all("0" <= c <= "9" for c in text)  # not a full-width "１"
        value = int(text) if digits else -1
        if not smallest <= value <= largest:
            raise HttpError(400, "bad_request", "%s must be a whole number from %d to %d" % (key, smallest, largest))
        return value

    def ep_files(self, body, query, task, snapshot):
        found = files.task_named(self.server.app.watcher.current(), unquote(task))
        rel = files.check_rel(query.get("path", [""])[-1])
        limit = self._number(query, "limit", files.PAGE, files.MAX_PAGE, smallest=1)
        self.send_json(200, files.listing(found, unquote(snapshot), rel, self._number(query, "offset", 0, 10 ** 9),
                                          limit))

    def ep_download(self, body, query, task, snapshot):
        found = files.task_named(self.server.app.watcher.current(), unquote(task))
        reader, entry = files.open_download(found, unquote(snapshot), files.check_rel(query.get("path", [""])[-1]))
        with reader, reader.open(entry) as stream:  # streamed: never read whole into memory
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(entry.size))
            self.send_header("Content-Disposition", files.content_disposition(os.path.basename(entry.rel)))
            for name, value in transport.SECURITY_HEADERS:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                streams.send_exactly(stream.read, entry.size, self.wfile.write, files.CHUNK)
            except streams.LengthChanged as exc:  # the answer is cut short: the client sees an error
                logger.warning("download of %s from %s stopped: the file changed while it was sent (%s)",
                               self._masked(entry.rel), self._masked(unquote(snapshot)), exc)

    def ep_restore(self, body, query, task):
        found = files.task_named(self.server.app.watcher.current(), unquote(task))
        name, path, where = body.get("snapshot"), body.get("path"), body.get("where", files.NEW)
        if (not isinstance(name, str) or not isinstance(path, str) or where not in (files.NEW, files.ORIGINAL)
                or body.get("preview", False) not in (True, False) or set(body) - {"snapshot", "path", "where",
                                                                                   "preview"}):
            raise HttpError(400, "bad_request", "send {\"snapshot\": NAME, \"path\": PATH} (path \"\" for "
                                                "everything), and \"where\": \"new\" (a new folder beside src, the "
                                                "default) or \"original\", and \"preview\": true to be told what "
                                                "it would do")
        if body.get("preview"):
            self.send_json(200, self.server.app.restores.preview(found, name, files.check_rel(path), where))
            return
        job = self.server.app.restores.start(found, name, files.check_rel(path), where)
        self.send_json(202, dict(job, status_url="/restores/%d" % job["id"]),
                       {"Location": "/restores/%d" % job["id"]})

    def ep_restore_job(self, body, query, job_id):
        job = self.server.app.restores.get(int(job_id))
        if job is None:
            raise HttpError(404, "not_found", "no restore with id %s" % job_id)
        self.send_json(200, job)

    def ep_trigger(self, body, query, task=None):
        wait = 0.0
        if "wait" in query:
            try:
                wait = float(query["wait"][-1])
            except ValueError:
                wait = -1
            if not 0 <= wait <= MAX_WAIT:
                raise HttpError(400, "bad_request", "wait must be a number of seconds from 0 to %d" % MAX_WAIT)
        if self.gate.anonymous:
            self._trigger_anonymous(wait)
            return
        status, data, job = self.server.app.trigger(None if task is None else unquote(task))
        if status != 202:
            self.send_json(status, data)
            return
        if wait and job.wait(wait):
            self.send_json(200, self.server.app.run_record(data["run_id"]))
            return
        self.send_json(202, data, {"Location": data["status_url"]})

    def _trigger_anonymous(self, wait):
        """POST /trigger without a credential: at most one start in
        ANONYMOUS_TRIGGER_INTERVAL; the answer says accepted, busy or how
        it ended, and names no task, run id, path or file name."""
        too_soon = self.server.anonymous_starts.take()
        if too_soon:
            raise HttpError(429, "too_many_requests", "a backup was started without a token a short while ago: "
                            "try again in %d seconds, or send the token" % too_soon, {"Retry-After": str(too_soon)})
        status, data, job = self.server.app.trigger(None)
        if status != 202:
            self.server.anonymous_starts.give_back()
        if status == 202 and wait and job.wait(wait):
            ended = self.server.app.run_record(data["run_id"]) or {}
            self.send_json(200, {"status": ended.get("status")})
        elif status == 202:
            self.send_json(202, {"status": "accepted"})
        elif status == 409:
            self.send_json(409, {"error": "already_running", "message": "a backup is already running"})
        else:
            self.send_json(status, {"error": data["error"], "message": "no default task can be started"})


class App(object):
    """What the endpoints do, apart from HTTP: start runs, read the history."""

    def __init__(self, watcher, stop_event, clock=time.time, zone=LOCAL, begin=begin_run, notifier=None):
        self.watcher = watcher  # config.watch.ConfigWatcher
        self.stop_event = stop_event
        self._begin = begin
        self.notifier = notifier
        self.clock = clock
        self.zone = zone
        self._begin_mutex = threading.Lock()
        self.jobs = []
        self.uploads = []  # the threads of the offsite uploads triggered runs started
        self.progress = {}  # run id -> its walk.Stats (None before the first file), while it copies
        self.restores = files.Restores(watcher.current, stop_event, clock)
        self.editor = tasks.Editor(watcher, clock, zone)

    def trigger(self, name):
        """Start ``name`` (or the default tasks) in the background. Returns
        (status, body, job). Start-or-409 is decided under one mutex, so
        simultaneous requests start exactly one run."""
        config = self.watcher.current()
        if name is None:
            tasks = [t for t in config.tasks if t.default and t.enabled]
            if not tasks:
                return 404, {"error": "no_default_task", "message": "no task has \"default\": true; "
                             "use /trigger/<task>", "tasks": [t.name for t in config.tasks]}, None
        else:
            tasks = [t for t in [find_task(config, name)] if t is not None]
            if not tasks:
                return 404, {"error": "unknown_task", "message": "no task named %s" % name,
                             "tasks": [t.name for t in config.tasks]}, None
        started, busy = [], []
        with self._begin_mutex:
            for task in tasks:
                result = self._begin(config, task, "http", clock=self.clock, zone=self.zone)
                (busy if getattr(result, "status", None) == ALREADY_RUNNING else started).append(result)
        if not started:
            run_id = busy[0].run_id
            return 409, {"error": "already_running", "message": "%s is already running" % busy[0].task,
                         "run_id": run_id, "status_url": "/runs/%s" % run_id}, None
        job = Job(started, self.stop_event, self.notifier, self.progress, self.uploads)
        with self._begin_mutex:
            self.jobs = [j for j in self.jobs if j.is_alive()] + [job]
        job.start()
        first = started[0].run_id
        data = {"status": "accepted", "run_id": first, "run_ids": [s.run_id for s in started],
                "tasks": [s.task.name for s in started], "status_url": "/runs/%s" % first}
        if busy:
            data["already_running"] = [b.task for b in busy]
        return 202, data, job

    def run_record(self, run_id):
        """The history's record of ``run_id``; while it runs here, with
        ``progress`` (files, bytes, copied, linked so far)."""
        try:
            wanted = int(run_id)
        except ValueError:
            return None
        record = History.for_config(self.watcher.current(), self.clock).get(wanted)
        if record is not None and record.get("status") == "running" and wanted in self.progress:
            stats = self.progress.get(wanted)  # None until the first file
            record = dict(record, progress={key: getattr(stats, key, 0) for key in PROGRESS_KEYS})
        return record

    def recent_runs(self, limit):
        """The newest ``limit`` runs of the history, newest first."""
        runs = History.for_config(self.watcher.current(), self.clock).runs()
        return runs[::-1][:limit]

    def status(self):
        return current_report(self.watcher.current(), self.clock, self.zone)

    def metrics(self):
        """The /metrics text (Prometheus format)."""
        config = self.watcher.current()
        runs = runs_now(config, self.clock, self.zone)
        return metrics.render(current_report(config, self.clock, self.zone, runs), runs)

    def snapshots(self, name):
        """The --snapshots --json listing of task ``name``, or None."""
        config = self.watcher.current()
        task = find_task(config, name)
        return None if task is None else snapshot_list(task, runs_now(config, self.clock, self.zone))


class Job(threading.Thread):
    """Runs started runs one after another in the background, keeping each
    one's tally (walk.Stats) in ``progress`` while it copies, and adds the
    thread of each offsite upload it starts to ``uploads`` (the server
    waits for them at shutdown: each records how it ended)."""

    def __init__(self, started, stop_event, notifier=None, progress=None, uploads=None):
        super(Job, self).__init__(name="trigger-%s" % started[0].run_id)
        self.daemon = True
        self.started_runs = started
        self.stop_event = stop_event
        self.notifier = notifier
        self.progress = {} if progress is None else progress
        self.uploads = [] if uploads is None else uploads
        self.done = threading.Event()

    def run(self):
        try:
            for run in self.started_runs:
                self.progress[run.run_id] = None
                try:
                    outcome = run.execute(stop_event=self.stop_event, notifier=self.notifier,
                                          progress=self._counter(run.run_id))
                    if run.task.offsite is not None and outcome.status in offsite_service.LOCAL_DONE:
                        self.uploads[:] = [t for t in self.uploads if t.is_alive()] + [
                            offsite_service.start_background(run.config, run.task, "http", self.stop_event,
                                                             self.notifier)]
                except Exception:
                    logger.exception("run %s could not be recorded", run.run_id)
                finally:
                    self.progress.pop(run.run_id, None)
        finally:
            self.done.set()

    def _counter(self, run_id):
        def progress(stats, rel):
            self.progress[run_id] = stats  # read when asked: nothing more per file
        return progress

    def wait(self, timeout):
        return self.done.wait(timeout)


class Server(transport.Server):
    """The HTTP server of ``app`` (keywords: transport.Server's)."""

    def __init__(self, address, app, **kw):
        transport.Server.__init__(self, address, app, ApiHandler, **kw)
