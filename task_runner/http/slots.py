"""Connection slots: who may hold one of the server's threads, so that the
right token always gets in (docs/HTTP.md, "Connection slots").

* ``max_connections`` slots in all; one client (auth.client_key: an
  address, every loopback address as one, an IPv6 /64) holds at most
  ``per_client`` of them, fewer than all, so one client cannot fill the
  server.
* A connection that finds no slot for its client is not refused blind: it
  goes to ``Triage``, one thread that reads the request heads of all such
  connections at once (a selector: a silent or slow connection holds no
  thread there). A head that presents the right token or a live session is
  served in one of the ``reserved`` slots kept for them; any other is
  answered at once: ``429`` while its client is locked out (a wrong token
  is counted as a failure), else ``503`` with ``Retry-After: 1``. A head
  not complete within ``HEAD_TIMEOUT`` seconds is closed.

Under TLS the head cannot be read before the handshake: a connection that
finds no slot gets 503 at once.
"""

import hmac
import selectors
import socket
import threading
import time

from .auth import client_key
from .sessions import cookie_value

HEAD_TIMEOUT = 2.0
MAX_HEAD = 8192
MAX_PENDING = 256


class Slots(object):
    """Counts of slots in use, in all and per client; thread-safe."""

    def __init__(self, total, per_client=None, reserved=None):
        self.total = total
        self.per_client = per_client if per_client is not None else max(1, total - max(1, total // 4))
        self.reserved = reserved if reserved is not None else max(1, total // 8)
        self._used = {}
        self._in_use = 0
        self._reserved_in_use = 0
        self._lock = threading.Lock()

    def take(self, key):
        """A slot for client ``key``, if it may have one now (True)."""
        with self._lock:
            if self._in_use >= self.total or self._used.get(key, 0) >= self.per_client:
                return False
            self._in_use += 1
            self._used[key] = self._used.get(key, 0) + 1
            return True

    def give(self, key):
        with self._lock:
            self._in_use -= 1
            left = self._used.get(key, 1) - 1
            if left:
                self._used[key] = left
            else:
                self._used.pop(key, None)

    def take_reserved(self):
        with self._lock:
            if self._reserved_in_use >= self.reserved:
                return False
            self._reserved_in_use += 1
            return True

    def give_reserved(self):
        with self._lock:
            self._reserved_in_use -= 1


def credential(head, server):
    """What the request head (bytes) presents: "valid" (the right bearer
    token, or the cookie of a live session), "wrong" (an Authorization
    header that is not the right token), or None (nothing)."""
    auth = cookie = None
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"authorization":
            auth = value.strip()
        elif name == b"cookie":
            cookie = value.strip().decode("latin-1")
    session_id = cookie_value(cookie, server.cookie_name)
    if session_id and server.sessions.get(session_id) is not None:
        return "valid"
    if auth is None:
        return None
    given = auth[7:] if auth[:7] == b"Bearer " else b""
    return "valid" if hmac.compare_digest(given, server.token.encode("utf-8")) else "wrong"


class Triage(threading.Thread):
    """Reads the heads of connections that found no slot (see above)."""

    def __init__(self, server, clock=time.monotonic):
        super(Triage, self).__init__(name="http-triage")
        self.daemon = True
        self.server = server
        self.clock = clock
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._new = []
        self._lock = threading.Lock()
        self._closed = False
        self.pending = 0

    def add(self, sock, address):
        """From the accept loop: never blocks."""
        with self._lock:
            if self._closed or self.pending >= MAX_PENDING:
                self.server.refuse(sock, self.server.busy_answer)
                return
            self.pending += 1
            self._new.append((sock, address))
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def close(self):
        with self._lock:
            self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def run(self):
        try:
            while not self._closed:
                self._take_new()
                now = self.clock()
                for key, _ in self.selector.select(0.2):
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._read(key.fileobj, key.data)
                for key in list(self.selector.get_map().values()):
                    if key.data is not None and key.data[2] < now:
                        self._done(key.fileobj)  # too slow: closed, nothing said
        finally:
            for key in list(self.selector.get_map().values()):
                if key.data is not None:
                    self._done(key.fileobj)
            self.selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _take_new(self):
        with self._lock:
            new, self._new = self._new, []
        deadline = self.clock() + HEAD_TIMEOUT
        for sock, address in new:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, [bytearray(), address, deadline])

    def _drain_wake(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _read(self, sock, data):
        try:
            chunk = sock.recv(MAX_HEAD)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._done(sock)
            return
        data[0] += chunk
        end = data[0].find(b"\r\n\r\n")
        if end < 0 and len(data[0]) < MAX_HEAD:
            return
        self._decide(sock, bytes(data[0]), data[1], end)

    def _decide(self, sock, received, address, end):
        self.selector.unregister(sock)
        with self._lock:
            self.pending -= 1
        kind = credential(received[:end], self.server) if end >= 0 else None
        if kind == "valid" and self.server.slots.take_reserved():
            sock.setblocking(True)
            self.server.serve_reserved(sock, address, received)
            return
        answer = self.server.busy_answer
        if kind == "wrong":
            wait = self.server.lockout.failed(client_key(address[0]))
            if wait:
                answer = self.server.too_many_answer(wait)
        self.server.refuse(sock, answer)

    def _done(self, sock):
        self.selector.unregister(sock)
        with self._lock:
            self.pending -= 1
        self.server.shutdown_request(sock)
