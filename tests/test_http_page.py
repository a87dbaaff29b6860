"""The status page and its sign-in, on real sockets on 127.0.0.1: the page's
files and their headers, login, the session cookie, CSRF, Origin, lockout,
logout and idle expiry (the sessions' clock is injected)."""

import http.client
import json
import os
import re
import ssl
import threading
import unittest

from task_runner.http import page
from task_runner.config.watch import ConfigWatcher
from task_runner.http.api import App
from task_runner.http.sessions import IDLE, SessionStore, cookie_value
from tests.helpers import TempDirTestCase
from tests.test_http import TOKEN, HttpTestCase, serve

XSS = "<img src=x onerror=alert(1)>"
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class Browser(object):
    """Requests as the page's script makes them: the session cookie, the
    CSRF header and (when asked) the page's own Origin."""

    def __init__(self, test):
        self.test = test
        self.cookie = None
        self.csrf = None

    def send(self, method, path, body=None, headers=None, origin=False, csrf=True, content_type=None):
        hdrs = {"Host": "127.0.0.1:%d" % self.test.port}
        if self.cookie:
            hdrs["Cookie"] = "%s=%s" % (self.test.server.cookie_name, self.cookie)
        if csrf and self.csrf:
            hdrs["X-CSRF-Token"] = self.csrf
        if origin:
            hdrs["Origin"] = origin if isinstance(origin, str) else "http://127.0.0.1:%d" % self.test.port
        if body is not None:
            if content_type is None:
                body, content_type = json.dumps(body), "application/json"
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.test.port, timeout=10)
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        for name, value in PAGE_HEADERS.items():
            self.test.assertEqual(resp.getheader(name), value, name)
        self.test.assertIsNone(resp.getheader("Access-Control-Allow-Origin"))
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return resp.status, json.loads(data.decode("utf-8")), resp
        return resp.status, data, resp

    def login(self, token=TOKEN, form=False):
        if form:
            status, body, resp = self.send("POST", "/login", "token=" + token, origin=True,
                                           content_type="application/x-www-form-urlencoded")
        else:
            status, body, resp = self.send("POST", "/login", {"token": token}, origin=True)
        if status == 200:
            self.cookie = cookie_value(resp.getheader("Set-Cookie"), self.test.server.cookie_name)
            self.csrf = body["csrf"]
        return status, body, resp


class PageTest(HttpTestCase):
    extra_tasks = [{"name": XSS, "src": "src3", "dest": "dest3"}]

    def setUp(self):
        super(PageTest, self).setUp()
        self.browser = Browser(self)

    def test_the_page_and_its_files_are_served_with_the_security_headers(self):
        for path, ctype in (("/", "text/html; charset=utf-8"), ("/page.css", "text/css; charset=utf-8"),
                            ("/page.js", "text/javascript; charset=utf-8"),
                            ("/files.js", "text/javascript; charset=utf-8"),
                            ("/tasks.js", "text/javascript; charset=utf-8"), ("/favicon.svg", "image/svg+xml")):
            with self.subTest(path):
                status, data, resp = self.browser.send("GET", path)
                self.assertEqual(status, 200)
                self.assertEqual(resp.getheader("Content-Type"), ctype)
                with open(os.path.join(page.WEB, page.ASSETS[path][0]), "rb") as f:
                    self.assertEqual(data, f.read())
        status, data, _ = self.browser.send("GET", "/")
        html = data.decode("utf-8")
        # Everything the page loads comes from this server; no inline script.
        self.assertEqual(sorted(re.findall(r'(?:src|href)="([^"]*)"', html)), ["/favicon.svg", "/files.js", "/page.css",
                                                                                 "/page.js", "/tasks.js"])
        self.assertEqual(re.findall(r"<script(?![^>]*\bsrc=)", html), [])
        self.assertNotIn(" on", re.sub(r"\s+", " ", html).replace(" one", ""))  # no onclick= etc.

    def test_the_script_never_turns_data_into_markup(self):
        for name in ("page.js", "files.js", "tasks.js"):
            with open(os.path.join(page.WEB, name), encoding="utf-8") as f:
                script = f.read()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(",
                         "http://", "https://"):
                self.assertNotIn(sink, script, name)
            self.assertIn("textContent", script)

    def test_the_page_shell_holds_no_data(self):
        # The HTML is the same whoever asks: a task name can only reach the
        # page through the script's textContent.
        status, data, _ = self.browser.send("GET", "/")
        self.assertNotIn(b"img src", data)
        self.assertNotIn(b"Other task", data)
        self.browser.login()
        status, report, _ = self.browser.send("GET", "/status")
        self.assertEqual(status, 200)
        self.assertIn(XSS, [t["name"] for t in report["tasks"]])

    def test_login_sets_a_strict_http_only_cookie(self):
        status, body, _ = self.browser.send("GET", "/session")
        self.assertEqual((status, body), (200, {"signed_in": False, "token_required": True}))
        for form in (False, True):
            with self.subTest(form=form):
                status, body, resp = Browser(self).login(form=form)
                self.assertEqual(status, 200)
                cookie = resp.getheader("Set-Cookie")
                name, _, rest = cookie.partition("=")
                value, _, flags = rest.partition(";")
                self.assertEqual(name, self.server.cookie_name)
                self.assertRegex(value, r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes
                self.assertEqual(sorted(f.strip() for f in flags.split(";")),
                                 ["HttpOnly", "Path=/", "SameSite=Strict"])
                self.assertRegex(body["csrf"], r"^[A-Za-z0-9_-]{43}$")
                self.assertEqual((body["signed_in"], body["token_required"]), (True, True))
        self.browser.login()
        status, body, _ = self.browser.send("GET", "/session")
        self.assertEqual((status, body["signed_in"], body["csrf"]), (200, True, self.browser.csrf))

    def test_a_session_needs_its_csrf_header(self):
        self.browser.login()
        self.assertEqual(self.browser.send("GET", "/status")[0], 200)
        status, body, _ = self.browser.send("GET", "/status", csrf=False)
        self.assertEqual((status, body["error"]), (403, "forbidden"))
        self.assertIn("X-CSRF-Token", body["message"])
        status, body, _ = self.browser.send("POST", "/trigger/T", origin=True,
                                            headers={"X-CSRF-Token": "x" * 43})
        self.assertEqual(status, 403)
        status, body, _ = self.browser.send("POST", "/trigger/T", origin=True)
        self.assertEqual(status, 202)

    def test_origin_rules(self):
        self.browser.login()
        own = "http://127.0.0.1:%d" % self.port
        cases = [
            ("another site", "http://evil.example", True, 403),
            ("another port", "http://127.0.0.1:1", True, 403),
            ("null", "null", True, 403),
            ("https instead of http", own.replace("http", "https"), True, 403),
            ("own origin, no session", own, False, 403),
        ]
        for label, origin, with_session, expected in cases:
            with self.subTest(label):
                b = self.browser if with_session else Browser(self)
                status, body, _ = b.send("POST", "/trigger/Other%20task", origin=origin)
                self.assertEqual(status, expected)
        # A bearer token does not make a page's request acceptable.
        status, _, _ = Browser(self).send("GET", "/status", origin=True,
                                          headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 403)
        # Signing in from another origin is refused too.
        status, _, _ = Browser(self).send("POST", "/login", {"token": TOKEN}, origin="http://evil.example")
        self.assertEqual(status, 403)
        status, _, _ = self.browser.send("GET", "/status", origin=True)
        self.assertEqual(status, 200)

    def test_scripts_with_the_bearer_token_work_as_before(self):
        status, body, _ = self.request("GET", "/status")
        self.assertEqual(status, 200)
        status, body, _ = self.request("GET", "/status", token=False)
        self.assertEqual(status, 401)

    def test_wrong_tokens_at_login_count_towards_the_lockout(self):
        for i in range(9):
            status, body, _ = self.browser.login("wrong-token-%d" % i)
            self.assertEqual((status, body["error"]), (401, "unauthorized"))
        status, body, resp = self.browser.login("wrong-again", form=True)
        self.assertEqual(status, 429)
        self.assertTrue(resp.getheader("Retry-After"))
        # The same lockout as the API's: a wrong bearer token is refused too.
        status, _, _ = self.request("GET", "/status", headers={"Authorization": "Bearer nope"})
        self.assertEqual(status, 429)
        # A missing field is a failed login, not an error.
        status, body, _ = Browser(self).send("POST", "/login", {}, origin=True)
        self.assertEqual(status, 429)
        # A sign-in link now leads a browser to the page, which says to wait (not raw JSON: found from outside).
        status, _, resp = Browser(self).send("GET", "/signin?code=guess")
        self.assertEqual((status, resp.getheader("Location")), (303, "/#locked-out"))
        self.assertTrue(resp.getheader("Retry-After"))
        # The right token still signs in, and the session works.
        status, body, _ = self.browser.login()
        self.assertEqual((status, body["signed_in"]), (200, True))
        self.assertEqual(self.browser.send("GET", "/status")[0], 200)

    def test_a_token_that_is_not_text_is_a_failed_login(self):
        for body in ('{"token": "\\ud800"}', '{"token": 12}', '{"token": null}', '{"token": ["x"]}'):
            with self.subTest(body):
                status, answer, _ = Browser(self).send("POST", "/login", body, origin=True,
                                                       content_type="application/json")
                self.assertEqual((status, answer["error"]), (401, "unauthorized"))

    def test_logout_ends_the_session(self):
        self.browser.login()
        old_cookie, old_csrf = self.browser.cookie, self.browser.csrf
        status, body, resp = self.browser.send("POST", "/logout", origin=True)
        self.assertEqual((status, body), (200, {"signed_in": False}))
        self.assertIn("Max-Age=0", resp.getheader("Set-Cookie"))
        self.assertEqual((self.browser.cookie, self.browser.csrf), (old_cookie, old_csrf))
        status, body, _ = self.browser.send("GET", "/status")
        self.assertEqual((status, body["error"]), (401, "signed_out"))
        status, body, _ = self.browser.send("GET", "/session")
        self.assertEqual(body["signed_in"], False)

    def test_a_session_ends_after_12_hours_idle(self):
        self.browser.login()
        self.session_now += IDLE - 60
        self.assertEqual(self.browser.send("GET", "/status")[0], 200)  # in use: the idle time starts again
        self.session_now += IDLE - 60
        self.assertEqual(self.browser.send("GET", "/status")[0], 200)
        self.session_now += IDLE + 1
        status, body, _ = self.browser.send("GET", "/status")
        self.assertEqual((status, body["error"]), (401, "signed_out"))
        # An ended session is not a failed login: no lockout however often.
        for _ in range(12):
            self.assertEqual(self.browser.send("GET", "/status")[0], 401)
        self.assertEqual(self.request("GET", "/status")[0], 200)

    def test_recent_runs_and_the_progress_of_a_running_one(self):
        self.gate.open.clear()
        status, body, _ = self.request("POST", "/trigger/T")
        self.assertEqual(status, 202)
        status, record, _ = self.request("GET", "/runs/%d" % body["run_id"])
        self.assertEqual(record["status"], "running")
        self.assertEqual(record["progress"], {"files": 0, "bytes": 0, "copied": 0, "linked": 0, "moved": 0})
        self.gate.open.set()
        for job in self.app.jobs:
            job.join(10)
        status, record, _ = self.request("GET", "/runs/%d" % body["run_id"])
        self.assertEqual(record["status"], "success")
        self.assertNotIn("progress", record)
        self.request("POST", "/trigger/Other%20task?wait=10")
        status, listing, _ = self.request("GET", "/runs?limit=20")
        self.assertEqual([r["task"] for r in listing["runs"]], ["Other task", "T"])
        self.assertEqual(len(self.request("GET", "/runs?limit=1")[1]["runs"]), 1)
        for bad in ("0", "501", "x"):
            self.assertEqual(self.request("GET", "/runs?limit=" + bad)[0], 400)


    def test_progress_shows_the_counts_so_far(self):
        class Tally(object):  # what the engine passes: walk.Stats
            files, bytes, copied, linked = 3, 300, 2, 1
        counted = threading.Event()
        gated_begin = self.app._begin

        def begin(*args, **kw):
            started = gated_begin(*args, **kw)
            execute = started.execute

            def execute_after_three_files(**kwargs):
                kwargs["progress"](Tally(), "c.txt")
                counted.set()
                return execute(**kwargs)  # then waits for the gate
            started.execute = execute_after_three_files
            return started
        self.app._begin = begin
        self.gate.open.clear()
        run_id = self.request("POST", "/trigger/T")[1]["run_id"]
        self.assertTrue(counted.wait(10))
        record = self.request("GET", "/runs/%d" % run_id)[1]
        self.assertEqual(record["progress"], {"files": 3, "bytes": 300, "copied": 2, "linked": 1, "moved": 0})


class NoTokenPageTest(HttpTestCase):
    """Without a configured token a browser gets no session for asking:
    it signs in with a one-time link (or the token of the token file), and
    its requests still need the session and the CSRF header."""
    token = None
    open_trigger = True

    def test_a_browser_signs_in_once_with_a_link(self):
        browser = Browser(self)
        status, body, resp = browser.send("GET", "/session")
        self.assertEqual((status, body), (200, {"signed_in": False, "token_required": True}))
        self.assertIsNone(resp.getheader("Set-Cookie"))
        code = self.server.sessions.new_code()
        status, body, resp = browser.send("GET", "/signin?code=" + code)
        self.assertEqual((status, resp.getheader("Location")), (303, "/"))
        browser.cookie = cookie_value(resp.getheader("Set-Cookie"), self.server.cookie_name)
        status, body, _ = browser.send("GET", "/session")
        self.assertEqual((status, body["signed_in"]), (200, True))
        browser.csrf = body["csrf"]
        late = self.server.sessions.new_code()
        self.session_now += 15 * 60 + 1
        # Used, expired or no code: no session; a browser is sent to the page, which says why (a failed login).
        for query in ("?code=" + code, "?code=" + late, "", "?code=%ED%A0%80"):  # (a lone surrogate: no 500)
            with self.subTest(query=query):
                status, _, resp = Browser(self).send("GET", "/signin" + query)
                self.assertEqual((status, resp.getheader("Location"), resp.getheader("Set-Cookie")),
                                 (303, "/#link-used", None))
        self.assertEqual(self.server.lockout.failed_recently("loopback"), 4)
        self.assertEqual(browser.send("POST", "/trigger/T", origin=True)[0], 202)
        self.assertEqual(browser.send("POST", "/trigger/T", origin=True, csrf=False)[0], 403)
        self.assertEqual(Browser(self).send("POST", "/trigger/T", origin=True)[0], 403)
        self.assertEqual(browser.send("POST", "/trigger/T", origin="http://evil.example")[0], 403)
        # A script needs the token: only POST /trigger is open without it.
        self.assertEqual(self.request("GET", "/status")[0], 401)
        self.assertEqual(self.request("GET", "/status", headers={"Authorization": "Bearer " + self.server.token})[0],
                         200)


class TlsCookieTest(TempDirTestCase):
    def test_the_cookie_is_secure_over_tls(self):
        data = os.path.join(os.path.dirname(__file__), "data")
        config = self.make_config()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if hasattr(ssl, "PROTOCOL_TLS_SERVER") \
            else ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
        ctx.load_cert_chain(os.path.join(data, "tls_cert.pem"), os.path.join(data, "tls_key.pem"))
        stop = threading.Event()
        server = serve(self, App(ConfigWatcher(config), stop), stop, token=TOKEN, tls=ctx)
        port = server.server_address[1]
        client = ssl.create_default_context(cafile=os.path.join(data, "tls_cert.pem"))
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=client)
        conn.request("POST", "/login", body=json.dumps({"token": TOKEN}),
                     headers={"Content-Type": "application/json", "Origin": "https://localhost:%d" % port})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertIn("; Secure", resp.getheader("Set-Cookie"))


class SessionStoreTest(unittest.TestCase):
    def test_bounded_least_recently_used_first(self):
        now = [0.0]
        store = SessionStore(clock=lambda: now[0], limit=3)
        ids = [store.create()[0] for _ in range(3)]
        store.get(ids[0])  # used: the oldest unused is ids[1]
        ids.append(store.create()[0])
        self.assertEqual(len(store), 3)
        self.assertIsNone(store.get(ids[1]))
        self.assertIsNotNone(store.get(ids[0]))
        self.assertIsNone(store.get("not-a-session"))

    def test_cookie_value(self):
        for header, expected in ((None, None), ("", None), ("a=1; s=xyz", "xyz"), ("s=", None),
                                 ("ss=1; s=2", "2"), ("s", None)):
            with self.subTest(header):
                self.assertEqual(cookie_value(header, "s"), expected)


if __name__ == "__main__":
    unittest.main()
