"""Browser sessions of the status page: what POST /login hands out.

A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie,
known only to this server's memory (a restart signs everyone out), with a
per-session CSRF token the page's script sends in a header. It ends after
``idle`` seconds without a request, or at POST /logout. The clock is an
argument, so tests can age a session without waiting.

A sign-in link (``GET /signin?code=...``, printed by http_server.py) holds
a one-time code: it becomes a session once, within ``CODE_LIFETIME``
seconds, so the link left in a browser's history opens nothing.
"""

import collections
import hashlib
import secrets
import threading
import time

IDLE = 12 * 3600.0
MAX_SESSIONS = 1000
CODE_LIFETIME = 15 * 60.0
MAX_CODES = 100
CSRF_HEADER = "X-CSRF-Token"


class Session(object):
    __slots__ = ("csrf", "last_used")

    def __init__(self, csrf, last_used):
        self.csrf = csrf
        self.last_used = last_used


def _key(session_id):
    # Stored by hash: a lookup's timing tells nothing about a valid id.
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore(object):
    """The live sessions, bounded: past ``limit``, the least recently used
    one ends first."""

    def __init__(self, clock=time.time, idle=IDLE, limit=MAX_SESSIONS):
        self.clock = clock
        self.idle = idle
        self.limit = limit
        self._sessions = collections.OrderedDict()
        self._codes = collections.OrderedDict()  # hash of a sign-in code -> when it was made
        self._lock = threading.Lock()

    def new_code(self):
        """A one-time sign-in code (256 random bits) for a sign-in link."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[_key(code)] = self.clock()
            while len(self._codes) > MAX_CODES:
                self._codes.popitem(last=False)
        return code

    def redeem(self, code):
        """A new session for a sign-in ``code`` made within CODE_LIFETIME
        seconds and not used before (it is used now), else None."""
        with self._lock:
            made = self._codes.pop(_key(code), None)
        if made is None or not 0 <= self.clock() - made <= CODE_LIFETIME:
            return None
        return self.create()

    def create(self):
        """A new session: (cookie value, Session)."""
        session_id = secrets.token_urlsafe(32)  # 256 random bits
        session = Session(secrets.token_urlsafe(32), self.clock())
        with self._lock:
            self._sessions[_key(session_id)] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id):
        """The live session of ``session_id`` (its idle time starts again),
        or None when unknown or idle too long (then it is gone)."""
        key = _key(session_id)
        now = self.clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.last_used > self.idle:
                del self._sessions[key]
                return None
            session.last_used = now
            self._sessions.move_to_end(key)
            return session

    def end(self, session_id):
        with self._lock:
            self._sessions.pop(_key(session_id), None)

    def __len__(self):
        return len(self._sessions)


def cookie_value(header, name):
    """The value of cookie ``name`` in a Cookie header, or None."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value.strip()
    return None


def set_cookie(name, value, secure):
    """The Set-Cookie value for a session (``value`` None: end it)."""
    attrs = ["%s=%s" % (name, value or ""), "Path=/", "HttpOnly", "SameSite=Strict"]
    if value is None:
        attrs.append("Max-Age=0")
    if secure:
        attrs.append("Secure")
    return "; ".join(attrs)
