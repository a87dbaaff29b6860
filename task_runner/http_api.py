"""The HTTP trigger: a small, hardened JSON API over http.server.

Endpoints: POST /trigger[/<task>][?wait=S], GET /runs/<id>, GET /status,
GET /health. Every response is JSON with Content-Length, no-store and
nosniff headers and no CORS headers; the connection closes after each
response. Defences, in the order they are checked: a request with an
Origin header is refused (no web page can trigger a backup), the Host must
be a loopback name when bound to loopback (DNS rebinding), no
Transfer-Encoding, one valid Content-Length of at most 4 KiB (413 without
reading the body), known path and method, the rate limit on failed logins,
then the bearer token (compared in constant time). A client gets 10 s for
its whole request, not per read, so slow clients cannot hold a thread, and
at most 32 connections are served at once (the rest get a short 503).
"""

import collections
import hmac
import io
import json
import logging
import re
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import metrics, osutil
from .history import History
from .restore import snapshot_list
from .runner import ALREADY_RUNNING, begin_run
from .schedule import LOCAL
from .status import current_report

logger = logging.getLogger(__name__)

MAX_BODY = 4096
MAX_WAIT = 3600.0
# A connection that has sent nothing after this long is closed, long before
# request_timeout: idle connections cannot hold every slot for long.
FIRST_BYTE_TIMEOUT = 2.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
_BUSY_BODY = b'{"error": "busy", "message": "too many connections at once; retry in a second"}\n'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
         b"Content-Length: %d\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
         b"Retry-After: 1\r\nConnection: close\r\n\r\n" % len(_BUSY_BODY)) + _BUSY_BODY
_VANISHED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def printable(text):
    """``text`` (anything a client sent) safe for a log line and a
    terminal: every non-printable character becomes a visible escape, so
    no escape sequence ever reaches whoever reads the log."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else
                   ("\\x%02x" % ord(c) if ord(c) < 0x100 else "\\u%04x" % (ord(c) & 0xFFFF)) for c in text)


def is_loopback(host):
    return host in LOOPBACK_NAMES or host.startswith("127.")


class DeadlineReader(io.RawIOBase):
    """Reads from a socket until a fixed deadline: each read waits only for
    what is left of the request's time, so a client sending one byte a
    second cannot stretch a request past it."""

    def __init__(self, sock, deadline, clock=time.monotonic, first_byte_deadline=None):
        super(DeadlineReader, self).__init__()
        self.sock = sock
        self.deadline = deadline
        self.clock = clock
        # Until the first byte arrives, the (shorter) first-byte deadline holds.
        self.first_byte_deadline = first_byte_deadline

    def readable(self):
        return True

    def readinto(self, buf):
        deadline = self.deadline
        if self.first_byte_deadline is not None:
            deadline = min(deadline, self.first_byte_deadline)
        left = deadline - self.clock()
        if left <= 0:
            raise socket.timeout("the request took longer than allowed")
        self.sock.settimeout(left)
        n = self.sock.recv_into(buf)
        if n:
            self.first_byte_deadline = None
        return n


class RateLimiter(object):
    """At most ``limit`` failed logins per address within ``window`` s.

    A locked address is not locked out for ever: one token a second from it
    is still checked (``may_try``), so the right one gets through while
    another local process guesses (on loopback every client is 127.0.0.1).
    Guessing a strong token (20+ characters) at one a second is hopeless."""

    def __init__(self, limit=10, window=60.0, clock=time.monotonic, locked_interval=1.0):
        self.limit = limit
        self.window = window
        self.clock = clock
        self.locked_interval = locked_interval
        self._failures = {}
        self._last_locked_try = {}
        self._lock = threading.Lock()

    def may_try(self, addr):
        """(True, 0) when a token from ``addr`` may be checked now, else
        (False, seconds to wait)."""
        wait = self.retry_after(addr)
        if not wait:
            return True, 0
        now = self.clock()
        with self._lock:
            if len(self._last_locked_try) > 10000:
                self._last_locked_try.clear()
            if now - self._last_locked_try.get(addr, -1e9) >= self.locked_interval:
                self._last_locked_try[addr] = now
                return True, 0
        return False, wait

    def retry_after(self, addr):
        """Seconds until ``addr`` may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(addr)
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                self._failures.pop(addr, None)
                return 0
            if len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window - now + 0.999))

    def failed(self, addr):
        now = self.clock()
        with self._lock:
            if len(self._failures) > 10000:  # bounded memory under a flood of addresses
                self._failures.clear()
            self._failures.setdefault(addr, collections.deque()).append(now)


class HttpError(Exception):
    def __init__(self, status, code, message, headers=None):
        super(HttpError, self).__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class Handler(BaseHTTPRequestHandler):
    server_version = "TaskRunner"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # so Expect: 100-continue reaches us; we always close
    default_request_version = "HTTP/1.0"  # a malformed request line still gets a status line

    # (path pattern, allowed methods, handler name, needs the token)
    ROUTES = [
        (re.compile(r"^/health$"), ("GET",), "health", False),
        (re.compile(r"^/status$"), ("GET",), "status", True),
        (re.compile(r"^/trigger$"), ("POST",), "trigger", True),
        (re.compile(r"^/trigger/(?P<task>[^/]+)$"), ("POST",), "trigger", True),
        (re.compile(r"^/runs/(?P<run_id>[^/]+)$"), ("GET",), "run", True),
        (re.compile(r"^/snapshots/(?P<task>[^/]+)$"), ("GET",), "snapshots", True),
        (re.compile(r"^/metrics$"), ("GET",), "metrics", True),
    ]

    # -- connection set-up: TLS and the whole-request deadline -----------
    def setup(self):
        self.deadline = time.monotonic() + self.server.request_timeout
        if self.server.tls is not None:
            # The handshake happens here, in this connection's thread.
            self.request.settimeout(self.server.request_timeout)
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super(Handler, self).setup()
        self.connection.settimeout(self.server.request_timeout)  # for writes
        self.rfile = io.BufferedReader(DeadlineReader(
            self.connection, self.deadline, first_byte_deadline=time.monotonic() + FIRST_BYTE_TIMEOUT))

    def version_string(self):
        return self.server_version  # "TaskRunner", without http.server's trailing space

    def handle_expect_100(self):
        return True  # answered in _route, once auth and size have passed

    def log_message(self, fmt, *args):
        # To the project's log (works under pythonw): never a token, never a
        # raw control character from the client.
        logger.info("%s %s", self.client_address[0], self._masked(fmt % args))

    def log_request(self, code="-", size="-"):
        # The request line with the query replaced by "?...": a query (or a
        # path) may hold a token in any spelling. /health is routine: DEBUG.
        path = getattr(self, "path", "")
        shown = path.split("?", 1)[0] + ("?..." if "?" in path else "")
        level = logging.DEBUG if shown == "/health" else logging.INFO
        logger.log(level, "%s %s %s %s", self.client_address[0], printable(self.command or "-"),
                   self._masked(shown), getattr(code, "value", code))

    def _masked(self, text):
        token = self.server.token
        if token:
            text = text.replace(token, "***")
            decoded = unquote(text)
            if token in decoded:
                text = decoded.replace(token, "***")
        return printable(text)

    # -- responses --------------------------------------------------------
    def send_json(self, status, data, headers=None):
        # A lone surrogate (a name that is not UTF-8) becomes the JSON escape \udXXX.
        body = (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8", "backslashreplace")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def send_text(self, status, text, content_type):
        body = text.encode("utf-8", "backslashreplace")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (bad request line...) get the same JSON
        # shape as ours. A method it has no do_ for (FOO, TRACE) is routed
        # like any other: 405 on a known path, 404 elsewhere.
        if code == 501 and getattr(self, "command", None) and getattr(self, "headers", None) is not None:
            self._dispatch()
            return
        self.close_connection = True
        try:
            short = self.responses.get(code, ("error",))[0]
        except Exception:
            short = "error"
        self.send_json(code, {"error": short.lower().replace(" ", "_"), "message": message or short})

    # -- dispatch ---------------------------------------------------------
    def _dispatch(self):
        try:
            self._route()
        except HttpError as exc:
            self.send_json(exc.status, {"error": exc.code, "message": exc.message}, exc.headers)
        except socket.timeout:
            self.close_connection = True  # the client was too slow: just close
        except _VANISHED as exc:
            self.close_connection = True
            logger.debug("%s went away before the answer was sent (%s)", self.client_address[0],
                         type(exc).__name__)
        except Exception:
            logger.exception("error while answering %s %s", self.command, urlsplit(self.path).path)
            self.send_json(500, {"error": "internal_error", "message": "see the server log"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _host_ok(self):
        host = self.headers.get("Host")
        if host is None:
            return True
        host = host.strip().lower()
        port = str(self.server.server_address[1])
        for name in ("127.0.0.1", "localhost", "[::1]"):
            if host in (name, "%s:%s" % (name, port)):
                return True
        return False

    def _content_length(self):
        if self.headers.get_all("Transfer-Encoding"):
            raise HttpError(400, "bad_request", "Transfer-Encoding is not supported: send Content-Length")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        if len(values) > 1 or not re.match(r"^\d{1,18}$", values[0].strip()):
            raise HttpError(400, "bad_request", "invalid Content-Length")
        length = int(values[0].strip())
        if length > MAX_BODY:
            raise HttpError(413, "too_large", "the body may be at most %d bytes" % MAX_BODY)
        return length

    def _authorized(self):
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        # Header values arrive decoded as latin-1: take the raw bytes back.
        given = given.encode("latin-1", "replace")
        expected = b"Bearer " + token.encode("utf-8")
        return hmac.compare_digest(given.strip(), expected)

    def _route(self):
        if not self.path.startswith("/"):
            raise HttpError(400, "bad_request", "the request target must be a path such as /status")
        if len(self.headers.get_all("Host") or []) > 1:
            raise HttpError(400, "bad_request", "more than one Host header")
        if self.headers.get("Origin") is not None:
            raise HttpError(403, "forbidden", "requests from web pages (with an Origin header) are refused")
        if self.server.loopback and not self._host_ok():
            raise HttpError(403, "forbidden", "unexpected Host header")
        length = self._content_length()
        url = urlsplit(self.path)
        for pattern, methods, name, needs_token in self.ROUTES:
            m = pattern.match(url.path)
            if m:
                break
        else:
            raise HttpError(404, "not_found", "no such endpoint")
        if self.command not in methods:
            raise HttpError(405, "method_not_allowed", "use %s" % ", ".join(methods),
                            {"Allow": ", ".join(methods)})
        if needs_token:
            addr = self.client_address[0]
            allowed, wait = self.server.limiter.may_try(addr)
            if not allowed:
                raise HttpError(429, "too_many_requests", "too many failed logins; try again later",
                                {"Retry-After": str(wait)})
            if not self._authorized():
                self.server.limiter.failed(addr)
                if self.server.limiter.retry_after(addr):
                    raise HttpError(429, "too_many_requests", "too many failed logins; try again later",
                                    {"Retry-After": str(self.server.limiter.retry_after(addr))})
                given = self.headers.get("Authorization")
                raise HttpError(401, "unauthorized", "the token is wrong" if given else
                                "send the header Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
        body = self._read_body(length)
        query = parse_qs(url.query, keep_blank_values=True)
        getattr(self, "ep_" + name)(body=body, query=query, **m.groupdict())

    def _read_body(self, length):
        if length == 0:
            return {}
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        data = self.rfile.read(length)
        if len(data) < length:
            raise socket.timeout("body cut short")
        ctype = self.headers.get("Content-Type")
        if ctype is not None and ctype.split(";")[0].strip().lower() != "application/json":
            raise HttpError(415, "unsupported_media_type", "send the body as application/json")
        try:
            body = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            raise HttpError(400, "bad_request", "the body must be a JSON object, e.g. {}")
        if not isinstance(body, dict):
            raise HttpError(400, "bad_request", "the body must be a JSON object, e.g. {}")
        return body

    # -- endpoints ----------------------------------------------------------
    def ep_health(self, body, query):
        self.send_json(200, {"status": "ok"})

    def ep_status(self, body, query):
        self.send_json(200, self.server.app.status())

    def ep_run(self, body, query, run_id):
        record = self.server.app.run_record(run_id)
        if record is None:
            raise HttpError(404, "not_found", "no run with id %s" % run_id)
        self.send_json(200, record)

    def ep_metrics(self, body, query):
        self.send_text(200, self.server.app.metrics(), metrics.CONTENT_TYPE)

    def ep_snapshots(self, body, query, task):
        listing = self.server.app.snapshots(unquote(task))
        if listing is None:
            raise HttpError(404, "not_found", "no task named %s" % unquote(task))
        self.send_json(200, {"snapshots": listing})

    def ep_trigger(self, body, query, task=None):
        wait = 0.0
        if "wait" in query:
            try:
                wait = float(query["wait"][-1])
            except ValueError:
                wait = -1
            if not 0 <= wait <= MAX_WAIT:
                raise HttpError(400, "bad_request", "wait must be a number of seconds from 0 to %d" % MAX_WAIT)
        status, data, job = self.server.app.trigger(None if task is None else unquote(task))
        if status != 202:
            self.send_json(status, data)
            return
        if wait and job.wait(wait):
            self.send_json(200, self.server.app.run_record(data["run_id"]))
            return
        self.send_json(202, data, {"Location": data["status_url"]})


class App(object):
    """What the endpoints do, apart from HTTP: start runs, read the history."""

    def __init__(self, watcher, stop_event, clock=time.time, zone=LOCAL, begin=begin_run, notifier=None):
        self.watcher = watcher  # config.ConfigWatcher
        self.stop_event = stop_event
        self._begin = begin
        self.notifier = notifier
        self.clock = clock
        self.zone = zone
        self._begin_mutex = threading.Lock()
        self.jobs = []

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
            tasks = [t for t in config.tasks if t.name == name]
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
        job = Job(started, self.stop_event, self.notifier)
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
        try:
            wanted = int(run_id)
        except ValueError:
            return None
        return History.for_config(self.watcher.current(), self.clock).get(wanted)

    def status(self):
        return current_report(self.watcher.current(), self.clock, self.zone)

    def metrics(self):
        """The /metrics text (Prometheus format)."""
        config = self.watcher.current()
        runs = History.for_config(config, self.clock).runs()
        return metrics.render(current_report(config, self.clock, self.zone, runs), runs)

    def snapshots(self, name):
        """The --snapshots --json listing of task ``name``, or None."""
        config = self.watcher.current()
        for task in config.tasks:
            if task.name == name:
                return snapshot_list(task, History.for_config(config, self.clock).runs())
        return None


class Job(threading.Thread):
    """Runs started runs one after another in the background."""

    def __init__(self, started, stop_event, notifier=None):
        super(Job, self).__init__(name="trigger-%s" % started[0].run_id)
        self.daemon = True
        self.started_runs = started
        self.stop_event = stop_event
        self.notifier = notifier
        self.done = threading.Event()

    def run(self):
        try:
            for run in self.started_runs:
                try:
                    run.execute(stop_event=self.stop_event, notifier=self.notifier)
                except Exception:
                    logger.exception("run %s could not be recorded", run.run_id)
        finally:
            self.done.set()

    def wait(self, timeout):
        return self.done.wait(timeout)


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    # Windows: SO_REUSEADDR would let a second process bind the same port.
    allow_reuse_address = not osutil.WINDOWS
    request_queue_size = 64

    def __init__(self, address, app, token=None, tls=None, max_connections=32, request_timeout=10.0):
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        self.token = token
        self.tls = tls
        self.request_timeout = request_timeout
        self.loopback = is_loopback(host)
        self.limiter = RateLimiter()
        self._slots = threading.BoundedSemaphore(max_connections)
        HTTPServer.__init__(self, address, Handler)

    def server_bind(self):
        if osutil.WINDOWS and hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        HTTPServer.server_bind(self)

    def process_request(self, request, client_address):
        # In the accept loop: never block here.
        if not self._slots.acquire(blocking=False):
            try:
                request.setblocking(False)
                request.send(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            socketserver.ThreadingMixIn.process_request(self, request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address):
        # A client that vanished or sent garbage: one DEBUG line, no traceback.
        logger.debug("connection from %s ended with an error: %s", client_address[0],
                     printable(repr(sys.exc_info()[1])))
