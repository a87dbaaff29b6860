"""A flood of wrong tokens for the tests (not a test module): keeps N
connections to 127.0.0.1:PORT open at once, each sending a request with a
wrong token and opening again as soon as it is answered, until SECONDS
have passed; then prints the count of each answer's status
(and "error") as JSON. STALLED of the N send only the start of a request
and wait for the server to close them (then open again).

    python3 tests/flooder.py PORT N SECONDS [STALLED]
"""

import json
import selectors
import socket
import sys
import time

REQUEST = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong-guess\r\n\r\n"
STALL = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def main(port, count, seconds, stalled=0):
    sel = selectors.DefaultSelector()
    counts = {}

    def start(request):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, [b"", request])

    def done(s, data):
        status = data[0][:12].split(b" ")[1:2]
        key = status[0].decode("ascii", "replace") if status else "error"
        key = ("stalled " if data[1] is STALL else "") + key
        counts[key] = counts.get(key, 0) + 1
        sel.unregister(s)
        s.close()
        start(data[1])

    for i in range(count):
        start(STALL if i < stalled else REQUEST)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, events in sel.select(0.1):
            s, got = key.fileobj, key.data
            try:
                if events & selectors.EVENT_WRITE:
                    s.send(got[1])
                    sel.modify(s, selectors.EVENT_READ, got)
                    continue
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                done(s, got)
                continue
            if chunk:
                got[0] += chunk
            else:
                done(s, got)
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int((sys.argv[4:] or [0])[0]))
