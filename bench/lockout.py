#!/usr/bin/env python3
"""Measure the HTTP lockout against the real http_server.py (issue 20).

    python3 bench/lockout.py [--seconds 10]

Starts http_server.py on a free port of 127.0.0.1 with a token, then:

1. two local loops send wrong tokens (each waits for its answer, then 20 ms)
   for ``--seconds``, while the right client asks GET /status every half
   second: it must get 200 every time, each within 1 s;
2. 200 wrong tokens from 200 loopback addresses (127.0.1.2, 127.0.1.3, ...)
   (20 at a time) must be limited as one client: 401 nine times, then 429.

Prints what it measured and exits 1 when a promise is broken. Standard
library only; the second part needs a system that loops back all of
127.0.0.0/8 (Linux, Windows).
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ask(port, token, source=None):
    """(status, seconds) of GET /status with ``token``."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", "/status", headers={"Authorization": "Bearer " + token})
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.monotonic() - started


def start_server(folder, token):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.makedirs(os.path.join(folder, "src"))
    config = os.path.join(folder, "config.json")
    with open(config, "w") as f:
        json.dump({"tasks": [{"name": "T", "src": "src", "dest": "dest"}], "http": {"port": port}}, f)
    env = dict(os.environ, TASK_RUNNER_TOKEN=token)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "http_server.py"), "--config", config],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("http_server.py did not start listening")


def flood(port, seconds):
    stop = threading.Event()
    answers = []

    def loop():
        while not stop.is_set():
            answers.append(ask(port, "wrong-" + secrets.token_hex(8))[0])
            time.sleep(0.02)
    loops = [threading.Thread(target=loop) for _ in range(2)]
    for t in loops:
        t.start()
    return stop, loops, answers


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    token = secrets.token_urlsafe(32)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        proc, port = start_server(folder, token)
        try:
            stop, loops, answers = flood(port, args.seconds)
            tries = []
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                tries.append(ask(port, token))
                time.sleep(0.5)
            stop.set()
            for t in loops:
                t.join()
            worst = max(s for _, s in tries)
            print("flood: %d wrong tokens answered in %.0f s (%s); the right token: %d tries, %s, slowest %.3f s"
                  % (len(answers), args.seconds, ", ".join("%d x %s" % (answers.count(c), c)
                                                            for c in sorted(set(answers))),
                     len(tries), "all 200" if all(c == 200 for c, _ in tries) else
                     "NOT ALL 200: %s" % [c for c, _ in tries], worst))
            ok = ok and all(c == 200 for c, _ in tries) and worst < 1.0
            proc.kill()
            proc.wait()
            proc, port = start_server(os.path.join(folder, "again"), token)
            started = time.monotonic()
            sources = ["127.0.%d.%d" % (1 + i // 200, 2 + i % 200) for i in range(200)]
            try:
                # 20 at once (fewer than max_connections): each waits its second.
                with concurrent.futures.ThreadPoolExecutor(20) as pool:
                    codes = [c for c, _ in pool.map(lambda source: ask(port, "wrong", source), sources)]
            except OSError as exc:
                print("200 addresses: cannot bind to 127.0.1.x here (%s)" % exc)
            else:
                print("200 addresses: %d x 401, %d x 429 in %.1f s"
                      % (codes.count(401), codes.count(429), time.monotonic() - started))
                ok = ok and (codes.count(401), codes.count(429)) == (9, 191)
        finally:
            proc.kill()
            proc.wait()
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
