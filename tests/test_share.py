"""backup_now.py as a real process writing to a real network share: an
sshfs mount (tests/share.py), logged in as root and as an ordinary
account (which refuses owners and keeps times to 1 s). Skips, saying why,
where no share can be made here; under CI (CI=true) on Linux that is a
failure (the Windows lane cannot make one)."""

import json
import os
import subprocess
import sys
import unittest

from tests import share
from tests.helpers import ROOT, TempDirTestCase, program_missing

PY = sys.executable
OLD = 1589704200  # 2020-05-17


class ShareTest(TempDirTestCase):
    def setUp(self):
        super(ShareTest, self).setUp()
        why = share.missing()
        if why:
            program_missing(self, "no sshfs share can be made here: " + why)  # fails under CI on Linux
        for d in range(3):
            for f in range(8):
                self.write("src/d%d/f%d" % (d, f), "data %d %d\n" % (d, f) * (f + 1), mtime=OLD + f)
        os.link(self.path("src/d0/f0"), self.path("src/d2/again"))
        os.symlink("f1", self.path("src/d1/link"))  # (this sshfs refuses to read back a target with "..")

    def backup(self, dest, *args):
        config = self.write_config({"tasks": [{"name": "T", "src": self.path("src"), "dest": dest,
                                               "default": True}]})
        proc = subprocess.run([PY, os.path.join(ROOT, "backup_now.py"), "--config", config] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=120)
        self.assertNotIn("Traceback", proc.stderr)
        with open(self.path("executed_tasks.json"), encoding="utf-8") as f:
            runs = json.load(f)["runs"]
        return proc, runs[-1] if runs else None

    def two_runs(self, user):
        with share.Share(None, user=user) as mount:
            dest = os.path.join(mount.mount, "backup")
            first, run1 = self.backup(dest)
            self.assertEqual(first.returncode, 0, first.stderr)
            second, run2 = self.backup(dest)
            self.assertEqual(second.returncode, 0, second.stderr)
            verify, _ = self.backup(dest, "--verify")
            self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
            snapshot = os.path.join(dest, run2["snapshot"].replace("\\", "/").rsplit("/", 1)[-1])
            st = os.stat(os.path.join(snapshot, "d1", "f3"))
            self.assertEqual(int(st.st_mtime), OLD + 3)
            self.assertEqual(os.readlink(os.path.join(snapshot, "d1", "link")), "f1")
            served = os.path.join(mount.served, "backup", os.path.basename(snapshot))  # sshfs shows no inodes
            self.assertEqual(os.stat(os.path.join(served, "d0", "f0")).st_ino,
                             os.stat(os.path.join(served, "d2", "again")).st_ino)
        with open(self.path("scheduled_task_runner.log"), encoding="utf-8") as f:
            log = f.read()
        self.assertIn("workers copying: the destination is on a network file system, fuse.sshfs", log)
        self.assertEqual((run1["files"], run1["copied"], run1["linked"]), (26, 24, 1))
        self.assertEqual((run2["files"], run2["copied"], run2["linked"]), (26, 0, 25))
        return run1

    def test_as_root_everything_is_kept_and_unchanged_files_are_linked(self):
        run = self.two_runs("root")
        self.assertEqual(run["warnings"], [])

    def test_an_account_that_is_not_root_keeps_times_and_links_too(self):
        run = self.two_runs("nobody")
        self.assertEqual(len(run["warnings"]), 1, run["warnings"])
        self.assertIn("does not keep owners and groups", run["warnings"][0])


if __name__ == "__main__":
    unittest.main()
