"""HTTP clients that misbehave get a clear answer and never a traceback,
an escape sequence or a token in the log (real sockets on 127.0.0.1)."""

import logging
import os
import socket
import subprocess
import sys
import time
import unittest

from tests.helpers import ROOT
from tests.test_http import HttpTestCase, TOKEN


class LogCapture(logging.Handler):
    def __init__(self):
        super(LogCapture, self).__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def text(self, level=logging.DEBUG):
        return "\n".join(r.getMessage() for r in self.records if r.levelno >= level)


class AbuseTest(HttpTestCase):
    def setUp(self):
        super(AbuseTest, self).setUp()
        self.log = LogCapture()
        logger = logging.getLogger("task_runner.http.transport")
        logger.addHandler(self.log)
        old_level = logger.level
        logger.setLevel(logging.DEBUG)
        self.addCleanup(logger.setLevel, old_level)
        self.addCleanup(logger.removeHandler, self.log)

    def wait_logged(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.text():
                return
            time.sleep(0.02)
        self.fail("not logged: %r in\n%s" % (text, self.log.text()))

    def test_control_characters_never_reach_the_log(self):
        status = self.raw(b"GET /x\x1b]0;PWNED\x07\x1b[2J HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(status, b"HTTP/1.1 404 Not Found")
        self.wait_logged("/x\\x1b]0;PWNED\\x07\\x1b[2J 404")
        for record in self.log.records:
            self.assertNotIn("\x1b", record.getMessage())
            self.assertNotIn("\x07", record.getMessage())

    def test_a_client_that_goes_away_is_one_debug_line(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"GET /status?wait=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                      + TOKEN.encode() + b"\r\n\r\n")
        time.sleep(0.5)
        self.assert_healthy()
        self.assertEqual(self.log.text(logging.WARNING), "")
        self.assertNotIn("Traceback", self.log.text())

    def test_odd_requests_get_the_documented_status(self):
        cases = [
            (b"POST /trigger HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
             b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n" % TOKEN.encode() + b"[" * 4000,
             b"HTTP/1.1 400 Bad Request"),
            (b"FOO /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed"),
            (b"TRACE /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed"),
            (b"FOO /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"HTTP/1.1 404 Not Found"),
            (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
            (b"GET http://evil.example/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        ]
        for request, expected in cases:
            with self.subTest(request[:30]):
                self.assertEqual(self.raw(request), expected)
        self.assertNotIn("Traceback", self.log.text())
        self.assertEqual(self.log.text(logging.ERROR), "")

    def test_the_token_is_never_logged_in_any_spelling(self):
        quoted = "".join("%%%02X" % ord(c) for c in TOKEN)
        for path in ("/status?key=" + TOKEN, "/status?tok%65n=" + TOKEN, "/runs/" + TOKEN,
                     "/runs/" + quoted, "/status?x=" + quoted):
            with self.subTest(path):
                self.request("GET", path)
        # The token as the method (curl -X "$TOKEN" -H "Authorization: Bearer $TOKEN"), issue 20.
        self.assertEqual(self.raw(b"%s /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
                                  % (TOKEN.encode(), TOKEN.encode())), b"HTTP/1.1 405 Method Not Allowed")
        self.assertEqual(self.raw(b"GET /health HTTP/%s\r\nHost: 127.0.0.1\r\n\r\n" % TOKEN.encode()),
                         b"HTTP/1.1 400 Bad Request")
        self.wait_logged("*** /health 405")
        self.wait_logged("400")
        text = self.log.text()
        self.assertNotIn(TOKEN, text)
        self.assertNotIn(quoted, text)
        self.assertIn("GET /status?... 200", text)
        self.assertIn("GET /runs/*** 404", text)

    def test_health_is_logged_at_debug(self):
        self.request("GET", "/health", token=False)
        self.request("GET", "/status")
        time.sleep(0.2)
        info = self.log.text(logging.INFO)
        self.assertNotIn("/health", info)
        self.assertIn("GET /status 200", info)

    def test_a_signed_in_pages_reads_are_debug_its_actions_info(self):
        from tests.test_http_page import Browser
        page = Browser(self)
        page.login()
        page.send("GET", "/status")
        page.send("GET", "/runs/1")
        page.send("POST", "/trigger/T", origin=True)
        self.request("GET", "/runs/1")  # a script's read stays INFO
        time.sleep(0.2)
        info, everything = self.log.text(logging.INFO), self.log.text()
        self.assertIn("GET /status 200", everything)
        self.assertNotIn("GET /status", info)
        self.assertIn("POST /login 200", info)
        self.assertIn("POST /trigger/T 202", info)
        self.assertEqual(info.count("GET /runs/1 200"), 1)


class IdleConnectionsTest(HttpTestCase):
    max_connections = 8

    def test_idle_connections_are_closed_after_the_first_byte_timeout(self):
        idle = [socket.create_connection(("127.0.0.1", self.port), timeout=10) for _ in range(8)]
        try:
            time.sleep(0.3)
            status, body, _ = self.request("GET", "/health", token=False)
            self.assertEqual(status, 503)  # every slot is held, for now
            time.sleep(2.5)  # past the 2 s first-byte timeout
            self.assert_healthy()
            for s in idle:
                self.assertEqual(s.recv(10), b"")  # closed by the server
        finally:
            for s in idle:
                s.close()


class BusyAnswerTest(HttpTestCase):
    max_connections = 1

    def test_the_503_has_the_security_headers_of_every_answer(self):
        # Issue 20: the answer when every slot is busy lacked them.
        from task_runner.http.transport import SECURITY_HEADERS
        with socket.create_connection(("127.0.0.1", self.port), timeout=10):
            time.sleep(0.3)  # the one slot is held
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # no credential: no reserved slot
                answer = self._read_all(s).decode("latin-1")
        head, _, body = answer.partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 503 "), head)
        for name, value in SECURITY_HEADERS:
            self.assertIn("\r\n%s: %s" % (name, value), head)
        self.assertIn("Retry-After: 1", head)
        self.assertIn("Content-Length: %d" % len(body), head)


class WeakTokenTest(HttpTestCase):
    def test_a_short_token_is_refused_at_start_up(self):
        self.make_config(http={"port": 1, "token": "short-token"})
        env = dict(os.environ)
        env.pop("TASK_RUNNER_TOKEN", None)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "http_server.py"), "--config",
                               self.path("config.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, timeout=60)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("the token (http.token) has 11 characters; a token needs at least 20 so that it "
                      "cannot be guessed: run \"http_server.py --new-token\" and use what it prints", proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)


if __name__ == "__main__":
    unittest.main()
