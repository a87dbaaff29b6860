"""No anonymous door (issue 28): with no token configured, http_server.py
makes one in a file only its account can read and prints a one-time
sign-in link; another local account gets 401 from everything that reads
or restores, and only POST /trigger of the default task stays open."""

import http.client
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import unittest

from task_runner.fs import private_folder
from task_runner.errors import ConfigError
from task_runner.http import tokenfile
from tests.helpers import NOBODY, ROOT, TempDirTestCase, as_nobody

LINK = re.compile(r"Sign in to the status page \(once, within 15 minutes\): (http://127\.0\.0\.1:\d+/signin\?code=(\S+))")


def ask(port, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Set-Cookie")
    finally:
        conn.close()


def what_another_account_gets(port, token_file, snapshot):
    """As nobody: the token file cannot be read; each request's answer."""
    try:
        open(token_file).close()
        readable = True
    except PermissionError:
        readable = False
    answers = {}

    def one(method, path):
        answers[method + " " + path] = ask(port, method, path)
    # At once: each refusal is answered after the lockout's 1 s delay.
    threads = [threading.Thread(target=one, args=pair) for pair in [
        ("GET", "/status"), ("GET", "/runs"), ("GET", "/runs/1"), ("GET", "/snapshots/T"), ("GET", "/metrics"),
        ("GET", "/files/T/%s?path=" % snapshot), ("GET", "/download/T/%s?path=secret.txt" % snapshot),
        ("POST", "/restore/T"), ("GET", "/restores/1"), ("POST", "/trigger/T"), ("POST", "/logout"),
        ("GET", "/signin?code=guess"), ("GET", "/session"), ("POST", "/trigger")]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return readable, answers


@unittest.skipIf(os.name == "nt", "signals and accounts: the Windows lane checks the ACL (icacls) instead")
class NoTokenProgramTest(TempDirTestCase):
    def start_server(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cfg = self.make_config(http={"port": port})
        env = dict(os.environ)
        env.pop("TASK_RUNNER_TOKEN", None)
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "http_server.py"), "--config", cfg.path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.communicate()))
        line = proc.stdout.readline()  # printed once it listens
        match = LINK.search(line)
        self.assertIsNotNone(match, line + (proc.stderr.read() if proc.poll() is not None else ""))
        return cfg, port, proc, match.group(1), match.group(2)

    def test_a_token_file_of_its_own_and_a_one_time_link(self):
        self.write("src/secret.txt", "only root may read this")
        os.chmod(self.path("src", "secret.txt"), 0o600)
        cfg, port, proc, link, code = self.start_server()
        token_file = self.path("http_token.txt")
        st = os.stat(token_file)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, os.geteuid()))
        with open(token_file) as f:
            token = f.read().strip()
        self.assertGreaterEqual(len(token), 40)
        auth = {"Authorization": "Bearer " + token}
        status, body, _ = ask(port, "POST", "/trigger/T?wait=20", auth)
        self.assertEqual((status, json.loads(body.decode())["status"]), (200, "success"), body)
        snapshot = json.loads(ask(port, "GET", "/snapshots/T", auth)[1].decode())["snapshots"][0]["name"]
        self.assertEqual(ask(port, "GET", "/download/T/%s?path=secret.txt" % snapshot, auth)[:2],
                         (200, b"only root may read this"))
        # The link signs a browser in once; then it opens nothing.
        status, _, cookie = ask(port, "GET", link[link.index("/signin"):])
        self.assertEqual(status, 303)
        self.assertTrue(cookie.startswith("task_runner_session_%d=" % port), cookie)
        self.assertEqual(ask(port, "GET", "/signin?code=" + code)[::2], (303, None))  # to the page, no cookie
        # status says where the token is.
        out = subprocess.check_output([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "status",
                                       "--config", cfg.path], universal_newlines=True)
        self.assertIn("its token is in %s" % token_file, out)
        if os.geteuid() != 0:
            self.skipTest("another account's view needs root to become the user nobody (CI runs as root)")
        result = as_nobody(what_another_account_gets, port, token_file, snapshot)
        self.assertEqual(result[0], "ok", result[1])
        readable, answers = result[1]
        self.assertFalse(readable)
        session_status, session_body, session_cookie = answers.pop("GET /session")
        self.assertEqual((session_status, json.loads(session_body.decode()), session_cookie),
                         (200, {"signed_in": False, "token_required": True}, None))
        trigger = answers.pop("POST /trigger")
        self.assertEqual((trigger[0], json.loads(trigger[1].decode())), (202, {"status": "accepted"}))
        self.assertEqual(len(answers), 12)
        for name, (status, body, cookie) in answers.items():  # 429: the 10 failures locked the client out
            self.assertIn(status, (303, 429) if "signin" in name else (401, 429), name)  # 303: to the page
            self.assertNotIn(b"secret", body)
            self.assertIsNone(cookie)
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        with open(self.path("scheduled_task_runner.log"), encoding="utf-8") as f:
            log = f.read()
        self.assertIn("the token is in %s" % token_file, log)
        for secret in (token, code):
            self.assertNotIn(secret, log + err)


class TokenFileTest(TempDirTestCase):
    def test_made_once_then_read(self):
        path = self.path("http_token.txt")
        token, created = tokenfile.load_or_create(path, 20)
        self.assertTrue(created)
        self.assertEqual(tokenfile.load_or_create(path, 20), (token, False))
        if os.name != "nt":
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_the_windows_acl_is_this_account_alone(self):
        calls = []
        tokenfile.owner_only(None, "C:\\cfg\\http_token.txt", windows=True,
                             run=lambda args, **kw: calls.append(args) or 0)
        self.assertEqual(calls, [["icacls", "C:\\cfg\\http_token.txt", "/inheritance:r", "/grant:r",
                                  private_folder.account() + ":F", "/Q"]])
        with self.assertRaisesRegex(ConfigError, "icacls exited with code 5"):
            tokenfile.owner_only(None, "x", windows=True, run=lambda args, **kw: 5)

    @unittest.skipIf(os.name == "nt", "POSIX modes, owners and links")
    def test_a_file_others_could_know_is_refused(self):
        path = self.path("http_token.txt")
        self.write("http_token.txt", "x" * 43)
        os.chmod(path, 0o644)
        with self.assertRaisesRegex(ConfigError, r"can be read by other accounts \(mode 0644\).*delete it"):
            tokenfile.load_or_create(path, 20)
        os.chmod(path, 0o600)
        self.assertEqual(tokenfile.load_or_create(path, 20), ("x" * 43, False))
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
            with self.assertRaisesRegex(ConfigError, "belongs to another account"):
                tokenfile.load_or_create(path, 20)
        if os.geteuid() == 0:
            os.chown(path, 0, 0)
        os.link(path, self.path("another name"))
        with self.assertRaisesRegex(ConfigError, "has other names"):
            tokenfile.load_or_create(path, 20)
        os.remove(self.path("another name"))
        os.remove(path)
        os.symlink(self.path("elsewhere"), path)  # another account's link: never followed, never made
        with self.assertRaisesRegex(ConfigError, "cannot (read|create) the token file"):
            tokenfile.load_or_create(path, 20)
        self.assertFalse(os.path.exists(self.path("elsewhere")))
        os.remove(path)
        self.write("http_token.txt", "short")
        os.chmod(path, 0o600)
        with self.assertRaisesRegex(ConfigError, "does not hold a token of 20 or more"):
            tokenfile.load_or_create(path, 20)


if __name__ == "__main__":
    unittest.main()
