"""Windows-only behaviour, run by the Windows lane (tests/windows.sh)."""

import ctypes
import os
import shutil
import subprocess
import sys
import time
import unittest

from task_runner import engine
from task_runner.fs import fileio, osutil
from task_runner.history import History
from tests.helpers import ROOT, UTC, TempDirTestCase, copy_file, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
WINDOWS = os.name == "nt"


class RecordingOps(fileio.Ops):
    def __init__(self):
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def hold_exclusively(path):
    """Open ``path`` the way Outlook holds its .pst: no sharing at all."""
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateFileW.restype = ctypes.c_void_p
    handle = kernel32.CreateFileW(ctypes.c_wchar_p(path), 0x80000000, 0, None, 3, 0x80, None)
    if handle in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_last_error(), "CreateFileW failed")
    return lambda: kernel32.CloseHandle(ctypes.c_void_p(handle))


@unittest.skipUnless(WINDOWS, "Windows only")
class WindowsEngineTest(TempDirTestCase):
    def test_locked_file_is_retried_then_skipped(self):
        self.write("src/ok.txt", "1")
        self.write("src/mail.pst", "locked")
        release = hold_exclusively(self.path("src", "mail.pst"))
        try:
            ops = RecordingOps()
            result = engine.make_snapshot(make_task(self.path("src"), self.path("dest")), T0, UTC, ops=ops)
        finally:
            release()
        self.assertEqual(result.errors, ["mail.pst: locked by another program"])
        self.assertEqual(ops.sleeps, [fileio.LOCKED_DELAY] * fileio.LOCKED_RETRIES)
        self.assertEqual(os.listdir(result.snapshot), ["ok.txt"])

    def test_long_paths(self):
        deep = osutil.long_path(self.path(*(["src"] + ["d" * 50] * 6)))
        os.makedirs(deep)
        with open(deep + "\\file.txt", "w") as f:
            f.write("deep")
        self.assertGreater(len(deep), 300)
        result = engine.make_snapshot(make_task(self.path("src"), self.path("dest")), T0, UTC)
        self.assertEqual((result.files, result.error_count), (1, 0), result.errors)
        copied = osutil.long_path(os.path.join(result.snapshot, *(["d" * 50] * 6 + ["file.txt"])))
        with open(copied) as f:
            self.assertEqual(f.read(), "deep")
        self.assertFalse(result.snapshot.startswith("\\\\?\\"))  # recorded in the normal form

    def test_junction_is_not_followed(self):
        import _winapi
        os.makedirs(self.path("outside"))
        self.write("outside/big.bin", "not mine")
        self.write("src/a", "1")
        try:
            _winapi.CreateJunction(self.path("outside"), self.path("src", "junction"))
        except OSError as exc:
            self.skipTest("this system cannot create junctions (%s)" % exc)
        if not os.path.exists(self.path("src", "junction", "big.bin")):
            self.skipTest("Wine creates the junction but does not resolve it")
        result = engine.make_snapshot(make_task(self.path("src"), self.path("dest")), T0, UTC)
        self.assertEqual(os.listdir(result.snapshot), ["a"])
        self.assertTrue(any("junction" in w for w in result.warnings))

    def test_read_only_snapshot_is_deleted_by_retention(self):
        self.write("src/a", "1")
        os.chmod(self.path("src", "a"), 0o444)
        task = make_task(self.path("src"), self.path("dest"), keep=1)
        first = engine.make_snapshot(task, T0, UTC)
        self.assertFalse(os.access(os.path.join(first.snapshot, "a"), os.W_OK))
        from task_runner.snapshots import retention
        from task_runner.config.policy import parse_policy
        engine.make_snapshot(task, T0 + 60, UTC)
        self.assertEqual(retention.apply(self.path("dest"), parse_policy(1), T0),
                         [os.path.basename(first.snapshot)])
        self.assertFalse(os.path.exists(first.snapshot))

    def test_deleting_a_snapshot_leaves_shared_read_only_files_read_only(self):
        # The read-only attribute belongs to the file: every hard link of it
        # shares it. Deleting the old link must not clear it for the kept one.
        self.write("src/a", "1")
        os.chmod(self.path("src", "a"), 0o444)
        task = make_task(self.path("src"), self.path("dest"))
        engine.make_snapshot(task, T0, UTC)
        second = engine.make_snapshot(task, T0 + 60, UTC)
        self.assertEqual(second.linked, 1)
        kept = os.path.join(second.snapshot, "a")
        self.assertEqual(os.stat(kept).st_nlink, 2)
        from task_runner.snapshots import retention
        from task_runner.config.policy import parse_policy
        self.assertEqual(len(retention.apply(self.path("dest"), parse_policy(1), T0)), 1)
        self.assertFalse(os.access(kept, os.W_OK), "the kept snapshot's file lost its read-only attribute")
        third = engine.make_snapshot(task, T0 + 120, UTC)
        self.assertEqual(third.linked, 1)  # still unchanged: linked, not copied again


@unittest.skipUnless(WINDOWS, "Windows only")
class LauncherTest(TempDirTestCase):
    """The .bat files, run by cmd.exe (Wine's cmd in the Windows lane)."""

    def run_bat(self, name, *args):
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        return subprocess.run(["cmd", "/c", os.path.join(ROOT, name)] + list(args), cwd=self.tmp, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)

    def test_backup_now_bat(self):
        config = self.make_config(tasks=[
            {"name": "ok", "src": "src", "dest": "d1", "default": True},
            {"name": "broken", "src": "missing", "dest": "d2"}])
        os.rmdir(self.path("missing"))
        self.write("src/a.txt", "1")
        proc = self.run_bat("backup_now.bat", "--config", config.path)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("ok: success", proc.stdout)
        self.assertNotIn("ended with exit code", proc.stdout)
        # (Whether it waits for a key after a double-click cannot be seen here:
        # Wine's %CMDCMDLINE% is not the cmd /c line Windows' Explorer gives.)
        proc = self.run_bat("backup_now.bat", "--config", config.path, "broken")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("ended with exit code 1", proc.stdout)
        proc = self.run_bat("backup_now.bat", "--config", config.path, "no such task")
        self.assertEqual(proc.returncode, 2)
        # The program ran once per call: a "py -3 ... || python ..." chain would run it twice.
        runs = History.for_config(config).runs()
        self.assertEqual([(r["task"], r["status"]) for r in runs], [("ok", "success"), ("broken", "failed")])

    def test_restore_bat_and_the_restore_command(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True}])
        self.write("src/a.txt", "1")
        self.assertEqual(self.run_bat("backup_now.bat", "--config", config.path).returncode, 0)
        # Not from a terminal (piped): the dialogue is refused, nothing changes.
        proc = self.run_bat("restore.bat", "--config", config.path)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertIn("--interactive needs a terminal", proc.stderr)
        proc = self.run_bat("backup_now.bat", "--config", config.path, "--restore", "--to", self.path("back"))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(self.path("back", "a.txt")) as f:
            self.assertEqual(f.read(), "1")

    def test_without_python_each_launcher_says_what_to_install(self):
        env = dict(os.environ)
        system = os.environ.get("SystemRoot", "C:\\windows")
        env["PATH"] = os.path.join(system, "system32") + os.pathsep + system  # no Python on it
        for name in ("backup_now.bat", "scheduled_task_runner.bat", "http_server.bat", "restore.bat"):
            with self.subTest(name=name):
                proc = subprocess.run(["cmd", "/c", os.path.join(ROOT, name)], cwd=self.tmp, env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      universal_newlines=True, timeout=120)
                self.assertEqual(proc.returncode, 9009, proc.stdout + proc.stderr)
                self.assertIn("Python 3 was not found. Install it from https://www.python.org/downloads/",
                              proc.stdout)
                self.assertNotIn(".log", proc.stdout)  # no log exists yet to look in

    def test_scheduled_task_runner_bat_check(self):
        config = self.make_config()
        proc = self.run_bat("scheduled_task_runner.bat", "--config", config.path, "--check")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("is valid: 1 task(s)", proc.stdout)

    def test_bat_finds_its_own_config(self):
        # Started from another folder, the launcher reads the config.json
        # beside it: a copy of the programs with a config the test owns
        # (never the user's own config.json).
        home = self.path("install")
        shutil.copytree(os.path.join(ROOT, "task_runner"), os.path.join(home, "task_runner"),
                        copy_function=copy_file)
        for name in ("scheduled_task_runner.py", "scheduled_task_runner.bat"):
            copy_file(os.path.join(ROOT, name), os.path.join(home, name))
        self.make_config()
        copy_file(self.path("config.json"), os.path.join(home, "config.json"))
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        proc = subprocess.run(["cmd", "/c", os.path.join(home, "scheduled_task_runner.bat"), "--check"],
                              cwd=self.tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn(os.path.join(home, "config.json"), proc.stdout)


@unittest.skipUnless(WINDOWS, "Windows only")
class CtrlBreakTest(TempDirTestCase):
    def test_ctrl_break_stops_the_daemon(self):
        import signal
        config = self.make_config()
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                                 config.path], creationflags=subprocess.CREATE_NEW_PROCESS_GROUP,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        try:
            deadline = time.time() + 30
            log = self.path("scheduled_task_runner.log")
            while True:
                if os.path.exists(log):
                    with open(log, encoding="utf-8") as f:
                        if "started:" in f.read():
                            break
                self.assertLess(time.time(), deadline, "the daemon did not start")
                time.sleep(0.1)
            second = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                                     config.path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True, timeout=60)
            self.assertEqual(second.returncode, 4, second.stderr)
            try:
                os.kill(proc.pid, signal.CTRL_BREAK_EVENT)
            except (OSError, SystemError) as exc:  # SystemError: CPython 3.8 wraps the OSError badly
                # Wine 8: GenerateConsoleCtrlEvent fails (ERROR_INVALID_ACCESS)
                # for a process started without a console; real Windows delivers it.
                self.skipTest("Wine cannot send CTRL_BREAK_EVENT here: %s" % exc)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                # Wine 8 does not deliver CTRL_BREAK_EVENT to a process group
                # without a console; real Windows does.
                self.skipTest("CTRL_BREAK_EVENT was not delivered (Wine without a console)")
            self.assertEqual(proc.returncode, 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


if __name__ == "__main__":
    unittest.main()
