"""The backup folder is private: only the account that runs the backups may
enter it (issue 28). Snapshots keep their exact modes; the door is dest."""

import logging
import os
import stat
import subprocess
import sys
import unittest

from task_runner import engine
from task_runner.fs import osutil, private_folder
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
POSIX = not osutil.WINDOWS
AS_ROOT = POSIX and os.geteuid() == 0


class Lines(logging.Handler):
    def __init__(self):
        super(Lines, self).__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


class PrivateDestTest(TempDirTestCase):
    def setUp(self):
        super(PrivateDestTest, self).setUp()
        self.write("src/a.txt", "a")
        os.chmod(self.path("src"), 0o755)
        self.dest = self.path("dest")
        self.log = logging.getLogger("test_private_dest")
        self.lines = Lines()
        self.log.addHandler(self.lines)
        self.log.setLevel(logging.INFO)
        self.addCleanup(self.log.removeHandler, self.lines)

    def backup(self, at=T0):
        return engine.make_snapshot(make_task(self.path("src"), self.dest), at, UTC, log=self.log)

    @unittest.skipUnless(POSIX, "modes: Windows is tested through icacls in test_windows_acl")
    def test_a_new_dest_is_made_private(self):
        self.backup()
        self.assertEqual(stat.S_IMODE(os.stat(self.dest).st_mode), 0o700)
        self.assertEqual(os.stat(self.dest).st_uid, os.geteuid())
        self.assertFalse([line for line in self.lines.lines if "private" in line], self.lines.lines)

    @unittest.skipUnless(POSIX, "modes")
    def test_an_open_dest_is_closed_at_the_next_backup_and_said_once(self):
        os.mkdir(self.dest)
        os.chmod(self.dest, 0o755)
        self.assertTrue(private_folder.open_warning(self.dest))
        first = self.backup()
        self.assertEqual(stat.S_IMODE(os.stat(self.dest).st_mode), 0o700)
        said = [line for line in self.lines.lines if "made the backup folder" in line]
        self.assertEqual(len(said), 1, self.lines.lines)
        self.assertIn("its permissions are 0755", said[0])
        self.backup(T0 + 60)
        self.assertEqual(len([line for line in self.lines.lines if "made the backup folder" in line]), 1)
        self.assertEqual(private_folder.open_warning(self.dest), [])
        # The snapshot itself keeps the source's exact mode: the door is dest.
        self.assertEqual(stat.S_IMODE(os.stat(first.snapshot).st_mode), 0o755)

    @unittest.skipUnless(POSIX, "modes")
    def test_a_read_only_dest_is_not_made_writable(self):
        os.mkdir(self.dest)
        os.chmod(self.dest, 0o555)
        private_folder.make_private(self.dest)
        self.assertEqual(stat.S_IMODE(os.stat(self.dest).st_mode), 0o500)

    @unittest.skipUnless(AS_ROOT, "needs root: a dest another account owns is refused")
    def test_root_never_backs_up_into_a_folder_another_account_owns(self):
        """Found from outside: root took such a folder over, with the snapshot
        another account had planted in it (dated 2099), which restore then
        gave back and prune kept in place of the real one."""
        os.mkdir(self.dest)
        planted = os.path.join(self.dest, "2099-01-01_00-00-00")
        os.mkdir(planted)
        for path in (self.dest, planted):
            os.chown(path, 65534, 65534)
        with self.assertRaises(engine.BackupError) as ctx:
            self.backup()
        self.assertIn("which belongs to another account (uid 65534)", str(ctx.exception))
        self.assertEqual((os.stat(self.dest).st_uid, os.listdir(self.dest)), (65534, ["2099-01-01_00-00-00"]))
        self.assertIn("belongs to another account", private_folder.open_warning(self.dest)[0])

    @unittest.skipUnless(AS_ROOT, "needs root: another account plants the link")
    def test_a_link_another_account_put_where_dest_is_is_never_followed(self):
        """Found from outside: with dest in a sticky folder, another account's
        link there made root's backup take over (chown, 0700) and fill the
        folder it led to."""
        sticky, victim = self.path("shared"), self.path("victim")
        os.mkdir(sticky)
        os.chmod(sticky, 0o1777)
        os.mkdir(victim)
        os.chown(victim, 65534, 65534)
        os.chmod(victim, 0o755)
        self.dest = os.path.join(sticky, "bk")
        os.symlink(victim, self.dest)
        os.lchown(self.dest, 65534, 65534)
        with self.assertRaises(engine.BackupError) as ctx:
            self.backup()
        self.assertIn("a symbolic link another account of this computer could have put there", str(ctx.exception))
        self.assertIn("backups do not go into", str(ctx.exception))
        st = os.stat(victim)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode), os.listdir(victim)), (65534, 0o755, []))
        self.assertIn("symbolic link another account", private_folder.open_warning(self.dest)[0])
        # A link in a folder on the way, too (found from outside: check and status said nothing then).
        self.assertIn("symbolic link another account", private_folder.open_warning(os.path.join(self.dest, "x"))[0])

    @unittest.skipUnless(POSIX, "modes")
    def test_check_and_status_say_so(self):
        os.mkdir(self.dest)
        os.chmod(self.dest, 0o750)
        config = self.write_config({"tasks": [{"name": "T", "src": self.path("src"), "dest": self.dest}]})
        for verb in ("check", "status"):
            out = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), verb,
                                  "--config", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 universal_newlines=True, cwd=self.tmp).stdout
            self.assertIn("can be entered by other accounts of this computer (its permissions are 0750)", out,
                          verb)

    def test_windows_acl(self):
        """Windows: icacls removes inheritance, grants this account, SYSTEM and
        Administrators, removes the broad groups, then the mark is left."""
        if not osutil.WINDOWS:
            self.skipTest("icacls is Windows' (the Windows lane runs this)")
        os.mkdir(self.dest)
        calls = []

        def run(cmd, **kw):
            calls.append(cmd)
            return subprocess.call(cmd, **kw)
        marks = self.path("locks")
        self.assertTrue(private_folder.open_warning(self.dest, marks))
        private_folder.make_private(self.dest, marks, run=run)
        self.assertEqual([c[0] for c in calls], ["icacls", "icacls"])
        self.assertIn("/inheritance:r", calls[0])
        self.assertIn("*S-1-5-18:(OI)(CI)F", calls[0])
        self.assertIn("*S-1-1-0", calls[1])
        self.assertEqual(private_folder.open_warning(self.dest, marks), [])
        self.assertEqual(os.listdir(self.dest), [])  # the mark is kept beside the history, not in dest
        os.mkdir(self.path("other"))
        self.assertTrue(private_folder.open_warning(self.path("other"), marks))  # marked per folder


if __name__ == "__main__":
    unittest.main()
