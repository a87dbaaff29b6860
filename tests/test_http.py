"""The HTTP trigger on real sockets on 127.0.0.1."""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

from task_runner.runs import locks, runner
from task_runner import snapshots
from task_runner.config.watch import ConfigWatcher
from task_runner.history import History
from task_runner.http.api import App, Server
from task_runner.http.auth import Lockout
from task_runner.http.sessions import SessionStore
from tests.helpers import ROOT, TempDirTestCase, slow_file

TOKEN = "s3cret-token"


class Gate(object):
    """A begin function whose runs wait for ``open`` before copying."""

    def __init__(self):
        self.open = threading.Event()

    def __call__(self, *args, **kw):
        started = runner.begin_run(*args, **kw)
        if isinstance(started, runner.StartedRun):
            real = started.execute

            def execute(**kwargs):
                self.open.wait(30)
                return real(**kwargs)
            started.execute = execute
        return started


def serve(test, app, stop, gate=None, **kw):
    """A Server of ``app`` on a free port of 127.0.0.1, served in a thread
    until ``test`` ends; then runs are stopped (``stop``, ``gate`` opened)
    and the app's jobs joined. ``kw``: Server's keywords."""
    server = Server(("127.0.0.1", 0), app, **kw)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()

    def shutdown():
        stop.set()
        if gate is not None:
            gate.open.set()
        server.shutdown()
        server.server_close()
        for job in app.jobs:
            job.join(10)
    test.addCleanup(shutdown)
    return server


class HttpTestCase(TempDirTestCase):
    token = TOKEN
    fail_delay = 0.0  # how long a failed attempt waits for its answer (1 s in the program)
    max_connections = 32
    request_timeout = 10.0
    open_trigger = False  # POST /trigger without a credential (http_server.py with no token configured)
    extra_tasks = []

    def setUp(self):
        super(HttpTestCase, self).setUp()
        self.config = self.make_config(tasks=[
            {"name": "T", "src": "src", "dest": "dest", "default": True},
            {"name": "Other task", "src": "src2", "dest": "dest2"}] + self.extra_tasks)
        self.write("src/a.txt", "hello")
        self.stop = threading.Event()
        self.gate = Gate()
        self.gate.open.set()
        self.app = App(ConfigWatcher(self.config), self.stop, begin=self.gate)
        # The browser sessions' clock: tests age a session by moving it.
        self.session_now = 1e9
        self.sessions = SessionStore(clock=lambda: self.session_now)
        self.server = serve(self, self.app, self.stop, self.gate, token=self.token, sessions=self.sessions,
                            max_connections=self.max_connections, request_timeout=self.request_timeout,
                            lockout=Lockout(delay=self.fail_delay), open_trigger=self.open_trigger)
        self.port = self.server.server_address[1]

    def request(self, method, path, body=None, headers=None, token=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        hdrs = dict(headers or {})
        if token and self.token:
            hdrs.setdefault("Authorization", "Bearer " + self.token)
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.assertEqual(resp.getheader("Content-Type"), "application/json; charset=utf-8")
        self.assertEqual(resp.getheader("Cache-Control"), "no-store")
        self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff")
        self.assertIsNone(resp.getheader("Access-Control-Allow-Origin"))
        self.assertEqual(int(resp.getheader("Content-Length")), len(data))
        return resp.status, json.loads(data.decode("utf-8")), resp

    def raw(self, data, read=True, timeout=5):
        """Send raw bytes; return the status line (or b'' when closed)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            if not read:
                return b""
            return self._read_all(s).split(b"\r\n", 1)[0]

    @staticmethod
    def _read_all(s):
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def assert_healthy(self, within=1.0):
        start = time.monotonic()
        status, body, _ = self.request("GET", "/health", token=False)
        self.assertEqual((status, body), (200, {"status": "ok"}))
        self.assertLess(time.monotonic() - start, within)


class EndpointTest(HttpTestCase):
    def test_trigger_then_run_record(self):
        status, body, resp = self.request("POST", "/trigger")
        self.assertEqual(status, 202)
        self.assertEqual(body["status"], "accepted")
        self.assertEqual(body["tasks"], ["T"])
        self.assertEqual(resp.getheader("Location"), "/runs/%s" % body["run_id"])
        self.assertEqual(body["status_url"], resp.getheader("Location"))
        for job in self.app.jobs:
            job.join(10)
        status, record, _ = self.request("GET", body["status_url"])
        self.assertEqual((status, record["status"], record["trigger"]), (200, "success", "http"))
        self.assertEqual(self.request("GET", "/runs/999")[0], 404)
        self.assertEqual(self.request("GET", "/runs/abc")[0], 404)

    def test_trigger_named_task_and_wait(self):
        status, record, _ = self.request("POST", "/trigger/Other%20task?wait=10")
        self.assertEqual((status, record["task"], record["status"]), (200, "Other task", "success"))
        status, body, _ = self.request("POST", "/trigger/nope")
        self.assertEqual((status, body["error"]), (404, "unknown_task"))
        # The command line's rule (config.find_task): a name that differs in case alone.
        status, record, _ = self.request("POST", "/trigger/OTHER%20TASK?wait=10")
        self.assertEqual((status, record["task"]), (200, "Other task"))
        self.assertEqual(self.request("GET", "/snapshots/other%20task")[0], 200)
        self.assertEqual(self.request("POST", "/trigger?wait=abc")[0], 400)
        self.assertEqual(self.request("POST", "/trigger?wait=-1")[0], 400)

    def test_status(self):
        status, body, _ = self.request("GET", "/status")
        self.assertEqual(status, 200)
        self.assertEqual([t["name"] for t in body["tasks"]], ["T", "Other task"])
        self.assertEqual(body["tasks"][0]["running"], False)
        self.assertIn("schedule", body["tasks"][0])

    def test_snapshots_of_a_task(self):
        status, body, _ = self.request("POST", "/trigger?wait=10")
        self.assertEqual(status, 200)
        status, body, _ = self.request("GET", "/snapshots/T")
        self.assertEqual(status, 200)
        (item,) = body["snapshots"]
        self.assertEqual((item["task"], item["format"], item["status"], item["files"], item["partial"]),
                         ("T", "folder", "success", 1, False))
        self.assertEqual(self.request("GET", "/snapshots/Other%20task")[1], {"snapshots": []})
        self.assertEqual(self.request("GET", "/snapshots/nope")[0], 404)
        self.assertEqual(self.request("GET", "/snapshots/T", token=False)[0], 401)

    def test_methods_and_paths(self):
        status, body, resp = self.request("GET", "/trigger")
        self.assertEqual((status, resp.getheader("Allow")), (405, "POST"))
        status, body, resp = self.request("POST", "/health", token=False)
        self.assertEqual((status, resp.getheader("Allow")), (405, "GET"))
        self.assertEqual(self.request("GET", "/nope")[0], 404)
        self.assertEqual(self.request("DELETE", "/runs/1")[0], 405)

    def test_auth(self):
        for value in (None, "", "Bearer", "Bearer wrong", "Bearer " + TOKEN + "x", "Basic " + TOKEN,
                      "Bearer \u00e9\u00e8", "Bearer \xff\xfe"):
            with self.subTest(value=value):
                headers = {} if value is None else {"Authorization": value.encode("latin-1")}
                self.server.lockout.clear()
                status, body, resp = self.request("POST", "/trigger", headers=headers, token=False)
                self.assertEqual((status, body["error"]), (401, "unauthorized"))
                self.assertEqual(resp.getheader("WWW-Authenticate"), "Bearer")
                self.assertEqual(body["message"], "the token is wrong" if value else
                                 "send the header Authorization: Bearer <token>")  # the status code is the same
                self.assertEqual(resp.getheader("Server"), "TaskRunner")
        self.server.lockout.clear()
        status = self.request("GET", "/status?token=" + TOKEN, token=False)[0]
        self.assertEqual(status, 401)  # a token in the query string is not accepted
        self.assertEqual(self.request("GET", "/health", token=False)[0], 200)

    def test_rate_limit(self):
        for _ in range(9):
            self.assertEqual(self.request("GET", "/status", headers={"Authorization": "Bearer x"})[0], 401)
        status, body, resp = self.request("GET", "/status", headers={"Authorization": "Bearer x"})
        self.assertEqual(status, 429)  # the tenth wrong token locks the address
        self.assertGreaterEqual(int(resp.getheader("Retry-After")), 1)
        self.assert_healthy()
        # While locked, the right token gets in, every time; wrong ones do not.
        for _ in range(3):
            self.assertEqual(self.request("GET", "/status")[0], 200)
            self.assertEqual(self.request("GET", "/status", headers={"Authorization": "Bearer x"})[0], 429)
        self.assertEqual(self.request("GET", "/status", token=False)[0], 429)  # no token is a failure too
        # A minute after the last failures, the client is no longer locked out.
        self.server.lockout.clock = lambda: time.monotonic() + 61
        self.assertEqual(self.request("GET", "/status", headers={"Authorization": "Bearer x"})[0], 401)

    def test_origin_and_host(self):
        self.assertEqual(self.request("POST", "/trigger", headers={"Origin": "https://evil.example"})[0], 403)
        self.assertEqual(self.request("GET", "/health", headers={"Origin": "null"}, token=False)[0], 403)
        for host, expected in (("evil.example", 403), ("evil.example:%d" % self.port, 403),
                               ("localhost:%d" % self.port, 200), ("127.0.0.1", 200), ("[::1]:%d" % self.port, 200)):
            with self.subTest(host=host):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.putrequest("GET", "/health", skip_host=True)
                conn.putheader("Host", host)
                conn.endheaders()
                self.assertEqual(conn.getresponse().status, expected)
                conn.close()

    def test_bodies(self):
        self.assertEqual(self.request("POST", "/trigger?wait=10", body=b"{}",
                                      headers={"Content-Type": "application/json"})[0], 200)
        cases = [
            (b"[1]", {"Content-Type": "application/json"}, 400),
            (b"not json", {}, 400),
            (b'{"a": 1}', {"Content-Type": "text/plain"}, 415),
        ]
        for body, headers, expected in cases:
            with self.subTest(body=body):
                self.assertEqual(self.request("POST", "/trigger", body=body, headers=headers)[0], expected)

    def test_framing_abuse(self):
        auth = "Authorization: Bearer %s\r\n" % TOKEN
        cases = [
            ("POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 10000000000\r\n\r\n" % auth,
             b"HTTP/1.1 413"),
            ("POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
             % auth, b"HTTP/1.1 400"),
            ("POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: -1\r\n\r\n" % auth, b"HTTP/1.1 400"),
            ("POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n%sTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % auth,
             b"HTTP/1.1 400"),
            ("GARBAGE\r\n\r\n", b"HTTP/1.1 400"),
            ("GET /health HTTP/9.9\r\n\r\n", b"HTTP/1.1 505"),
            ("GET\r\n\r\n", b"HTTP/1.1 400"),
            ("\x00\xff\xfe junk\r\n\r\n", b"HTTP/1.1 400"),
        ]
        for request, expected in cases:
            with self.subTest(request=request[:40]):
                self.assertEqual(self.raw(request.encode("latin-1"))[:12], expected)
        self.assert_healthy()

    def test_expect_100_only_after_auth(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer no\r\n"
                      b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 401"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode()
                      + b"\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
            self.assertEqual(s.recv(25), b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(b"{}")
            self.assertTrue(self._read_all(s).startswith(b"HTTP/1.1 202"))


class ConcurrencyTest(HttpTestCase):
    max_connections = 64  # all 50 at once (past the cap they would get 503, tested below)
    def test_fifty_triggers_start_exactly_one_run(self):
        self.gate.open.clear()  # the first run waits until every request is answered
        results = []
        lock = threading.Lock()

        def post():
            r = self.request("POST", "/trigger")
            with lock:
                results.append(r[:2])
        threads = [threading.Thread(target=post) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.gate.open.set()
        for job in self.app.jobs:
            job.join(10)
        codes = sorted(status for status, _ in results)
        self.assertEqual(codes, [202] + [409] * 49)
        accepted = [body for status, body in results if status == 202][0]
        self.assertEqual({body["run_id"] for status, body in results if status == 409}, {accepted["run_id"]})
        self.assertEqual(len(snapshots.list_snapshots(self.path("dest"))), 1)
        self.assertEqual(len(History.for_config(self.config).runs()), 1)

    def test_trigger_while_another_process_runs_the_task(self):
        lock = locks.task_lock(self.config, "T")
        self.assertTrue(lock.acquire(timeout=0))
        try:
            rec = History.for_config(self.config).start_run("T", "manual", "2026-11-27T10:00:00+00:00")
            status, body, _ = self.request("POST", "/trigger")
        finally:
            lock.release()
        self.assertEqual((status, body["error"], body["run_id"]), (409, "already_running", rec["id"]))
        self.assertEqual(body["status_url"], "/runs/%d" % rec["id"])
        self.assert_healthy()


class SlowClientTest(HttpTestCase):
    request_timeout = 2.0

    def test_slowloris_does_not_block_others(self):
        socks = []
        try:
            idle = socket.create_connection(("127.0.0.1", self.port))
            socks.append(idle)
            partial = socket.create_connection(("127.0.0.1", self.port))
            partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(partial)
            short_body = socket.create_connection(("127.0.0.1", self.port))
            short_body.sendall(("POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                                "Content-Length: 100\r\n\r\n{" % TOKEN).encode())
            socks.append(short_body)
            dripping = socket.create_connection(("127.0.0.1", self.port))
            socks.append(dripping)
            start = time.monotonic()
            for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n":
                try:
                    dripping.sendall(bytes([byte]))
                except OSError:
                    break  # the server closed it: the deadline passed
                self.assert_healthy(within=1.0)
                time.sleep(0.25)
                if time.monotonic() - start > 4:
                    break
            # The whole-request deadline (2 s here) closed every slow client.
            for s in socks:
                s.settimeout(3)
                data = self._read_all(s)
                self.assertNotIn(b"200 OK", data)
            self.assertLess(time.monotonic() - start, 8)
            self.assert_healthy()
        finally:
            for s in socks:
                s.close()


class ConnectionCapTest(HttpTestCase):
    max_connections = 2
    request_timeout = 3.0

    def test_over_the_cap_gets_503(self):
        a = socket.create_connection(("127.0.0.1", self.port))
        b = socket.create_connection(("127.0.0.1", self.port))
        try:
            time.sleep(0.2)
            status, body, resp = self.request("GET", "/health", token=False)
            self.assertEqual((status, body["error"], resp.getheader("Retry-After")), (503, "busy", "1"))
        finally:
            a.close()
            b.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").startswith(b"HTTP/1.1 200"):
                break
            time.sleep(0.1)
        else:
            self.fail("slots were not given back")


class NoTokenTest(HttpTestCase):
    """No token configured: the server's own token (no one knows it here);
    only POST /trigger of the default task is open, and names nothing."""
    token = None
    open_trigger = True

    def test_only_the_default_trigger_is_open_and_its_answer_names_nothing(self):
        now = [1000.0]
        self.server.anonymous_starts.clock = lambda: now[0]
        status, body, _ = self.request("POST", "/trigger?wait=10", token=False)
        self.assertEqual((status, body), (200, {"status": "success"}))
        # One start in 10 minutes: starts in a row cannot push snapshots out of "keep".
        status, body, resp = self.request("POST", "/trigger", token=False)
        self.assertEqual((status, body["error"], resp.getheader("Retry-After")), (429, "too_many_requests", "600"))
        token = {"Authorization": "Bearer " + self.server.token}
        self.assertEqual(self.request("POST", "/trigger?wait=10", headers=token)[0], 200)  # the token is not limited
        now[0] += 600
        self.gate.open.clear()
        self.assertEqual(self.request("POST", "/trigger", token=False)[:2], (202, {"status": "accepted"}))
        now[0] += 600
        status, body, _ = self.request("POST", "/trigger", token=False)
        self.assertEqual((status, body), (409, {"error": "already_running", "message": "a backup is already running"}))
        self.assertEqual(self.request("POST", "/trigger", token=False)[0], 409)  # not 429: a 409 used up no start
        self.gate.open.set()
        for method, path in (("POST", "/trigger/T"), ("GET", "/status"), ("GET", "/runs")):
            with self.subTest(path=path):
                self.assertEqual(self.request(method, path, token=False)[0], 401)
        # A wrong credential is a failure, not an anonymous trigger.
        self.assertEqual(self.request("POST", "/trigger", headers={"Authorization": "Bearer x"})[0], 401)

    def test_no_default_task_names_none(self):
        self.app.watcher = ConfigWatcher(self.make_config(tasks=[{"name": "Secret", "src": "src", "dest": "d"}]))
        status, body, _ = self.request("POST", "/trigger", token=False)
        self.assertEqual((status, body["error"]), (404, "no_default_task"))
        self.assertNotIn("Secret", json.dumps(body))


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class ProgramTest(TempDirTestCase):
    def test_https_and_a_stalled_handshake(self):
        port = self.free_port()
        self.cfg = self.make_config(http={"port": port, "tls_cert": os.path.join(DATA, "tls_cert.pem"),
                                          "tls_key": os.path.join(DATA, "tls_key.pem")})
        proc = self.start()
        self.wait_listening(port, proc)
        stalled = socket.create_connection(("127.0.0.1", port))  # never sends a ClientHello
        try:
            ctx = ssl.create_default_context(cafile=os.path.join(DATA, "tls_cert.pem"))
            start = time.monotonic()
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            self.assertEqual((resp.status, json.loads(resp.read().decode())), (200, {"status": "ok"}))
            conn.close()
            self.assertLess(time.monotonic() - start, 1.0)  # handshakes happen off the accept loop
        finally:
            stalled.close()
            proc.kill()
            proc.communicate()


    @unittest.skipIf(os.name == "nt", "SIGTERM cannot be sent to a console process on Windows")
    def test_sigterm_interrupts_a_running_backup_cleanly(self):
        port = self.free_port()
        self.cfg = self.make_config(http={"port": port})
        slow_file(self.path("src", "big.bin"), 8 * 1024 ** 3)
        proc = self.start()
        self.wait_listening(port, proc)
        with open(self.path("http_token.txt")) as f:  # as a user would: the token the server made
            token = f.read().strip()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/trigger", headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 202)
        run_id = json.loads(resp.read().decode())["run_id"]
        conn.close()
        deadline = time.time() + 20
        while not (os.path.isdir(self.path("dest"))
                   and any(n.endswith(".partial") for n in os.listdir(self.path("dest")))):
            self.assertLess(time.time(), deadline, "the copy never started")
            time.sleep(0.02)
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        self.assertLess(time.time() - started, 2.0)
        self.assertEqual(proc.returncode, 0)
        record = History.for_config(self.cfg).get(run_id)
        self.assertEqual(record["status"], "interrupted")
        self.assertEqual(os.listdir(self.path("dest")), [])

    def start(self, *args, **kw):
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "http_server.py"), "--config", self.cfg.path]
                                + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, **kw)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def free_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def wait_listening(self, port, proc):
        deadline = time.time() + 20
        while time.time() < deadline:
            if proc.poll() is not None:
                self.fail("server exited: %s" % proc.stderr.read())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.fail("server did not start")

    def test_refuses_public_bind_without_token(self):
        self.cfg = self.make_config()
        env = dict(os.environ)
        env.pop("TASK_RUNNER_TOKEN", None)
        proc = self.start("--host", "0.0.0.0", "--port", str(self.free_port()), env=env)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--host is 0.0.0.0, which other machines can reach, but no token is set", err)
        self.assertNotIn("problem in", err)  # the command line's value, not config.json's
        self.assertIn("--new-token", err)
        self.assertNotIn("Traceback", err)

    def test_new_token(self):
        self.cfg = self.make_config()
        proc = self.start("--new-token")
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0)
        self.assertRegex(out.strip(), r"^[A-Za-z0-9_-]{40,}$")

    @unittest.skipIf(os.name == "nt", "SIGTERM cannot be sent to a console process on Windows")
    def test_serves_stops_on_sigterm_and_never_logs_the_token(self):
        port = self.free_port()
        self.cfg = self.make_config(http={"port": port, "token": "from-config-0123456789"})
        self.write("src/a", "1")
        env = dict(os.environ, TASK_RUNNER_TOKEN="env-token-wins-0123456789")
        proc = self.start(env=env)
        self.wait_listening(port, proc)
        second = self.start(env=env)
        out, err = second.communicate(timeout=30)
        self.assertEqual(second.returncode, 4, err)
        self.assertEqual(err, "http_server: http_server.py is already serving port %d for %s: stop that one first\n"
                         % (port, self.cfg.path))  # said once, not again as a log line
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/trigger?wait=10&token=leak",
                     headers={"Authorization": "Bearer env-token-wins-0123456789"})
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read().decode())["status"]), (200, "success"))
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.getheader("Content-Type")), (200, "text/html; charset=utf-8"))
        self.assertIn(b"/page.js", resp.read())
        conn.close()
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        self.assertLess(time.time() - started, 2.0)
        self.assertEqual(proc.returncode, 0, err)
        with open(self.path("scheduled_task_runner.log"), encoding="utf-8") as f:
            log = f.read()
        self.assertIn("listening on http://127.0.0.1:%d" % port, log)
        self.assertIn("the status page: open http://127.0.0.1:%d/ in a browser" % port, log)
        self.assertIn("127.0.0.1 POST /trigger?... 200", log)
        for secret in ("env-token-wins", "from-config", "leak"):
            self.assertNotIn(secret, log + err)


if __name__ == "__main__":
    unittest.main()
