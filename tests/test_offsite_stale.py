"""An offsite copy that is never silently stale (issue 30): on a remote
that keeps no modification times and gives no hashes (WebDAV with rclone's
``vendor = other``: ``rclone serve webdav`` and Apache's mod_dav), a file
changed in place at the same size reaches the remote; the manifest records
each file's MD5; a restore checks every file it downloads against it, and
verify compares the remote's hashes (or, with --deep, downloads them)."""

import gzip
import json
import os
import shutil

from task_runner.config import load_config
from task_runner.offsite import layout, service
from tests import rclone_tools
from tests.helpers import copy_file
from tests.test_offsite import MTIME, OffsiteTestCase

FIRST, SECOND = "2026-01-01_10-00-00", "2026-01-02_10-00-00"


class StaleTestCase(OffsiteTestCase):
    def upload(self):
        config = load_config(self.path("config.json"))
        return service.Upload(config, config.tasks[0], "manual", environ=self.env).run()

    def snapshot(self, name):
        shutil.copytree(self.path("src"), self.path("dest", name), symlinks=True, copy_function=copy_file)

    def same_size_edit(self, remote):
        """FIRST with notes.txt "version one", SECOND with "version TWO"
        (same size, a newer time), each uploaded; then the remote alone is
        restored."""
        self.write("src/notes.txt", "version one", mtime=MTIME)
        self.write("src/other.txt", "unchanged", mtime=MTIME)
        self.config(remote)
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        first = self.upload()
        self.assertEqual(first["status"], "success", first)
        self.write("src/notes.txt", "version TWO", mtime=MTIME + 60)
        self.snapshot(SECOND)
        second = self.upload()
        self.assertEqual(second["status"], "success", second)
        shutil.rmtree(self.path("dest"))
        code, out = self.program("backup_now.py", "--restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 0, out)
        with open(self.path("back", "notes.txt")) as f:
            self.assertEqual(f.read(), "version TWO")
        self.assert_same_tree(self.path("src"), self.path("back"))
        return second


class WebdavWithoutTimesTest(StaleTestCase):
    def test_a_same_size_edit_reaches_rclone_serve_webdav_vendor_other(self):
        rclone_tools.start_webdav(self, self.rclone, self.path("davroot"), self.env)
        second = self.same_size_edit("wd:T")
        self.assertIn("copied or linked on the remote", second["message"])  # other.txt was not sent again

    def test_a_same_size_edit_reaches_apache_mod_dav(self):
        rclone_tools.start_apache(self, self.path("apache"), self.env)
        self.same_size_edit("ap:T")


class HashTest(StaleTestCase):
    def setUp(self):
        super(HashTest, self).setUp()
        self.make_tree()
        self.config("loc:" + self.path("remote"))
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")

    def damage(self, rel):
        """The remote copy of ``rel`` rewritten in place: same size, same time."""
        path = self.path("remote", FIRST, rel)
        st = os.stat(path)
        with open(path, "r+b") as f:
            data = f.read()
            f.seek(0)
            f.write(bytes(b ^ 0xFF for b in data))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    def test_the_manifest_records_each_files_md5(self):
        with open(self.path("remote", layout.manifest_name(FIRST)), "rb") as f:
            doc = json.loads(gzip.decompress(f.read()).decode())
        files = {e["path"]: e for e in doc["entries"] if e["kind"] == "file"}
        self.assertEqual(files["a.txt"]["md5"], "5d41402abc4b2a76b9719d911017c592")  # md5("hello")
        self.assertTrue(all(len(e["md5"]) == 32 for e in files.values()))

    def test_restore_reports_a_damaged_download_as_damage(self):
        self.damage("a.txt")
        code, out = self.program("backup_now.py", "--restore", "T", "--offsite", "--to", self.path("back"))
        self.assertNotEqual(code, 0, out)
        self.assertIn("1 not restored", out)
        self.assertIn("damaged", out)
        self.assertFalse(os.path.exists(self.path("back", "a.txt")))
        with open(self.path("back", "sub", "b.txt")) as f:
            self.assertEqual(f.read(), "deep")

    def test_verify_compares_the_remotes_hashes(self):
        code, out = self.program("backup_now.py", "--verify", "T", "--offsite")
        self.assertEqual(code, 0, out)
        self.assertIn("hashes", out)
        self.damage("many/f01.bin")
        code, out = self.program("backup_now.py", "--verify", "T", "--offsite")
        self.assertNotEqual(code, 0, out)
        self.assertIn("many/f01.bin", out)
        self.assertIn("content", out)


class DeepVerifyTest(StaleTestCase):
    def test_deep_verify_downloads_and_hashes_where_the_remote_gives_no_hash(self):
        rclone_tools.start_webdav(self, self.rclone, self.path("davroot"), self.env)
        self.make_tree()
        self.config("wd:T")
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")
        code, out = self.program("backup_now.py", "--verify", "T", "--offsite")
        self.assertEqual(code, 0, out)
        self.assertIn("gives no hashes", out)  # sizes only: says so, and how to check contents
        path = self.path("davroot", "T", FIRST, "a.txt")
        with open(path, "w") as f:
            f.write("HELLO")
        code, out = self.program("backup_now.py", "--verify", "T", "--offsite")
        self.assertEqual(code, 0, out)  # the same size: nothing a listing can see
        code, out = self.program("backup_now.py", "--verify", "T", "--offsite", "--deep")
        self.assertNotEqual(code, 0, out)
        self.assertIn("a.txt", out)
