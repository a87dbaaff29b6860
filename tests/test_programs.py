"""The three programs as real subprocesses."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

from task_runner import snapshots
from task_runner.history import History
from task_runner.runs.locks import task_lock
from task_runner.clock import LOCAL, format_local
from tests.helpers import ROOT, TempDirTestCase, slow_file, wait_for

PY = sys.executable


def program(name):
    return os.path.join(ROOT, name)


class ProgramTestCase(TempDirTestCase):
    def run_program(self, name, *args, **kw):
        proc = subprocess.run([PY, program(name), "--config", self.config_path] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=60, **kw)
        self.assertNotIn("Traceback", proc.stderr)
        return proc

    def setup_config(self, tasks=None, **top):
        self.config = self.make_config(tasks, **top)
        self.config_path = self.config.path
        return self.config

    def history(self):
        return History.for_config(self.config).runs()


class BackupNowTest(ProgramTestCase):
    def test_runs_the_default_task(self):
        self.setup_config()
        self.write("src/a.txt", "hello")
        proc = self.run_program("backup_now.py")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r"^T: success \(run 1\) 1 file \(1 copied, 0 linked\), 5 bytes copied, \d+\.\d s$")
        self.assertNotIn("run 1 success", proc.stderr)  # the result is said once, on stdout
        snaps = snapshots.list_snapshots(self.path("dest"))
        self.assertEqual(len(snaps), 1)
        run, = self.history()
        self.assertEqual((run["trigger"], run["status"]), ("manual", "success"))
        with open(self.path("scheduled_task_runner.log"), encoding="utf-8") as f:
            log = f.read()
        self.assertRegex(log, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO +backup_now \[T\] run 1 started")

    def test_exit_codes(self):
        self.setup_config(tasks=[
            {"name": "ok", "src": "src", "dest": "d1", "default": True},
            {"name": "broken", "src": "src", "dest": "nowhere/d2"}])
        self.assertEqual(self.run_program("backup_now.py").returncode, 0)
        proc = self.run_program("backup_now.py", "broken")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("broken: failed", proc.stdout)
        self.assertIn("is the backup drive plugged in?", proc.stdout)
        self.assertEqual(self.run_program("backup_now.py", "--all").returncode, 1)
        proc = self.run_program("backup_now.py", "nope")
        self.assertEqual(proc.returncode, 2)
        self.assertIn('no task named "nope"', proc.stderr)
        with task_lock(self.config, "ok"):
            proc = self.run_program("backup_now.py", "ok")
        self.assertEqual(proc.returncode, 4)
        self.assertIn("already running", proc.stdout)

    def test_dry_run_changes_nothing(self):
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "keep": 1, "default": True}])
        self.write("src/a.txt", "hello")
        self.assertEqual(self.run_program("backup_now.py").returncode, 0)
        self.write("src/b.txt", "new file")
        before = os.listdir(self.path("dest"))
        proc = self.run_program("backup_now.py", "--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("T: would copy 1 file (8 bytes) and link 1 unchanged file; would delete %s"
                      % snapshots.list_snapshots(self.path("dest"))[0],
                      proc.stdout)
        self.assertEqual(os.listdir(self.path("dest")), before)
        self.assertEqual(len(self.history()), 1)

    def test_paused_task_runs_only_when_named(self):
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True, "enabled": False,
                                  "timestamp": "12:00"}])
        self.write("src/a.txt", "hello")
        proc = self.run_program("backup_now.py")
        self.assertEqual(proc.returncode, 2)
        self.assertIn('the default task "T" is paused ("enabled": false): name it to run it anyway', proc.stderr)
        proc = self.run_program("backup_now.py", "T")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('T is paused ("enabled": false): backing it up because it was named', proc.stdout)
        self.assertEqual([r["status"] for r in self.history()], ["success"])
        status = self.run_program("scheduled_task_runner.py", "--status")
        self.assertIn("daily at 12:00  [paused]", status.stdout)
        self.assertIn('! paused ("enabled": false): no scheduled backups', status.stdout)
        self.assertNotIn("next run", status.stdout)

    def test_status_says_whether_the_scheduler_runs(self):
        from task_runner.schedule.daemon import instance_lock
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timestamp": "12:00"}])
        proc = self.run_program("scheduled_task_runner.py", "--status")
        self.assertIn("! the scheduler is not running: scheduled backups do not happen until "
                      "scheduled_task_runner is started", proc.stdout)
        lock = instance_lock(self.config)
        try:
            proc = self.run_program("scheduled_task_runner.py", "--status")
            report = json.loads(self.run_program("scheduled_task_runner.py", "--status", "--json").stdout)
        finally:
            lock.release()
        self.assertRegex(proc.stdout, r"The scheduler is running \(process %d, since \d{4}-\d\d-\d\d " % os.getpid())
        self.assertNotIn("not running", proc.stdout)
        self.assertEqual((report["scheduler"]["running"], report["scheduler"]["pid"], report["warnings"]),
                         (True, os.getpid(), []))
        self.assertEqual(sorted(os.listdir(self.config.lock_dir)), ["daemon.json", "daemon.lock", "executed_tasks.json.lock",
                                                                 "task-T-c2c53d669482.lock"])  # every lock in .locks

    def test_a_missing_source_is_a_warning_not_an_error(self):
        self.setup_config(tasks=[{"name": "T", "src": "gone", "dest": "dest", "timestamp": "12:00"}])
        os.rmdir(self.path("gone"))
        warning = "the source folder %s does not exist right now: is its drive connected?" % self.path("gone")
        proc = self.run_program("scheduled_task_runner.py", "--check")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("    ! " + warning, proc.stdout)
        proc = self.run_program("scheduled_task_runner.py", "--status")
        self.assertIn("  ! " + warning, proc.stdout)

    def test_a_missing_destination_drive_is_a_warning_too(self):
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "usbstick/backup", "timestamp": "12:00"},
                                 {"name": "U", "src": "src", "dest": "made-at-the-first-run"}])
        proc = self.run_program("scheduled_task_runner.py", "--check")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("    ! the backup folder %s cannot be made: %s does not exist right now (is its drive "
                      "connected?)" % (self.path("usbstick", "backup"), self.path("usbstick")), proc.stdout)
        self.assertEqual(proc.stdout.count("!"), 1, proc.stdout)

    def test_dry_run_checks_the_destination_and_lists_files(self):
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "drive/backup", "default": True}])
        self.write("src/a.txt", "hello")
        proc = self.run_program("backup_now.py", "--dry-run")
        self.assertEqual(proc.returncode, 1)  # the backup drive is not plugged in: a run would fail
        self.assertIn("T: would fail: destination %s cannot be created because %s does not exist: is the backup "
                      "drive plugged in?" % (self.path("drive", "backup"), self.path("drive")), proc.stdout)
        os.makedirs(self.path("drive"))
        self.assertEqual(self.run_program("backup_now.py").returncode, 0)
        self.write("src/b.txt", "new")
        proc = self.run_program("backup_now.py", "--dry-run", "--files")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("  link a.txt\n", proc.stdout)
        self.assertIn("  copy b.txt\n", proc.stdout)

    def test_an_old_python_gets_a_message_not_a_traceback(self):
        import glob
        import shutil
        candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.*/bin/python")))
        candidates += [p for p in (shutil.which("python2"),) if p]
        old = next((p for p in candidates if subprocess.call([p, "-c", "pass"], stdout=subprocess.DEVNULL,
                                                              stderr=subprocess.DEVNULL) == 0), None)
        if old is None:
            self.skipTest("no Python 2 that runs on this machine")
        for name in ("backup_now.py", "scheduled_task_runner.py", "http_server.py"):
            with self.subTest(program=name):
                proc = subprocess.run([old, program(name), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      universal_newlines=True, timeout=60)
                self.assertEqual(proc.returncode, 2)
                self.assertEqual(proc.stderr, "%s needs Python 3.6 or newer (this is 2.7)\n" % program(name))

    def test_prune_applies_keep_without_a_backup(self):
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True,
                                  "keep": {"daily": 2}}])
        names = ["2026-11-2%d_10-00-00" % d for d in range(1, 6)] + ["2026-11-25_09-00-00"]
        for name in names:
            os.makedirs(self.path("dest", name))
        proc = self.run_program("backup_now.py", "--prune", "--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "T: would delete 4 snapshots: 2026-11-21_10-00-00, 2026-11-22_10-00-00, "
                         "2026-11-23_10-00-00, 2026-11-25_09-00-00\n")
        self.assertIn("keeping 2026-11-25_10-00-00 (daily #1)", proc.stderr)
        self.assertIn("would delete 2026-11-21_10-00-00: no rule keeps it", proc.stderr)
        self.assertEqual(len(os.listdir(self.path("dest"))), 6)
        proc = self.run_program("backup_now.py", "--prune")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(sorted(os.listdir(self.path("dest"))), ["2026-11-24_10-00-00", "2026-11-25_10-00-00"])
        self.assertEqual(self.history(), [])  # not a backup run

    @unittest.skipUnless(hasattr(os, "openpty"), "needs a pseudo-terminal")
    def test_progress_only_on_a_terminal(self):
        self.setup_config()
        for i in range(3):
            self.write("src/f%d" % i, "x")
        proc = self.run_program("backup_now.py")
        self.assertNotIn("\r", proc.stderr + proc.stdout)  # a pipe gets no live line
        master, slave = os.openpty()
        try:
            proc = subprocess.run([PY, program("backup_now.py"), "--config", self.config_path],
                                  stdout=subprocess.PIPE, stderr=slave, timeout=60)
            os.close(slave)
            chunks = []
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(master)
        terminal = b"".join(chunks).decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0)
        self.assertRegex(terminal, r"\r1 file \(\d copied, \d linked\), 1 byte "
                                   r"(at \S+ \S+/s|\(\S+ \S+ copied at \S+ \S+/s\)), 0:00  f\d\r +\r")

    def test_no_default_task(self):
        self.setup_config(tasks=[{"name": "A", "src": "src", "dest": "d"}])
        proc = self.run_program("backup_now.py")
        self.assertEqual(proc.returncode, 2)
        self.assertIn('(one of: "A")', proc.stderr)

    def test_config_error_is_a_message_and_is_logged(self):
        self.setup_config()
        with open(self.config_path, "w") as f:
            json.dump({"tasks": [{"src": "src", "dest": "d", "timestamp": "32 23:56"}]}, f)
        proc = self.run_program("backup_now.py")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("tasks[0].timestamp: day must be 1-31, got 32", proc.stderr)
        with open(self.path("scheduled_task_runner.log"), encoding="utf-8") as f:
            self.assertIn("day must be 1-31, got 32", f.read())
        self.assertFalse(os.path.exists(self.path("d")))

    def test_runs_without_a_console(self):
        # What pythonw does: no stdout, no stderr.
        self.setup_config()
        code = ("import runpy, sys; sys.stdout = sys.stderr = None; sys.argv = %r; "
                "runpy.run_path(%r, run_name='__main__')" % (
                    ["backup_now.py", "--config", self.config_path], program("backup_now.py")))
        proc = subprocess.run([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual((proc.stdout, proc.stderr), (b"", b""))
        self.assertEqual(self.history()[0]["status"], "success")


class InterruptTest(ProgramTestCase):
    def big_source(self):
        self.setup_config()
        slow_file(self.path("src", "big.bin"), 8 * 1024 ** 3)

    def wait_for_partial(self):
        def copying():
            try:
                for name in os.listdir(self.path("dest")):
                    if name.endswith(".partial"):
                        return os.path.getsize(self.path("dest", name, "big.bin")) > 0
            except OSError:
                return False
        return wait_for(copying)

    @unittest.skipIf(os.name == "nt", "POSIX signals; the Windows lane tests Ctrl+Break")
    def test_signal_during_backup_interrupts_cleanly(self):
        for sig, name in ((signal.SIGINT, "backup_now.py"), (signal.SIGTERM, "scheduled_task_runner.py")):
            with self.subTest(program=name):
                self.big_source()
                args = [PY, program(name), "--config", self.config_path]
                if name == "scheduled_task_runner.py":
                    # Nothing scheduled: start the run through the catch-up rule.
                    with open(self.config_path, "w") as f:
                        now = time.localtime(time.time() - 60)
                        json.dump({"tasks": [{"name": "T", "src": "src", "dest": "dest",
                                              "timestamp": "%02d:%02d" % (now.tm_hour, now.tm_min)}]}, f)
                proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        universal_newlines=True)
                self.addCleanup(lambda: proc.poll() is None and proc.kill())
                if not self.wait_for_partial():  # (once on a loaded machine: say what the program said)
                    proc.kill()
                    out, err = proc.communicate(timeout=30)
                    self.fail("the copy never started (exit %s, dest %s):\n%s\n%s"
                              % (proc.returncode, os.path.isdir(self.path("dest")) and os.listdir(self.path("dest")),
                                 out, err))
                started = time.time()
                proc.send_signal(sig)
                out, err = proc.communicate(timeout=30)
                self.assertLess(time.time() - started, 2.0)
                self.assertNotIn("Traceback", err)
                self.assertEqual(proc.returncode, 130 if name == "backup_now.py" else 0, err)
                self.assertEqual(os.listdir(self.path("dest")), [])  # no .partial, no snapshot
                run = self.history()[-1]
                self.assertEqual(run["status"], "interrupted")
                self.assertIn("stopped on request", run["message"])
                os.rmdir(self.path("dest"))


class RunnerProgramTest(ProgramTestCase):
    def test_check(self):
        self.setup_config()
        proc = self.run_program("scheduled_task_runner.py", "--check")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("T (default): %s -> %s, monthly on day 1 at 23:56" % (self.path("src"), self.path("dest")),
                      proc.stdout)
        with open(self.config_path, "w") as f:
            f.write('{"tasks": [{"src": "a", "dest": "b", "timestamp": "1 25:00"}]}')
        proc = self.run_program("scheduled_task_runner.py", "--check")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("hour must be 0-23, got 25", proc.stderr)

    def test_list(self):
        self.setup_config()
        self.assertEqual(self.run_program("backup_now.py").returncode, 0)
        proc = self.run_program("scheduled_task_runner.py", "--list", "--count", "2", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        data = json.loads(proc.stdout)
        task, = data["tasks"]
        self.assertEqual(len(task["next_runs"]), 2)
        self.assertRegex(task["next_runs"][0], r"^\d{4}-\d\d-01T23:56:00[+-]\d\d:\d\d$")
        self.assertEqual(task["last_run"]["status"], "success")
        proc = self.run_program("scheduled_task_runner.py", "--list")
        self.assertIn("last run:", proc.stdout)
        self.assertIn("monthly on day 1 at 23:56", proc.stdout)

    def start_daemon(self):
        proc = subprocess.Popen([PY, program("scheduled_task_runner.py"), "--config", self.config_path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    @unittest.skipIf(os.name == "nt", "SIGTERM cannot be sent to a console process on Windows")
    def test_daemon_backs_up_a_new_task_then_stops_on_sigterm(self):
        # A daily time two minutes ago (local), in a task the scheduler has
        # never seen (issue 29: it was caught up as "missed", or skipped with
        # missed_task_days 0): its first backup, at once.
        then = time.localtime(time.time() - 120)
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "dest",
                                  "timestamp": "%02d:%02d" % (then.tm_hour, then.tm_min)}], missed_task_days=0)
        self.write("src/a.txt", "hello")
        proc = self.start_daemon()
        ok = wait_for(lambda: any(r["status"] == "success" for r in self.history()))
        self.assertTrue(ok, "no first backup within 20 s")
        run = self.history()[0]
        self.assertEqual(run["trigger"], "first")
        status = self.run_program("scheduled_task_runner.py", "--status")
        self.assertIn("success (first)", status.stdout)
        self.assertTrue(os.path.isdir(run["snapshot"]))

        second = self.run_program("scheduled_task_runner.py")
        self.assertEqual(second.returncode, 4)
        self.assertIn("already running", second.stderr)

        started = time.time()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        self.assertLess(time.time() - started, 2.0)
        self.assertEqual(proc.returncode, 0, err)
        self.assertNotIn("Traceback", err)
        self.assertIn("stopped", err)
        self.assertEqual(len(self.history()), 1)  # nothing ran twice


class StartUpRetryTest(ProgramTestCase):
    """The real scheduler started again and again while the backup drive is
    missing: each start makes at most one attempt (issue 20: one start made
    125 in under a second)."""

    def setUp(self):
        super(StartUpRetryTest, self).setUp()
        # A daily time about 0.7 days ago (local), its destination on a drive that is not there.
        then = time.localtime(time.time() - 0.7 * 86400)
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "usbstick/backup",
                                  "timestamp": "%02d:%02d" % (then.tm_hour, then.tm_min)}])
        self.write("src/a.txt", "hello")
        # Not a new task (that would get its first backup, not a catch-up).
        History.for_config(self.config).first_seen(["T"], format_local(time.time() - 2 * 86400, LOCAL))

    def attempts(self):
        return [r for r in self.history() if r["status"] in ("failed", "interrupted", "running")]

    def test_each_start_of_the_daemon_makes_one_attempt(self):
        for start in (1, 2):
            proc = subprocess.Popen([PY, program("scheduled_task_runner.py"), "--config", self.config_path],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            self.addCleanup(lambda p=proc: p.poll() is None and p.kill())
            self.assertTrue(wait_for(lambda: len(self.attempts()) >= start and
                                     self.attempts()[-1]["status"] == "failed"), "no attempt within 30 s")
            # Long enough for a second attempt: the storm went on for up to a second.
            time.sleep(1.5)
            proc.kill()
            proc.communicate(timeout=10)
            runs = self.attempts()
            self.assertEqual([(r["trigger"], r["status"]) for r in runs], [("missed", "failed")] * start,
                             "start %d" % start)
            self.assertIn("cannot be created", runs[-1]["message"])

    def test_each_run_of_once_makes_one_attempt(self):
        for start in (1, 2):
            proc = self.run_program("scheduled_task_runner.py", "--once")
            self.assertEqual(proc.returncode, 1, proc.stderr)  # as backup_now exits after a failed run
            self.assertEqual([(r["trigger"], r["status"]) for r in self.attempts()],
                             [("missed", "failed")] * start, "run %d" % start)


class DriveBackProgramTest(ProgramTestCase):
    """Issue 34 with the real scheduler: the backup drive plugged in while
    it waits, with retry_minutes 60."""

    def test_the_backup_runs_when_the_drive_is_back(self):
        self.setup_config(tasks=[{"name": "T", "src": "src", "dest": "usb/backup", "timestamp": "00:00"}],
                          retry_minutes=60)
        self.write("src/a.txt", "hello")
        env = dict(os.environ, TASK_RUNNER_CHECK_SECONDS="0.5")  # a look every 0.5 s, not every minute
        proc = subprocess.Popen([PY, program("scheduled_task_runner.py"), "--config", self.config_path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertTrue(wait_for(lambda: [r["status"] for r in self.history()] == ["failed"]), "no first attempt")
        status = json.loads(self.run_program("scheduled_task_runner.py", "--status", "--json").stdout)
        self.assertEqual(status["tasks"][0]["waiting_for_drive"], self.path("usb"))
        os.makedirs(self.path("usb"))  # plugged in
        ok = wait_for(lambda: any(r["status"] == "success" for r in self.history()), timeout=90)
        proc.kill()
        _, err = proc.communicate(timeout=10)
        self.assertTrue(ok, err)
        self.assertEqual([(r["trigger"], r["status"]) for r in self.history()], [("first", "failed"),
                                                                                 ("drive", "success")])
        self.assertIn("the backup drive is back: running the backup of", err)


if __name__ == "__main__":
    unittest.main()
