"""What an HTTP remote costs on the wire, for bench/offsite.py: bytes
through a counting TCP proxy between rclone and the server (both
directions, headers and TLS-free bodies as they pass), and requests as
rclone makes them (``RCLONE_DUMP=headers``: one "HTTP REQUEST" line in
its log a request, retries included). Standard library only; the proxy
listens on 127.0.0.1 and stops with ``close``."""

import logging
import socket
import threading


class CountingProxy(object):
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target``; ``sent`` (to
    the server) and ``received`` (from it) count bytes."""

    def __init__(self, target):
        self.target = target
        self.sent = self.received = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        thread = threading.Thread(target=self._accept)
        thread.daemon = True
        thread.start()

    def total(self):
        with self._lock:
            return self.sent + self.received

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self.target))
            for a, b, up in ((client, server, True), (server, client, False)):
                thread = threading.Thread(target=self._pump, args=(a, b, up))
                thread.daemon = True
                thread.start()

    def _pump(self, a, b, up):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
                with self._lock:
                    if up:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self._listener.close()


class RequestCounter(logging.Handler):
    """Counts rclone's "HTTP REQUEST" lines as Rclone.run logs them (at
    DEBUG); attach to the logger given to rclone.Rclone."""

    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.count = 0

    def emit(self, record):
        if "HTTP REQUEST" in record.getMessage():
            self.count += 1


def counting_logger(name="bench.wire"):
    """(a logger that only counts, its RequestCounter)."""
    log = logging.getLogger(name)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    counter = RequestCounter()
    log.handlers = [counter]
    return log, counter
