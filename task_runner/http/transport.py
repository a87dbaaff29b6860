"""The HTTP transport and its defences, apart from what is served.

Every request passes one gate, in order: a path as target, one Host header;
an ``Origin`` exactly the server's own (no foreign page reaches the API); a
loopback Host when bound to loopback (DNS rebinding); no Transfer-Encoding,
one Content-Length of at most 4 KiB (413 unread); a known path and method;
then who asks (the route's ``access``: auth.py's ``Gate``, with the lockout).
A client gets 10 s for its whole request, and at most max_connections are
served at once, fewer for one client; past that only the right token or a
live session gets in (slots.py), the rest a short 503. Every answer has
Content-Length, no-store, nosniff, the page's security headers and no CORS
headers; the connection closes after each response. What is served (api.py)
is a ``Handler`` subclass with ``ROUTES`` and ``ep_<name>``: it cannot skip
the gate.
"""

import io
import json
import logging
import re
import secrets
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from ..fs import osutil
from ..console import printable
from .auth import Every, Gate, HttpError, Lockout, client_key
from .sessions import SessionStore
from .slots import Slots, Triage
from .streams import DeadlineReader

logger = logging.getLogger(__name__)

MAX_BODY = 4096
FIRST_BYTE_TIMEOUT = 2.0  # a connection silent this long is closed: idle ones cannot hold the slots
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
# On every answer: the page's scripts come only from this server, no page
# may frame it (clickjacking), and no address leaks in a Referer.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)
JSON = "application/json; charset=utf-8"


def answer_headers(content_type, length, extra=None):
    """The headers of an answer: the one place that adds the security
    headers, so every answer has them, errors and the 503 of a full
    server included. ``extra``: a dict of more headers."""
    return ([("Content-Type", content_type), ("Content-Length", str(length))] + list(SECURITY_HEADERS)
            + [("Connection", "close")] + sorted((extra or {}).items()))


def _raw_answer(status_line, content_type, body, extra=None):
    head = "".join("%s: %s\r\n" % pair for pair in answer_headers(content_type, len(body), extra))
    return ("HTTP/1.1 %s\r\n%s\r\n" % (status_line, head)).encode("latin-1") + body


_BUSY = _raw_answer("503 Service Unavailable", JSON, b'{"error": "busy", "message": "too many connections '
                    b'at once; retry in a second"}\n', {"Retry-After": "1"})
_VANISHED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

# Route access levels (see Gate).
PUBLIC = "public"  # no sign-in: /health, the page shell and its files, /login, /session, /signin
API = "api"        # the bearer token, or a session cookie with its CSRF header
TRIGGER = "trigger"  # API, or no credential at all on a server with open_trigger (auth.Gate.check_trigger)


def is_loopback(host):
    return host in LOOPBACK_NAMES or host.startswith("127.")


class Handler(BaseHTTPRequestHandler):
    """The gate and the answers; subclasses give ROUTES and ep_ methods."""

    server_version = "TaskRunner"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # so Expect: 100-continue reaches us; we always close
    default_request_version = "HTTP/1.0"  # a malformed request line still gets a status line

    # (path pattern, allowed methods, handler name, access)
    ROUTES = []
    # Body types an endpoint may be sent; JSON for all, forms only where named.
    FORM_ENDPOINTS = ()

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
            self.connection, self.deadline, first_byte_deadline=time.monotonic() + FIRST_BYTE_TIMEOUT,
            prefix=self.server.take_prefix(self.request)))

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
        # path) may hold a token in any spelling. Routine reads are DEBUG:
        # QUIET_PATHS, and every GET of a signed-in page (it refreshes
        # every few seconds).
        path = getattr(self, "path", "")
        shown = path.split("?", 1)[0] + ("?..." if "?" in path else "")
        session = getattr(getattr(self, "gate", None), "session", None)
        quiet = self.command == "GET" and (shown in self.QUIET_PATHS or session is not None)
        logger.log(logging.DEBUG if quiet else logging.INFO, "%s %s %s %s", self.client_address[0],
                   self._masked(self.command or "-"), self._masked(shown), getattr(code, "value", code))

    QUIET_PATHS = ("/health",)

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
        self.send_body(status, body, JSON, headers)

    def send_body(self, status, body, content_type, headers=None):
        self.send_response(status)
        for name, value in answer_headers(content_type, len(body), headers):
            self.send_header(name, value)
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
            logger.exception("error while answering %s %s", self._masked(self.command or "-"),
                             self._masked(urlsplit(self.path).path))
            self.send_json(500, {"error": "internal_error", "message": "see the server log"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def own_origin(self):
        """This server's origin as a browser names it: scheme://Host (None
        without a Host header: then no Origin is ours)."""
        host = (self.headers.get("Host") or "").strip()
        return _origin("%s://%s" % ("https" if self.server.tls is not None else "http", host)) if host else None

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

    def _route(self):
        if not self.path.startswith("/"):
            raise HttpError(400, "bad_request", "the request target must be a path such as /status")
        if len(self.headers.get_all("Host") or []) > 1:
            raise HttpError(400, "bad_request", "more than one Host header")
        origin = self.headers.get("Origin")
        if origin is not None and _origin(origin) != self.own_origin():
            raise HttpError(403, "forbidden", "requests from other web pages (Origin %s) are refused"
                            % printable(origin[:100]))
        if self.server.loopback and not self._host_ok():
            raise HttpError(403, "forbidden", "unexpected Host header")
        length = self._content_length()
        url = urlsplit(self.path)
        for pattern, methods, name, access in self.ROUTES:
            m = pattern.match(url.path)
            if m:
                break
        else:
            raise HttpError(404, "not_found", "no such endpoint")
        if self.command not in methods:
            raise HttpError(405, "method_not_allowed", "use %s" % ", ".join(methods),
                            {"Allow": ", ".join(methods)})
        self.gate = Gate(self)
        if access == API:
            self.gate.check_api()
        elif access == TRIGGER:
            self.gate.check_trigger()
        body = self._read_body(length, name in self.FORM_ENDPOINTS)
        # surrogatepass: a lone surrogate sent as its three bytes (web/files.js encodeName) is a
        # name that is not valid UTF-8 (Linux) or holds one (Windows), as os.fsdecode gives it.
        try:
            query = parse_qs(url.query, keep_blank_values=True, encoding="utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            raise HttpError(400, "bad_request", "the query must be UTF-8 (percent-encoded)")
        getattr(self, "ep_" + name)(body=body, query=query, **m.groupdict())

    def _read_body(self, length, form_allowed):
        if length == 0:
            return {}
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        data = self.rfile.read(length)
        if len(data) < length:
            raise socket.timeout("body cut short")
        ctype = self.headers.get("Content-Type")
        ctype = None if ctype is None else ctype.split(";")[0].strip().lower()
        if form_allowed and ctype == "application/x-www-form-urlencoded":
            try:
                return {k: v[-1] for k, v in parse_qs(data.decode("utf-8"), keep_blank_values=True).items()}
            except UnicodeDecodeError:
                raise HttpError(400, "bad_request", "the form must be UTF-8")
        if ctype is not None and ctype != "application/json":
            raise HttpError(415, "unsupported_media_type", "send the body as application/json")
        try:
            body = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            raise HttpError(400, "bad_request", "the body must be a JSON object, e.g. {}")
        if not isinstance(body, dict):
            raise HttpError(400, "bad_request", "the body must be a JSON object, e.g. {}")
        return body


def _origin(text):
    """An origin (scheme://host[:port]) in one spelling: lower case, the
    scheme's default port left out."""
    scheme, _, host = text.strip().lower().partition("://")
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[:-len(default)]
    return "%s://%s" % (scheme, host)


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    # Windows: SO_REUSEADDR would let a second process bind the same port.
    allow_reuse_address = not osutil.WINDOWS
    request_queue_size = 64

    def __init__(self, address, app, handler, token=None, tls=None, max_connections=32, request_timeout=10.0,
                 sessions=None, lockout=None, open_trigger=False):
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        # No token given: one nobody knows, so nothing is open without a
        # credential (http_server.py gives the token of its token file).
        self.token = token if token else secrets.token_urlsafe(32)
        self.tls = tls
        self.request_timeout = request_timeout
        self.loopback = is_loopback(host)
        # POST /trigger of the default tasks without a credential: loopback only.
        self.open_trigger = bool(open_trigger) and self.loopback
        self.anonymous_starts = Every()
        self.lockout = Lockout() if lockout is None else lockout
        self.sessions = SessionStore() if sessions is None else sessions
        self.slots = Slots(max_connections)
        self._prefixes = {}  # a connection served from Triage -> the bytes it read of it
        self.triage = None  # (server_close runs when binding fails)
        HTTPServer.__init__(self, address, handler)
        # Cookies are shared by every port of a host: one name per port, so
        # two servers on one machine do not sign each other out.
        self.cookie_name = "task_runner_session_%d" % self.server_address[1]
        self.triage = None if tls is not None else Triage(self)
        if self.triage is not None:
            self.triage.start()

    def server_bind(self):
        if osutil.WINDOWS and hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        HTTPServer.server_bind(self)

    # -- connection slots (slots.py) -------------------------------------------
    busy_answer = _BUSY

    @staticmethod
    def too_many_answer(wait):
        return _raw_answer("429 Too Many Requests", JSON, b'{"error": "too_many_requests", "message": "too many '
                           b'failed attempts"}\n', {"Retry-After": str(wait)})

    def process_request(self, request, client_address):
        # In the accept loop: never block here.
        key = client_key(client_address[0])
        if not self.slots.take(key):
            if self.triage is not None:
                self.triage.add(request, client_address)
            else:
                self.refuse(request, _BUSY)
            return
        try:
            socketserver.ThreadingMixIn.process_request(self, request, client_address)
        except Exception:
            self.slots.give(key)
            raise

    def process_request_thread(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
        finally:
            self.slots.give(client_key(client_address[0]))

    def serve_reserved(self, request, client_address, prefix):
        """Serve, in a reserved slot (taken), a connection of which
        ``prefix`` was read already (slots.Triage)."""
        self._prefixes[id(request)] = prefix

        def serve():
            try:
                socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
            finally:
                self._prefixes.pop(id(request), None)
                self.slots.give_reserved()
        thread = threading.Thread(target=serve, daemon=True)
        try:
            thread.start()
        except Exception:
            self._prefixes.pop(id(request), None)
            self.slots.give_reserved()
            self.shutdown_request(request)

    def take_prefix(self, request):
        return self._prefixes.pop(id(request), b"")

    def refuse(self, request, answer):
        """A short answer sent without waiting, and the connection closed."""
        try:
            request.setblocking(False)
            request.send(answer)
        except OSError:
            pass
        self.shutdown_request(request)

    def server_close(self):
        if self.triage is not None:
            self.triage.close()
        HTTPServer.server_close(self)

    def handle_error(self, request, client_address):
        # A client that vanished or sent garbage: one DEBUG line, no traceback.
        logger.debug("connection from %s ended with an error: %s", client_address[0],
                     printable(repr(sys.exc_info()[1])))
