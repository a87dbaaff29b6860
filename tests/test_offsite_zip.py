"""What a restore and a verify from the offsite copy say when the copy is
not what was uploaded, and which paths and tasks they take (found from
outside): a ZIP copy replaced by another snapshot's or cut short there, a
manifest copied over another, the local snapshot gone, the source folder
itself named as the path, a path of another task given without its name."""

import gzip
import json
import os
import shutil
import subprocess

from tests import rclone_tools
from tests.test_offsite import MTIME, OffsiteTestCase, damage


class RemoteZipTest(OffsiteTestCase):
    def setUp(self):
        super(RemoteZipTest, self).setUp()
        self.write_config({"rclone": self.rclone, "tasks": [{"name": "Z", "src": "src", "dest": "dest",
                                                              "default": True, "format": "zip",
                                                              "offsite": "loc:" + self.path("remote")}]})
        self.names = []
        for text in ("zdoc 1", "zdoc 2"):  # two snapshots, the same names and sizes
            self.write("src/doc.txt", text, mtime=MTIME)
            self.write("src/sub/b.txt", "deep", mtime=MTIME)
            code, out = self.program("backup_now.py")
            self.assertEqual(code, 0, out)
            self.names.append(self.uploads()[-1]["snapshot"])

    def remote(self, name, manifest=False):
        return self.path("remote", name + (".manifest.json.gz" if manifest else ""))

    def restore(self, *paths):
        return self.program("backup_now.py", "restore", "Z", *paths, "--offsite", "--to", self.path("back"))

    def test_a_zip_replaced_or_cut_short_on_the_remote_is_refused_not_restored(self):
        old, new = self.names
        shutil.copyfile(self.remote(old), self.remote(new))  # another snapshot's, its members' CRCs all right
        code, out = self.restore("doc.txt")
        self.assertEqual(code, 1, out)  # was 0: "restored 1 file" with "zdoc 1", the older version
        self.assertIn("%s on the remote is not the ZIP that was uploaded (" % new, out)
        self.assertIn("nothing was restored", out)
        self.assertFalse(os.path.exists(self.path("back")), out)
        with open(self.remote(new), "r+b") as f:
            f.truncate(100)
        code, out = self.restore()
        self.assertEqual(code, 1, out)  # was a traceback: zipfile.BadZipFile
        self.assertNotIn("Traceback", out)
        self.assertIn("(100 bytes, the manifest says", out)
        self.assertFalse(os.path.exists(self.path("back")), out)

    def test_a_manifest_copied_over_another_is_not_used(self):
        old, new = self.names
        shutil.copyfile(self.remote(old), self.remote(new))
        shutil.copyfile(self.remote(old, manifest=True), self.remote(new, manifest=True))
        code, out = self.program("backup_now.py", "verify", "Z", "--offsite")
        self.assertEqual(code, 1, out)  # was 0, "matches the local one": the pair agrees with itself
        self.assertIn("the manifest of %s is that of the snapshot %s" % (new, old), out)
        code, out = self.restore()
        self.assertEqual(code, 1, out)
        self.assertIn("the manifest of %s is that of the snapshot %s" % (new, old), out)

    def test_without_the_local_snapshot_verify_says_what_it_compared(self):
        new = self.names[-1]
        os.remove(self.path("dest", new))
        code, out = self.program("backup_now.py", "verify", "Z", "--offsite")
        self.assertEqual(code, 0, out)  # was 1, "DIFFERS: 1 difference" with every check of the remote passed
        self.assertIn("the remote snapshot %s matches its manifest (" % new, out)
        self.assertIn("%s is not in %s (deleted by retention, or the drive is not connected): not compared with a "
                      "local copy" % (new, self.path("dest")), out)
        with open(self.remote(new), "r+b") as f:
            f.seek(-30, os.SEEK_END)
            byte = f.read(1)
            f.seek(-30, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
        code, out = self.program("backup_now.py", "verify", "Z", "--offsite")
        self.assertEqual(code, 1, out)
        self.assertIn("DIFFERS from its manifest: 1 difference", out)

    def test_the_local_zip_that_differs_is_named_as_the_local_one(self):
        new = self.names[-1]
        with open(self.path("dest", new), "ab") as f:
            f.write(b"x")
        code, out = self.program("backup_now.py", "verify", "Z", "--offsite")
        self.assertEqual(code, 1, out)
        self.assertIn("the local %s and the remote's manifest of it differ: size" % new, out)

    def test_a_manifest_of_an_older_version_is_checked_by_size_and_the_members_by_their_crcs(self):
        new = self.names[-1]
        with open(self.remote(new, manifest=True), "rb") as f:
            doc = json.loads(gzip.decompress(f.read()).decode())
        self.assertEqual(len(doc.pop("md5")), 32)
        with open(self.remote(new, manifest=True), "wb") as f:
            f.write(gzip.compress(json.dumps(doc).encode()))
        code, out = self.program("backup_now.py", "verify", "Z", "--offsite", "--deep")
        self.assertEqual(code, 0, out)
        self.assertIn("sizes compared (this manifest was written before manifests recorded MD5s)", out)
        code, out = self.restore()
        self.assertEqual(code, 0, out)
        with open(self.path("back", "doc.txt")) as f:
            self.assertEqual(f.read(), "zdoc 2")


class S3ZipTest(OffsiteTestCase):
    def test_a_zip_damaged_on_s3_is_refused_with_the_same_words(self):
        os.makedirs(self.path("s3root", "bucket"))
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        self.write("src/doc.txt", "zdoc", mtime=MTIME)
        self.write_config({"rclone": self.rclone, "tasks": [{"name": "Z", "src": "src", "dest": "dest",
                                                              "default": True, "format": "zip",
                                                              "offsite": "s3:bucket/Z"}]})
        self.assertEqual(self.program("backup_now.py")[0], 0)
        name = self.uploads()[-1]["snapshot"]
        damage(self.path("s3root", "bucket", "Z", name))
        code, out = self.program("backup_now.py", "restore", "Z", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 1, out)  # (rclone refuses the download: its MD5 is not the one S3 records)
        self.assertIn("%s on the remote is not the ZIP that was uploaded (rclone could not read it" % name, out)
        self.assertIn(" [Z] rclone: ", out)  # rclone's own lines name the task (were "[-] rclone: ")
        self.assertFalse(os.path.exists(self.path("back")), out)


class PathsTest(OffsiteTestCase):
    def test_the_source_folder_itself_as_the_path_restores_everything(self):
        self.make_tree()
        self.config("loc:" + self.path("remote"))
        self.assertEqual(self.program("backup_now.py")[0], 0)
        for i, path in enumerate([".", self.path("src"), self.path("src") + os.sep]):
            with self.subTest(path=path):
                code, out = self.program("backup_now.py", "restore", "T", path, "--offsite", "--to",
                                         self.path("back%d" % i))
                self.assertEqual(code, 0, out)  # was 3: every file "did not download", nothing restored
                self.assert_same_tree(self.path("src"), self.path("back%d" % i))

    def test_an_absolute_path_finds_its_task_as_from_the_backup_drive(self):
        self.write("srcA/a.txt", "A", mtime=MTIME)
        self.write("srcB/b.txt", "B", mtime=MTIME)
        self.write_config({"rclone": self.rclone, "tasks": [
            {"name": "A", "src": "srcA", "dest": "destA", "default": True, "offsite": "loc:" + self.path("rA")},
            {"name": "B", "src": "srcB", "dest": "destB", "offsite": "loc:" + self.path("rB")}]})
        self.assertEqual(self.program("backup_now.py", "--all")[0], 0)
        code, out = self.program("backup_now.py", "restore", self.path("srcB", "b.txt"), "--offsite", "--to",
                                 self.path("back"))
        self.assertEqual(code, 0, out)  # was 2: "... is not inside the source folder ... of A"
        with open(self.path("back", "b.txt")) as f:
            self.assertEqual(f.read(), "B")


class GoneTest(OffsiteTestCase):
    def test_a_snapshot_whose_files_are_gone_from_the_remote_says_so(self):
        self.make_tree()
        self.config("loc:" + self.path("remote"))
        self.assertEqual(self.program("backup_now.py")[0], 0)
        name = self.uploads()[-1]["snapshot"]
        shutil.rmtree(self.path("remote", name))  # its manifest stays
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 1, out)
        # Was: "the folder or bucket was not found on the remote: check the "offsite" remote path".
        self.assertNotIn("remote path", out)
        self.assertIn("the files of %s are not on the remote, only its manifest" % name, out)
        self.assertFalse(os.path.exists(self.path("back")), out)

    def test_a_snapshot_whose_objects_are_gone_from_s3_says_so(self):
        """Found from outside: S3 has no folder to be missing; rclone copied
        nothing and said nothing, and each file was "not restored: it did
        not download", exit 3, a --to left holding a link and folders."""
        os.makedirs(self.path("s3root", "bucket"))
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        self.make_tree()
        self.config("s3:bucket/T")
        self.assertEqual(self.program("backup_now.py")[0], 0)
        name = self.uploads()[-1]["snapshot"]
        subprocess.run([self.rclone, "purge", "s3:bucket/T/%s" % name], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)  # its manifest stays
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 1, out)
        self.assertIn("the files of %s are not on the remote, only its manifest" % name, out)
        self.assertFalse(os.path.exists(self.path("back")), out)

    def test_a_snapshot_of_an_empty_folder_comes_back_from_s3(self):
        os.makedirs(self.path("s3root", "bucket"))
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        os.makedirs(self.path("src", "empty", "inner"))
        self.config("s3:bucket/T")
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 0, out)
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 0, out)  # (S3 holds no object of it: rclone must not be taken to say it is gone)
        self.assertTrue(os.path.isdir(self.path("back", "empty", "inner")), out)
