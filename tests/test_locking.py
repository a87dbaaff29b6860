import subprocess
import sys
import textwrap
import threading
import unittest

from task_runner.errors import AlreadyRunning
from task_runner.fs.locking import FileLock
from tests.helpers import ROOT, TempDirTestCase

HOLD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from task_runner.fs.locking import FileLock
    lock = FileLock(sys.argv[2])
    print("locked" if lock.acquire(timeout=0) else "busy", flush=True)
    sys.stdin.readline()
""")


class FileLockTest(TempDirTestCase):
    def test_two_objects_exclude_each_other_in_one_process(self):
        a, b = FileLock(self.path("x.lock")), FileLock(self.path("x.lock"))
        self.assertTrue(a.acquire(timeout=0))
        self.assertFalse(b.acquire(timeout=0))
        self.assertFalse(b.is_free())
        a.release()
        self.assertTrue(b.acquire(timeout=0))
        b.release()
        self.assertTrue(a.is_free())

    def test_waits_until_released(self):
        a, b = FileLock(self.path("x.lock")), FileLock(self.path("x.lock"))
        a.acquire()
        timer = threading.Timer(0.2, a.release)
        timer.start()
        try:
            self.assertTrue(b.acquire(timeout=5))
        finally:
            timer.cancel()
        b.release()

    def test_context_manager_raises_already_running(self):
        with FileLock(self.path("sub", "x.lock")):  # creates the folder
            with self.assertRaises(AlreadyRunning):
                with FileLock(self.path("sub", "x.lock")):
                    pass

    def test_other_process_and_release_on_exit(self):
        path = self.path("x.lock")
        proc = subprocess.Popen([sys.executable, "-c", HOLD, ROOT, path], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, universal_newlines=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "locked")
            self.assertFalse(FileLock(path).is_free())
        finally:
            proc.kill()  # dies holding it: the OS must release the lock
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        self.assertTrue(FileLock(path).is_free())


if __name__ == "__main__":
    unittest.main()


class PrivateLockTest(TempDirTestCase):
    """Found from outside: lock files were 0644, so another account could
    open one read-only and hold it, and every backup said "already running"."""

    @unittest.skipIf(sys.platform == "win32", "modes")
    def test_a_lock_file_is_this_accounts_only(self):
        import os
        import stat
        new = FileLock(self.path(".locks", "task-a.lock"))
        self.assertTrue(new.acquire(timeout=0))
        new.release()
        self.assertEqual(stat.S_IMODE(os.stat(new.path).st_mode), 0o600)
        old = self.path(".locks", "task-b.lock")  # made by an earlier version
        with open(old, "w"):
            pass
        os.chmod(old, 0o644)
        lock = FileLock(old)
        self.assertTrue(lock.acquire(timeout=0))
        lock.release()
        self.assertEqual(stat.S_IMODE(os.stat(old).st_mode), 0o600)

    @unittest.skipIf(sys.platform == "win32", "links")
    def test_a_lock_file_that_is_a_link_is_never_followed(self):
        """Found from outside: a link put where a lock file goes had its
        target made 0600 (a chmod of any file), and was locked."""
        import os
        import stat
        from task_runner.errors import BackupError
        self.write("target", "root's")
        os.chmod(self.path("target"), 0o644)
        os.makedirs(self.path(".locks"))
        os.symlink(self.path("target"), self.path(".locks", "task-t.lock"))
        with self.assertRaises(BackupError) as ctx:
            FileLock(self.path(".locks", "task-t.lock")).acquire(timeout=0)
        self.assertIn("is a symbolic link", str(ctx.exception))
        self.assertEqual(stat.S_IMODE(os.stat(self.path("target")).st_mode), 0o644)
