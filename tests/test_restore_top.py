"""A restored folder comes back with its own mode, owner and time (issue
35), and a restore's target is opened once, never through a link another
account can change (issue 28)."""

import os
import stat
import subprocess
import sys
import textwrap
import time
import unittest

from task_runner import engine
from task_runner.restore import restorer as restore
from task_runner.fs import osutil
from task_runner.errors import BackupError, UsageError
from tests.helpers import UTC, TempDirTestCase, make_task
from tests.test_restore import OLD, T0

POSIX = not osutil.WINDOWS
AS_ROOT = POSIX and os.geteuid() == 0
NOBODY = 65534


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class TopFolderTest(TempDirTestCase):
    """src is private (0700) and holds folders and files others may read."""

    def setUp(self):
        super(TopFolderTest, self).setUp()
        self.src = self.path("alice")
        self.write("alice/doc.txt", "private", mtime=OLD)
        self.write("alice/sub/inner.txt", "inner", mtime=OLD)
        os.chmod(self.path("alice/sub"), 0o755)
        os.utime(self.path("alice/sub"), (OLD + 5, OLD + 5))
        os.chmod(self.src, 0o700)
        if AS_ROOT:
            for folder, dirs, files in os.walk(self.src):
                for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                    os.lchown(name, NOBODY, NOBODY)
        os.utime(self.src, (OLD + 9, OLD + 9))

    def snapshot(self, fmt):
        task = make_task(self.src, self.path("dest"), format=fmt)
        result = engine.make_snapshot(task, T0, UTC)
        self.assertEqual(result.error_count, 0, result.errors)
        return task, os.path.basename(result.snapshot)

    def restore(self, task, name, target, *wanted, **kw):
        return restore.restore(task, name, target, list(wanted), clock=lambda: T0, zone=UTC, **kw)

    def assert_like_src(self, folder, seconds=False):
        """Mode, time and (as root, but for a ZIP, which keeps no owners) owner of src."""
        st, want = os.stat(folder), os.stat(self.src)
        if POSIX:
            self.assertEqual(mode(folder), 0o700)
        if AS_ROOT and not seconds:
            self.assertEqual((st.st_uid, st.st_gid), (want.st_uid, want.st_gid))
        got, expected = st.st_mtime_ns, want.st_mtime_ns
        if seconds:
            got, expected = got // 10 ** 9, expected // 10 ** 9
        self.assertEqual(got, expected)

    def test_a_new_folder_gets_the_mode_owner_and_time_of_the_folder_it_restores(self):
        for fmt in ("folder", "zip"):
            with self.subTest(fmt=fmt):
                task, name = self.snapshot(fmt)
                target = self.path("restored-" + fmt)
                self.restore(task, name, target)
                self.assert_like_src(target, seconds=fmt == "zip")
                self.assertEqual(mode(os.path.join(target, "sub")), 0o755 if POSIX else mode(target))

    @unittest.skipUnless(POSIX, "modes")
    def test_the_new_folder_is_private_while_the_restore_writes(self):
        os.chmod(self.src, 0o755)
        task, name = self.snapshot("folder")
        target = self.path("new")
        seen = []
        self.restore(task, name, target, progress=lambda *a: seen.append(mode(target)))
        self.assertTrue(seen)
        self.assertEqual(set(seen), {0o700})
        self.assertEqual(mode(target), 0o755)

    @unittest.skipUnless(POSIX, "modes")
    def test_a_part_restored_into_a_new_folder_gets_the_folders_above_it_too(self):
        task, name = self.snapshot("folder")
        target = self.path("part")
        self.restore(task, name, target, "sub")
        self.assert_like_src(target)
        self.assertEqual(os.stat(os.path.join(target, "sub")).st_mtime_ns // 10 ** 9, OLD + 5)

    @unittest.skipUnless(POSIX, "modes")
    def test_an_existing_folder_is_left_alone_unless_overwrite_restores_it_whole(self):
        task, name = self.snapshot("folder")
        target = self.path("there")
        os.mkdir(target)
        os.chmod(target, 0o751)
        self.restore(task, name, target)
        self.assertEqual(mode(target), 0o751)
        os.chmod(self.path("there", "doc.txt"), 0o600)
        self.restore(task, name, target, overwrite=True)
        self.assert_like_src(target)

    @unittest.skipUnless(POSIX and os.path.exists("/usr/bin/rsync"), "rsync compares the trees")
    def test_rsync_finds_no_difference(self):
        task, name = self.snapshot("folder")
        target = self.path("whole")
        self.restore(task, name, target)
        out = subprocess.run(["rsync", "-aHAXn", "--checksum", "-i", self.src + "/", target + "/"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True).stdout
        self.assertEqual(out, "")


@unittest.skipUnless(AS_ROOT, "needs root: another account owns the folder above --to")
class TargetOpenedOnceTest(TempDirTestCase):
    def setUp(self):
        super(TargetOpenedOnceTest, self).setUp()
        os.chmod(self.tmp, 0o755)
        self.write("src/a.txt", "a")
        self.task = make_task(self.path("src"), self.path("dest"))
        self.name = os.path.basename(engine.make_snapshot(self.task, T0, UTC).snapshot)
        self.secret = self.path("rootonly")
        self.write("rootonly/keep.txt", "root's")
        os.chmod(self.secret, 0o700)
        self.home = self.path("home")
        os.mkdir(self.home)
        os.chown(self.home, NOBODY, NOBODY)

    def assert_secret_untouched(self):
        self.assertEqual(os.listdir(self.secret), ["keep.txt"])

    def test_a_link_another_account_put_at_to_is_refused(self):
        os.symlink(self.secret, os.path.join(self.home, "out"))
        os.lchown(os.path.join(self.home, "out"), NOBODY, NOBODY)
        with self.assertRaises(UsageError) as ctx:
            restore.restore(self.task, self.name, os.path.join(self.home, "out"), clock=lambda: T0, zone=UTC)
        self.assertIn("symbolic link that another account could have put there", str(ctx.exception))
        self.assert_secret_untouched()

    def test_a_new_folder_made_in_advance_by_another_account_is_never_used(self):
        """Found from outside: another account made the "Restored <time>"
        folders of the coming minutes (0777); the guided restore and the
        page restored another user's private files into them."""
        ahead = os.path.join(self.home, "Restored 2026-11-27_10-00-00")
        os.mkdir(ahead)
        os.chown(ahead, NOBODY, NOBODY)
        os.chmod(ahead, 0o777)
        with self.assertRaises(UsageError) as ctx:
            restore.restore(self.task, self.name, ahead, clock=lambda: T0, zone=UTC, new_folder=True)
        self.assertIn("is there already", str(ctx.exception))
        self.assertEqual(os.listdir(ahead), [])
        got = restore.restore(self.task, self.name, ahead + "_2", clock=lambda: T0, zone=UTC, new_folder=True)
        self.assertEqual(got.files, 1)

    def test_a_link_of_roots_own_is_followed(self):
        os.symlink(self.path("elsewhere"), self.path("mine"))
        got = restore.restore(self.task, self.name, self.path("mine"), clock=lambda: T0, zone=UTC)
        self.assertEqual(got.files, 1)
        self.assertTrue(os.path.isfile(self.path("elsewhere", "a.txt")))

    SWAPPER = textwrap.dedent("""
        import ctypes, os, sys, time
        os.setgid(65534); os.setuid(65534)
        libc = ctypes.CDLL(None, use_errno=True)
        a, b = sys.argv[1].encode(), sys.argv[2].encode()
        end = time.time() + float(sys.argv[3])
        while time.time() < end:
            if libc.renameat2(-100, a, -100, b, 2) != 0:  # RENAME_EXCHANGE
                time.sleep(0.001)
    """)

    def test_to_swapped_for_a_link_while_root_restores(self):
        out, link = os.path.join(self.home, "out"), os.path.join(self.home, "link")
        os.mkdir(out)
        os.chown(out, NOBODY, NOBODY)
        os.symlink(self.secret, link)
        os.lchown(link, NOBODY, NOBODY)
        swapper = subprocess.Popen([sys.executable, "-c", self.SWAPPER, out, link, "3"])
        self.addCleanup(swapper.wait)
        self.addCleanup(swapper.kill)
        end = time.time() + 2
        while time.time() < end and swapper.poll() is None:
            try:
                restore.restore(self.task, self.name, out, overwrite=True, clock=lambda: T0, zone=UTC)
            except (UsageError, BackupError):
                pass  # refused: a link, or a folder that became one meanwhile
            self.assert_secret_untouched()
        self.assertEqual(swapper.poll(), None)


if __name__ == "__main__":
    unittest.main()
