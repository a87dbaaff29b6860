"""Notifications, run timeouts, verify, status, start at logon, --once."""

import email
import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest

from task_runner.runs import locks, runner
from task_runner import engine, snapshots
from task_runner.schedule import startup
from task_runner.fs import fileio
from task_runner.config import EmailConfig, NotifyConfig
from task_runner.history import History
from task_runner.runs.notify import Notifier
from task_runner.runs.locks import task_lock
from task_runner.schedule.status import status_report
from task_runner.restore.verify import verify_task
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task, ts

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib (no STARTTLS)."""

    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        data_mode, lines = False, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if data_mode:
                if line == b".\r\n":
                    self.server.messages.append(b"".join(lines))
                    data_mode, lines = False, []
                    self.wfile.write(b"250 queued\r\n")
                else:
                    lines.append(line)
                continue
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                self.wfile.write(b"250 test\r\n")
            elif cmd == b"DATA":
                data_mode = True
                self.wfile.write(b"354 go on\r\n")
            elif cmd == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


class HookHandler(http.server.BaseHTTPRequestHandler):
    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _record

    def log_message(self, *args):
        pass


def serve(server):
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class NotifyTest(TempDirTestCase):
    def setUp(self):
        super(NotifyTest, self).setUp()
        self.smtp = serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler))
        self.smtp.messages = []
        self.hook = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), HookHandler)
                          if hasattr(http.server, "ThreadingHTTPServer")
                          else http.server.HTTPServer(("127.0.0.1", 0), HookHandler))
        self.hook.requests = []
        for server in (self.smtp, self.hook):
            self.addCleanup(server.server_close)
            self.addCleanup(server.shutdown)
        self.base = "http://127.0.0.1:%d" % self.hook.server_address[1]

    def settings(self, **kw):
        values = dict(on="failure", partial_is_failure=False, webhook=self.base + "/hook",
                      ping_url=self.base + "/ping/abc", timeout=5,
                      email=EmailConfig(smtp_host="127.0.0.1", smtp_port=self.smtp.server_address[1],
                                        starttls=False, ssl=False, username=None, password_env=None,
                                        sender="backup@example.com", to=("me@example.com",)))
        values.update(kw)
        return NotifyConfig(**values)

    def run_once(self, settings, src_exists=True):
        config = self.make_config()
        if not src_exists:
            shutil.rmtree(self.path("src"))
        notifier = Notifier(settings, sleep=lambda s: None)
        out = runner.run_task(config, config.tasks[0], "manual", notifier=notifier)
        notifier.flush(20)
        return out

    def test_failure_reaches_every_channel(self):
        out = self.run_once(self.settings(), src_exists=False)
        self.assertEqual(out.status, "failed")
        paths = sorted((m, p) for m, p, _ in self.hook.requests)
        self.assertEqual(paths, [("GET", "/ping/abc/fail"), ("GET", "/ping/abc/start"), ("POST", "/hook")])
        body = [b for m, p, b in self.hook.requests if p == "/hook"][0]
        self.assertEqual(json.loads(body.decode())["status"], "failed")
        msg = email.message_from_bytes(self.smtp.messages[0])
        self.assertEqual(msg["Subject"], "[backup] T failed")
        self.assertEqual(msg["To"], "me@example.com")
        text = msg.get_payload(decode=True).decode()
        self.assertIn('"status": "failed"', text)
        self.assertIn("Last log lines of this run:", text)
        self.assertIn("not found", text)

    @unittest.skipIf(os.name == "nt", "the test CA is given through SSL_CERT_FILE, which OpenSSL reads on POSIX")
    def test_email_over_implicit_tls(self):
        import ssl

        class TLSServer(socketserver.ThreadingTCPServer):
            def get_request(self):
                sock, addr = socketserver.ThreadingTCPServer.get_request(self)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if hasattr(ssl, "PROTOCOL_TLS_SERVER") \
                    else ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
                ctx.load_cert_chain(os.path.join(DATA, "tls_cert.pem"), os.path.join(DATA, "tls_key.pem"))
                return ctx.wrap_socket(sock, server_side=True), addr
        server = serve(TLSServer(("127.0.0.1", 0), SMTPHandler))
        server.messages = []
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        old = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = os.path.join(DATA, "tls_cert.pem")  # trust the test certificate
        self.addCleanup(lambda: os.environ.pop("SSL_CERT_FILE") if old is None
                        else os.environ.__setitem__("SSL_CERT_FILE", old))
        email_settings = self.settings().email._replace(smtp_host="localhost", smtp_port=server.server_address[1],
                                                        ssl=True)
        out = self.run_once(self.settings(webhook=None, ping_url=None, email=email_settings), src_exists=False)
        self.assertEqual(out.status, "failed")
        msg = email.message_from_bytes(server.messages[0])
        self.assertEqual(msg["Subject"], "[backup] T failed")

    def test_success_pings_only_unless_always(self):
        self.run_once(self.settings())
        self.assertEqual(sorted(p for _, p, _ in self.hook.requests), ["/ping/abc", "/ping/abc/start"])
        self.assertEqual(self.smtp.messages, [])
        self.hook.requests[:] = []
        self.run_once(self.settings(on="always", ping_url=None, email=None))
        self.assertEqual([p for _, p, _ in self.hook.requests], ["/hook"])

    def test_partial_is_failure(self):
        from task_runner.runs.notify import is_failure
        self.assertFalse(is_failure({"status": "partial"}))
        self.assertTrue(is_failure({"status": "partial"}, partial_is_failure=True))
        self.assertTrue(is_failure({"status": "skipped"}))
        self.assertTrue(is_failure({"status": "interrupted"}))

    def test_unreachable_does_not_delay_the_backup(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)  # accepts connections, never answers: a timeout
        self.addCleanup(silent.close)
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        closed.close()  # nothing listens: refused at once
        settings = self.settings(timeout=0.5, webhook="http://127.0.0.1:%d/x" % silent.getsockname()[1],
                                 ping_url="http://127.0.0.1:%d/p" % closed_port,
                                 email=self.settings().email._replace(smtp_port=closed_port))
        config = self.make_config()
        shutil.rmtree(self.path("src"))
        notifier = Notifier(settings, sleep=lambda s: None)
        start = time.monotonic()
        with self.assertLogs("task_runner.runs.notify", "WARNING") as logs:
            out = runner.run_task(config, config.tasks[0], "manual", notifier=notifier)
            took = time.monotonic() - start
            notifier.flush(20)
        self.assertEqual(out.status, "failed")
        self.assertLess(took, 0.5)  # the run did not wait for any of it
        self.assertTrue(any("after 3 tries" in line for line in logs.output))

    def test_test_notify_command(self):
        config = self.make_config(notify={"webhook": self.base + "/hook", "email": {
            "smtp_host": "127.0.0.1", "smtp_port": self.smtp.server_address[1], "starttls": False,
            "from": "b@example.com", "to": ["me@example.com"]}})
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", config.path,
                               "--test-notify"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("webhook: sent", proc.stdout)
        self.assertIn("email: sent", proc.stdout)
        self.assertEqual(len(self.smtp.messages), 1)


class HangingOps(fileio.Ops):
    """A source on a hung network share: reads block until released."""

    def __init__(self, responsive):
        self.release = threading.Event()
        self.responsive = responsive

    def read(self, fd, n):
        if self.responsive:
            time.sleep(0.05)  # slow, but it looks at the stop flag between chunks
            return os.read(fd, min(n, 4096))
        self.release.wait(30)
        return os.read(fd, n)

    sendfile = None


class TimeoutTest(TempDirTestCase):
    def setUp(self):
        super(TimeoutTest, self).setUp()
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest",
                                               "timeout_minutes": 0.01}])
        self.write("src/big.bin", b"x" * (1024 * 1024))

    def test_slow_copy_is_stopped_cleanly(self):
        out = runner.run_task(self.config, self.config.tasks[0], "manual", ops=HangingOps(responsive=True))
        self.assertEqual(out.status, "failed")
        self.assertEqual(out.message, "timed out after 0.01 minutes")
        self.assertEqual(os.listdir(self.path("dest")), [])

    def test_hung_copy_is_abandoned_and_does_not_block_later_runs(self):
        ops = HangingOps(responsive=False)
        started = runner.begin_run(self.config, self.config.tasks[0], "manual")
        started_at = time.monotonic()
        runner.ABANDON_AFTER, saved = 0.3, runner.ABANDON_AFTER
        try:
            out = started.execute(ops=ops)
        finally:
            runner.ABANDON_AFTER = saved
        self.assertLess(time.monotonic() - started_at, 5)
        self.assertEqual(out.status, "failed")
        self.assertIn("was abandoned", out.message)
        # The stuck copy still owns the task: a new run says so instead of clashing.
        self.assertEqual(runner.run_task(self.config, self.config.tasks[0], "manual").status,
                         runner.ALREADY_RUNNING)
        ops.release.set()  # the share comes back
        lock = locks.task_lock(self.config, "T")
        self.assertTrue(lock.acquire(timeout=10))
        lock.release()
        self.assertEqual(snapshots.list_snapshots(self.path("dest")), [])  # the abandoned copy was not published
        self.assertEqual(runner.run_task(self.config, self.config.tasks[0], "manual").status, "success")


class VerifyTest(TempDirTestCase):
    def test_many_differences_are_sorted_and_counted(self):
        config = self.make_config()
        self.write("src/keep.txt", "k")
        engine.make_snapshot(config.tasks[0], ts("2026-11-27T10:00:00+00:00"), UTC)
        names = ["n%02d.txt" % i for i in range(25)]
        for name in reversed(names):
            self.write("src/" + name, "new")
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", config.path,
                               "--verify", "T"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertIn("26 entries checked, 25 missing, 0 extra, 0 changed", lines[0])
        self.assertEqual(lines[1:], ["  missing: " + n for n in names[:20]] + ["  and 5 more"])

    def check(self, fmt):
        src = self.path("src")
        self.write("src/a.txt", "alpha", mtime=ts("2024-01-01T00:00:00+00:00"))
        self.write("src/sub/b.txt", "bravo", mtime=ts("2024-01-01T00:00:00+00:00"))
        task = make_task(src, self.path("dest"), format=fmt)
        engine.make_snapshot(task, ts("2026-11-27T10:00:00+00:00"), UTC)
        self.assertTrue(verify_task(task).ok)
        self.assertTrue(verify_task(task, deep=True).ok)
        # One byte changed, same size and time: only --deep sees it.
        self.write("src/a.txt", "alphA", mtime=ts("2024-01-01T00:00:00+00:00"))
        self.assertTrue(verify_task(task).ok)
        deep = verify_task(task, deep=True)
        self.assertEqual((deep.ok, deep.changed, deep.differences), (False, 1, ["changed: a.txt (contents)"]))
        os.remove(self.path("src/sub/b.txt"))
        self.write("src/new.txt", "new")
        for mode in (False, True):
            result = verify_task(task, deep=mode)
            self.assertFalse(result.ok)
            self.assertEqual((result.missing, result.extra), (1, 1))
            self.assertIn("missing: new.txt", result.differences)
            self.assertIn("extra: sub/b.txt", result.differences)

    def test_folder(self):
        self.check("folder")

    def test_zip(self):
        self.check("zip")

    def test_verify_key_records_result(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "verify": True}])
        self.write("src/a", "1")
        out = runner.run_task(config, config.tasks[0], "manual")
        self.assertEqual(out.record["verify"]["ok"], True)
        self.assertEqual(out.record["verify"]["checked"], 1)

    def test_command(self):
        config = self.make_config()
        self.write("src/a", "1")
        runner.run_task(config, config.tasks[0], "manual")
        cmd = [sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", config.path, "--verify", "T"]
        proc = subprocess.run(cmd + ["--deep"], stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 0)
        self.assertIn("T: matches", proc.stdout)
        os.remove(self.path("src/a"))  # deleted from the source: extra in the snapshot
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("extra: a", proc.stdout)
        self.assertIn("T: DIFFERS from", proc.stdout)


class StatusTest(TempDirTestCase):
    def test_warnings(self):
        config = self.make_config()
        self.write("src/a", "1")
        runner.run_task(config, config.tasks[0], "manual", clock=lambda: ts("2026-10-02T10:00:00+00:00"),
                        zone=UTC)
        runs = History.for_config(config).runs()
        Usage = type("Usage", (), {})
        usage = Usage()
        usage.total, usage.free = 1000, 20
        item = status_report(config, runs, ts("2026-11-05T10:00:00+00:00"), UTC, lambda n: False)["tasks"][0]
        self.assertEqual(item["snapshots"], 1)
        self.assertTrue(item["newest_snapshot"].endswith("2026-10-02_10-00-00"))
        self.assertEqual(item["last_success_days_ago"], 34.0)
        self.assertIn("no successful backup for 34 days", item["warnings"])
        from task_runner.schedule.status import task_status
        item = task_status(config, config.tasks[0], runs, ts("2026-10-03T10:00:00+00:00"), UTC, False,
                           disk_usage=lambda p: usage)
        self.assertEqual(item["warnings"], ["destination drive has 2% free"])
        self.assertEqual(item["severity"], "warn")

    def test_a_partial_last_run_is_said(self):
        """Found from outside: with a folder unreadable at every run, status
        said nothing (severity ok) while the folder went unbacked-up."""
        config = self.make_config()
        history = History.for_config(config)
        run = history.start_run("T", "manual", "2026-11-05T09:00:00+00:00")
        history.finish_run(run["id"], run, status="partial", finished="2026-11-05T09:00:01+00:00",
                           message="2 files, 1 skipped (see errors)")
        item = status_report(config, history.runs(), ts("2026-11-05T10:00:00+00:00"), UTC,
                             lambda n: False)["tasks"][0]
        self.assertIn("the last backup could not read everything (2 files, 1 skipped (see errors)): what it "
                      "skipped is only in older backups; see the log", item["warnings"])
        self.assertEqual(item["severity"], "warn")

    def test_a_missing_drive_is_said_once_and_needs_attention(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "usb/backup", "timestamp": "12:00"}])
        outcome = runner.run_task(config, config.tasks[0], "manual", clock=lambda: ts("2026-11-05T09:00:00+00:00"),
                                  zone=UTC)
        self.assertEqual(outcome.status, "failed")
        runs = History.for_config(config).runs()
        item = status_report(config, runs, ts("2026-11-05T10:00:00+00:00"), UTC, lambda n: False)["tasks"][0]
        # Issue 34: the scheduler watches for that drive, and says so.
        self.assertEqual(item["warnings"], ["no successful backup yet",
                                            "waiting for the backup drive (%s): the scheduler runs the backup as "
                                            "soon as it is back" % self.path("usb")])
        self.assertEqual(item["waiting_for_drive"], self.path("usb"))
        self.assertEqual(item["severity"], "bad")
        os.makedirs(self.path("usb"))
        item = status_report(config, runs, ts("2026-11-05T10:00:00+00:00"), UTC, lambda n: False)["tasks"][0]
        self.assertEqual(item["warnings"][1], "the last run failed: " + outcome.message)

    def test_a_changed_dest_says_where_the_last_run_went(self):
        # Found from outside: after "dest" changed, status said "last run:
        # ... success" next to "no successful backup yet".
        self.write("src/a", "1")
        old = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "old", "timestamp": "12:00"}])
        runner.run_task(old, old.tasks[0], "manual", clock=lambda: ts("2026-11-05T09:00:00+00:00"), zone=UTC)
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "new", "timestamp": "12:00"}])
        runs = History.for_config(config).runs()
        item = status_report(config, runs, ts("2026-11-05T10:00:00+00:00"), UTC, lambda n: False)["tasks"][0]
        self.assertEqual(item["last_run_elsewhere"], old.tasks[0].dest)
        self.assertEqual(item["warnings"][0], "no successful backup into %s yet (the last one went to %s, "
                         "this task's destination before)" % (config.tasks[0].dest, old.tasks[0].dest))
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                               config.path, "status"], stdout=subprocess.PIPE, universal_newlines=True,
                              timeout=60)
        self.assertIn("success (manual), into the former destination %s" % old.tasks[0].dest, proc.stdout)
        self.assertIn("  last success: never (into %s)" % config.tasks[0].dest, proc.stdout)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                               config.path, "list"], stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertIn("success (manual), into the former destination %s" % old.tasks[0].dest, proc.stdout)

    def test_a_run_a_killed_process_left_running_is_shown_interrupted(self):
        # Found from outside: after kill -9 of a backup, status, list and /metrics said "running" for ever.
        config = self.make_config()
        History.for_config(config).start_run("T", "manual", "2026-11-05T09:00:00+00:00")
        for verb in ("status", "list"):
            proc = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                                   config.path, verb, "--json"], stdout=subprocess.PIPE, universal_newlines=True,
                                  timeout=60)
            self.assertEqual(json.loads(proc.stdout)["tasks"][0]["last_run"]["status"], "interrupted", verb)
        with task_lock(config, "T"):  # a backup running now: left as it is
            History.for_config(config).start_run("T", "manual", "2026-11-05T10:00:00+00:00")
            from task_runner.schedule.status import current_report
            self.assertEqual(current_report(config, time.time, UTC)["tasks"][0]["last_run"]["status"], "running")

    def test_a_start_time_that_is_not_a_time_is_no_traceback(self):
        # Found from outside: a hand-edited "started" made status crash (TypeError).
        config = self.make_config()
        with open(config.history_file, "w") as f:
            json.dump({"version": 1, "next_id": 2, "runs": [
                {"id": 1, "task": "T", "status": "success", "started": "garbage", "finished": None,
                 "trigger": "manual", "scheduled_for": None}]}, f)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                               config.path, "status"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertIn("  last success: garbage\n", proc.stdout)

    def test_status_command(self):
        config = self.make_config()
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                               config.path, "--status", "--json"], stdout=subprocess.PIPE,
                              universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 0)
        task = json.loads(proc.stdout)["tasks"][0]
        self.assertEqual(task["warnings"][0], "no successful backup yet")
        self.assertEqual(task["running"], False)


class StartupTest(TempDirTestCase):
    def test_windows_startup_folder(self):
        env = {"APPDATA": self.tmp}
        folder = startup.startup_folder(env)
        os.makedirs(folder)
        script = os.path.join(ROOT, "scheduled_task_runner.py")
        self.assertIn("installed", startup.install(script, self.path("config.json"), env, windows=True))
        self.assertIn("already installed", startup.install(script, self.path("config.json"), env, windows=True))
        with open(os.path.join(folder, startup.LAUNCHER_NAME)) as f:
            text = f.read()
        compile(text, "launcher.pyw", "exec")
        self.assertIn(repr(script), text)
        self.assertIn("removed", startup.uninstall(env, windows=True))
        self.assertIn("not installed", startup.uninstall(env, windows=True))
        self.assertEqual(os.listdir(folder), [])

    @unittest.skipIf(os.name == "nt", "the systemd unit is made of POSIX paths")
    def test_linux_prints_a_unit(self):
        text = startup.install("/opt/r/scheduled_task_runner.py", "/opt/r/config.json", {"HOME": "/home/u"},
                               python="/usr/bin/python3", windows=False)
        self.assertIn("ExecStart=/usr/bin/python3 /opt/r/scheduled_task_runner.py --config /opt/r/config.json",
                      text)
        self.assertIn("systemctl --user enable --now scheduled-task-runner", text)
        self.assertIn("/home/u/.config/systemd/user/scheduled-task-runner.service", text)
        # Found from outside: a space split the path, and systemd expanded "%h" to the home folder.
        text = startup.install("/opt/r/scheduled_task_runner.py", '/srv/with space%h$X "q"\\/config.json',
                               {"HOME": "/home/u"}, python="/usr/bin/python3", windows=False)
        self.assertIn('ExecStart=/usr/bin/python3 /opt/r/scheduled_task_runner.py --config '
                      '"/srv/with space%%h$$X \\"q\\"\\\\/config.json"\n', text)
        self.assertIn('Description=Scheduled Task Runner (backups of /srv/with space%%h$X "q"\\/config.json)\n',
                      text)


class OnceTest(TempDirTestCase):
    def test_once_runs_what_is_missed_then_exits(self):
        from task_runner.schedule.daemon import Daemon
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timestamp": "12:00"}])
        History.for_config(config).first_seen(["T"], "2026-11-01T00:00:00+00:00")  # not a new task
        self.write("src/a", "1")
        now = ts("2026-11-27T12:02:00+00:00")  # two minutes after the occurrence
        Daemon(config, clock=lambda: now, zone=UTC).run_once()
        self.assertEqual([(r["trigger"], r["status"]) for r in History.for_config(config).runs()],
                         [("missed", "success")])
        Daemon(config, clock=lambda: now + 60, zone=UTC).run_once()
        self.assertEqual(len(History.for_config(config).runs()), 1)  # nothing due the second time

    def test_once_as_a_program_exits_when_nothing_is_due(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest"}])  # on demand only
        cmd = [sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config", config.path, "--once"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(History.for_config(config).runs(), [])

    def test_once_ends_when_the_task_is_busy_elsewhere(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timestamp": "00:00"}])
        with locks.task_lock(config, "T"):  # another process is running it
            from task_runner.schedule.daemon import Daemon
            Daemon(config).run_once()  # returns instead of retrying for ever
        self.assertEqual(History.for_config(config).runs(), [])


if __name__ == "__main__":
    unittest.main()
