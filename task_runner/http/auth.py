"""Who may use the HTTP API: the token, the sessions and the lockout.

The rules (docs/HTTP.md, "The lockout"):

* Every presented token is compared with the right one, in constant time,
  before any lockout decision: the right token always gets in, whatever
  other clients send (so does a live session).
* Only failures are limited. Each failed attempt is answered after
  ``FAIL_DELAY`` seconds, holding its connection slot meanwhile, so the
  server resolves at most ``max_connections / FAIL_DELAY`` guesses a
  second however they are sent; past ``LIMIT`` failures of one client
  within ``WINDOW`` seconds, the answer is ``429`` with ``Retry-After``.
* A client is an address, except that every loopback address
  (``127.0.0.0/8``, ``::1``, ``::ffff:127.x.y.z``) is one client, and an
  IPv6 client is its /64 network (one machine usually has a whole /64).
"""

import collections
import hmac
import ipaddress
import threading
import time

from .sessions import CSRF_HEADER, cookie_value

LIMIT = 10
WINDOW = 60.0
FAIL_DELAY = 1.0
LOOPBACK = "loopback"
# Bounded memory under a flood of addresses (each IPv6 /64 is a client).
MAX_CLIENTS = 10000


class HttpError(Exception):
    def __init__(self, status, code, message, headers=None):
        super(HttpError, self).__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def client_key(address):
    """The client an address belongs to for the lockout: "loopback" for
    every loopback address, the /64 network of an IPv6 address, else the
    address itself."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scope id (fe80::1%eth0) is not part of it
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOOPBACK
    if ip.version == 6:
        return str(ipaddress.ip_network("%s/64" % ip, strict=False))
    return str(ip)


class Lockout(object):
    """Failed attempts per client within ``window`` seconds; past ``limit``
    of them the client's failures are answered 429. ``sleep(delay)`` is
    how a failure is slowed down (both injectable, as the clock)."""

    def __init__(self, limit=LIMIT, window=WINDOW, delay=FAIL_DELAY, clock=time.monotonic, sleep=time.sleep):
        self.limit = limit
        self.window = window
        self.delay = delay
        self.clock = clock
        self.sleep = sleep
        self._failures = {}
        self._lock = threading.Lock()

    def failed(self, key):
        """Count a failure of client ``key``; returns the seconds it is
        locked out for (0: it is not)."""
        now = self.clock()
        with self._lock:
            if key not in self._failures and len(self._failures) >= MAX_CLIENTS:
                self._failures.clear()
            times = self._failures.setdefault(key, collections.deque())
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < self.limit:
                return 0
            return max(1, int(times[-self.limit] + self.window - now + 0.999))

    def slow_down(self):
        """Wait before answering a failure."""
        if self.delay > 0:
            self.sleep(self.delay)

    def clear(self):
        with self._lock:
            self._failures.clear()


def _too_many(wait):
    return HttpError(429, "too_many_requests", "too many failed attempts; try again in %d seconds" % wait,
                     {"Retry-After": str(wait)})


class Gate(object):
    """Who is asking, for one request: the decisions of the sign-in rules.

    - a bearer token (scripts, curl, Prometheus): compared in constant time;
      a wrong or missing one is a failure of its client (see Lockout).
    - a browser: a session cookie (from POST /login) *and* its CSRF header.
      A request with an ``Origin`` (a page's fetch) or with the cookie and
      no Authorization is a browser's, whatever else it sends.
    - no token configured (loopback only): scripts need nothing; a browser
      still needs a session (GET /session gives one without a token).
    """

    def __init__(self, handler):
        self.h = handler
        self.server = handler.server
        self.addr = handler.client_address[0]
        self.cookie = cookie_value(handler.headers.get("Cookie"), self.server.cookie_name)
        self.session = self.server.sessions.get(self.cookie) if self.cookie else None

    def check_api(self):
        """Raise HttpError unless this request may use the API."""
        headers = self.h.headers
        if headers.get("Origin") is not None or (self.cookie is not None and
                                                  headers.get("Authorization") is None):
            self._check_browser()
        elif self.server.token is not None:
            self.check_token(self._bearer(), "send the header Authorization: Bearer <token>")

    def _check_browser(self):
        if self.session is None:
            if self.cookie is None:
                raise HttpError(403, "forbidden", "a web page must sign in first (POST /login)")
            raise HttpError(401, "signed_out", "the session has ended: sign in again")
        given = self.h.headers.get(CSRF_HEADER, "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, self.session.csrf.encode("ascii")):
            raise HttpError(403, "forbidden", "the %s header is missing or wrong" % CSRF_HEADER)

    def _bearer(self):
        given = self.h.headers.get("Authorization")
        if not given:
            return None
        # Header values arrive decoded as latin-1: take the raw bytes back.
        given = given.encode("latin-1", "replace").strip()
        return given[7:] if given[:7] == b"Bearer " else b""

    def check_token(self, given, missing_message):
        """``given`` (bytes, or None when not sent) against the token: the
        right one passes at once, whatever the lockout says; a wrong or
        missing one is answered after the lockout's delay, 429 while its
        client is locked out, else 401."""
        expected = (self.server.token or "").encode("utf-8")
        if given is not None and hmac.compare_digest(given, expected):
            return
        lockout = self.server.lockout
        wait = lockout.failed(client_key(self.addr))
        lockout.slow_down()
        if wait:
            raise _too_many(wait)
        raise HttpError(401, "unauthorized", "the token is wrong" if given is not None else missing_message,
                        {"WWW-Authenticate": "Bearer"})
