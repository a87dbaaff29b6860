"""Who may use the HTTP API: the token, the sessions and the lockout.

The rules (docs/HTTP.md, "The lockout"):

* Every presented token is compared with the right one, in constant time,
  before any lockout decision: the right token always gets in, whatever
  other clients send (so does a live session).
* Only failures are limited. Each failed attempt is answered after
  ``FAIL_DELAY`` seconds; past ``LIMIT`` failures of one client within
  ``WINDOW`` seconds, the answer is ``429`` with ``Retry-After``, at once
  (a locked-out client's attempts hold no connection slot for long).
* There is no anonymous door: every request that reads, restores or
  starts a named task needs the token or a session, on loopback too (with
  no token configured, http_server.py makes one). The one exception is
  ``POST /trigger`` of the default tasks by a script on loopback when no
  token was configured (``open_trigger``): its answer names nothing.
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
# The anonymous trigger starts a backup at most this often (seconds): starts
# in a row cannot push snapshots out of a "keep": {"last": N}.
ANONYMOUS_TRIGGER_INTERVAL = 600.0
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

    def failed_recently(self, key):
        """How many failures of client ``key`` the window holds."""
        now = self.clock()
        with self._lock:
            return sum(1 for t in self._failures.get(key, ()) if t > now - self.window)

    def slow_down(self):
        """Wait before answering a failure."""
        if self.delay > 0:
            self.sleep(self.delay)

    def clear(self):
        with self._lock:
            self._failures.clear()


class Every(object):
    """At most one start per ``interval`` seconds: ``take()`` is 0 and
    counts a start, or the seconds until the next may be; ``give_back()``
    when the counted start did not happen."""

    def __init__(self, interval=ANONYMOUS_TRIGGER_INTERVAL, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self._last = self._before = None
        self._lock = threading.Lock()

    def take(self):
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                return max(1, int(self._last + self.interval - now + 0.999))
            self._before, self._last = self._last, now
            return 0

    def give_back(self):
        with self._lock:
            self._last = self._before


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
    - the anonymous trigger (``check_trigger``): a script on loopback that
      sends no credential at all, when the server has ``open_trigger``.
    """

    def __init__(self, handler):
        self.h = handler
        self.server = handler.server
        self.addr = handler.client_address[0]
        self.cookie = cookie_value(handler.headers.get("Cookie"), self.server.cookie_name)
        self.session = self.server.sessions.get(self.cookie) if self.cookie else None
        self.anonymous = False  # True: let in by check_trigger without a credential

    def check_api(self):
        """Raise HttpError unless this request may use the API."""
        headers = self.h.headers
        if headers.get("Origin") is not None or (self.cookie is not None and
                                                  headers.get("Authorization") is None):
            self._check_browser()
        else:
            self.check_token(self._bearer(), "send the header Authorization: Bearer <token>")

    def check_trigger(self):
        """POST /trigger of the default tasks: as check_api, except that a
        request with no credential at all (no Authorization, cookie or
        Origin) passes as ``anonymous`` when the server has open_trigger."""
        headers = self.h.headers
        if (self.server.open_trigger and self.cookie is None and headers.get("Origin") is None
                and headers.get("Authorization") is None):
            self.anonymous = True
            return
        self.check_api()

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
        expected = self.server.token.encode("utf-8")
        if given is not None and hmac.compare_digest(given, expected):
            return
        self.failed("the token is wrong" if given is not None else missing_message)

    def failed(self, message):
        """A failed attempt of this client: 429 at once while it is locked
        out, else 401 after the lockout's delay."""
        self.count_failure()
        raise HttpError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})

    def count_failure(self):
        """Count a failed attempt of this client: 429 (raised) at once while
        it is locked out, else return after the lockout's delay."""
        lockout = self.server.lockout
        wait = lockout.failed(client_key(self.addr))
        if wait:
            raise _too_many(wait)
        lockout.slow_down()
