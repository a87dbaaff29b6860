"""An offsite copy that is never silently stale (issue 30): on a remote
that keeps no modification times and gives no hashes (WebDAV with rclone's
``vendor = other``: ``rclone serve webdav`` and Apache's mod_dav), a file
changed in place at the same size reaches the remote; the manifest records
each file's MD5; a restore checks every file it downloads against it, and
verify compares the remote's hashes (or, with --deep, downloads them)."""

import glob
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import unittest
import zipfile

from task_runner.config import load_config
from task_runner.config.values import Offsite
from task_runner.history import History
from task_runner.offsite import layout, rclone, remote as remote_side, service, upload, verify as remote_verify
from tests import rclone_tools
from tests.helpers import UTC, TempDirTestCase, copy_file, make_task, wait_for
from tests.test_offsite import MTIME, OffsiteTestCase, damage

FIRST, SECOND = "2026-01-01_10-00-00", "2026-01-02_10-00-00"


class StaleTestCase(OffsiteTestCase):
    def upload(self):
        config = load_config(self.path("config.json"))
        return service.Upload(config, config.tasks[0], "manual", environ=self.env).run()

    def snapshot(self, name):
        shutil.copytree(self.path("src"), self.path("dest", name), symlinks=True, copy_function=copy_file)

    def same_size_edit(self, remote, later=60):
        """FIRST with notes.txt "version one", SECOND with "version TWO"
        (same size, a time ``later`` seconds newer), each uploaded; then the
        remote alone is restored."""
        self.write("src/notes.txt", "version one", mtime=MTIME)
        self.write("src/other.txt", "unchanged", mtime=MTIME)
        self.config(remote)
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        first = self.upload()
        self.assertEqual(first["status"], "success", first)
        self.write("src/notes.txt", "version TWO", mtime=MTIME + later)
        self.snapshot(SECOND)
        second = self.upload()
        self.assertEqual(second["status"], "success", second)
        self.restore_matches_src()
        with open(self.path("back", "notes.txt")) as f:
            self.assertEqual(f.read(), "version TWO")
        return second

    def restore_matches_src(self):
        """The remote alone (the local snapshots deleted) restores the source."""
        shutil.rmtree(self.path("dest"))
        config = load_config(self.path("config.json"))
        _, result = remote_side.restore_remote(service.make_rclone(config, environ=self.env), config.tasks[0],
                                               None, self.path("back"))
        self.assertEqual(result.error_count, 0, result.errors)
        self.assert_same_tree(self.path("src"), self.path("back"))


class WebdavWithoutTimesTest(StaleTestCase):
    def test_a_same_size_edit_reaches_rclone_serve_webdav_vendor_other(self):
        rclone_tools.start_webdav(self, self.rclone, self.path("davroot"), self.env)
        second = self.same_size_edit("wd:T")
        self.assertIn("copied or linked on the remote", second["message"])  # other.txt was not sent again

    def test_a_same_size_edit_reaches_apache_mod_dav(self):
        rclone_tools.start_apache(self, self.path("apache"), self.env)
        self.same_size_edit("ap:T")
        with open(self.path("apache", "run", "access.log")) as f:
            requests = [line.split(" ")[:2] for line in f]
        second = [r for r in requests if SECOND in r[1]]
        # On the wire (Apache's own log): the edited file and the manifest sent, the other file copied there.
        self.assertEqual(sorted(r[1] for r in second if r[0] == "PUT"),
                         ["/T/%s.manifest.json.gz" % SECOND, "/T/%s/notes.txt" % SECOND])
        self.assertEqual([r[1] for r in requests if r[0] == "COPY"], ["/T/%s/other.txt" % FIRST])


class WithinTheRemotesPrecisionTest(StaleTestCase):
    def test_a_same_size_edit_within_a_second_reaches_rclone_serve_webdav(self):
        """Found from outside: rclone's WebDAV keeps whole seconds, and
        --copy-dest took a file edited at the same size in the same second
        for the unchanged one: copied forward, stale on the remote for good."""
        rclone_tools.start_webdav(self, self.rclone, self.path("davroot"), self.env, vendor="rclone")
        second = self.same_size_edit("wd:T", later=0.5)
        self.assertIn("copied or linked on the remote", second["message"])  # other.txt was not sent again

    def test_a_same_size_edit_at_the_same_time_reaches_crypt_over_s3(self):
        """Found from outside: crypt compares no hash, and --copy-dest took a
        file edited at the same size and time (``touch -r``) for the old one."""
        os.makedirs(self.path("s3root", "bucket"))
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        rclone_tools.crypt_remote(self.env, self.rclone, "sec", "s3:bucket/enc", "crypt-pass-1234")
        second = self.same_size_edit("sec:T", later=0)
        self.assertIn("copied or linked on the remote", second["message"])


class FolderBecameFileTest(StaleTestCase):
    def test_a_folder_that_became_a_file_does_not_fail_every_upload(self):
        """Found from outside: where --copy-dest is used (here rclone's
        WebDAV, the previous manifest written by a version without MD5s),
        a file where the previous snapshot had a folder failed the upload
        ("is a directory not a file"), and every retry after it."""
        rclone_tools.start_webdav(self, self.rclone, self.path("davroot"), self.env, vendor="rclone")
        self.write("src/x/inner.txt", "inner", mtime=MTIME)
        self.write("src/other.txt", "unchanged", mtime=MTIME)
        self.config("wd:T")
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")
        for kept in glob.glob(self.path(".locks", "offsite-*.manifest.json.gz")):
            os.remove(kept)  # as if uploaded by an older version: only the remote's manifest
        manifest = self.path("davroot", "T", FIRST + ".manifest.json.gz")
        with open(manifest, "rb") as f:
            doc = layout.loads(f.read(), FIRST)
        for entry in doc["entries"]:
            entry.pop("md5", None)
        with open(manifest, "wb") as f:
            f.write(layout.dumps(doc))
        shutil.rmtree(self.path("src", "x"))
        self.write("src/x", "now a file", mtime=MTIME + 60)
        self.snapshot(SECOND)
        second = self.upload()
        self.assertEqual(second["status"], "success", second)
        self.restore_matches_src()


class HashTest(StaleTestCase):
    def verify(self, deep=False):
        config = load_config(self.path("config.json"))
        _, differences, checked, _ = remote_verify.verify_remote(service.make_rclone(config, environ=self.env),
                                                            config.tasks[0], deep)
        return differences, checked

    def upload_tree(self, remote):
        self.make_tree()
        self.config(remote)
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")

    def restore_names_a_damaged(self):
        """restore --offsite into back: a.txt named damaged and left out, the
        rest restored, exit 3; its output."""
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 3, out)
        self.assertIn("a.txt: damaged on the remote, not restored", out)
        self.assertFalse(os.path.exists(self.path("back", "a.txt")))
        with open(self.path("back", "sub", "b.txt")) as f:
            self.assertEqual(f.read(), "deep")
        return out

    def test_md5_in_the_manifest_checked_by_verify_and_restore(self):
        self.upload_tree("loc:" + self.path("remote"))
        with open(self.path("remote", layout.manifest_name(FIRST)), "rb") as f:
            doc = json.loads(gzip.decompress(f.read()).decode())
        files = {e["path"]: e for e in doc["entries"] if e["kind"] == "file"}
        self.assertEqual(files["a.txt"]["md5"], "5d41402abc4b2a76b9719d911017c592")  # md5("hello")
        self.assertTrue(all(len(e["md5"]) == 32 for e in files.values()))
        differences, checked = self.verify()
        self.assertEqual(differences, [])
        self.assertTrue(checked.startswith("sizes and the MD5s the remote reports compared"), checked)
        self.assertIn("--deep downloads each file", checked)  # (S3 reports the MD5 recorded at upload)
        damage(self.path("remote", FIRST, "a.txt"))
        differences, _ = self.verify()
        self.assertEqual(len(differences), 1, differences)
        self.assertIn("other contents on the remote: a.txt", differences[0])
        self.assertIn("1 not restored", self.restore_names_a_damaged())
        os.remove(self.path("remote", FIRST, "sub", "b.txt"))  # was "No such file or directory"
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back2"))
        self.assertEqual(code, 3, out)
        self.assertIn("b.txt: not restored: it did not download (missing on the remote", out)

    def test_a_file_damaged_on_s3_is_named_and_the_rest_restored(self):
        """Found from outside: S3 still gave a damaged file's first MD5, so
        rclone's download failed its check, and the whole restore failed
        (exit 1, nothing restored, "the next try sends it again")."""
        os.makedirs(self.path("s3root", "bucket"))
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        self.upload_tree("s3:bucket/T")
        damage(self.path("s3root", "bucket", "T", FIRST, "a.txt"))
        self.assertNotIn("sends it again", self.restore_names_a_damaged())
        code, out = self.program("backup_now.py", "restore", "T", "a.txt", "--offsite", "--to", self.path("only"))
        self.assertEqual(code, 3, out)
        self.assertFalse(os.path.exists(self.path("only")), out)  # nothing restored: no empty folder left

    def test_a_file_damaged_under_crypt_is_named_by_restore_and_deep_verify(self):
        """Found from outside: one damaged object under a crypt remote failed
        the whole restore ("bad password?", exit 1), and verify --deep
        named no file."""
        rclone_tools.crypt_remote(self.env, self.rclone, "sec", self.path("enc"), "crypt-pass-1234")
        self.upload_tree("sec:T")
        found = [os.path.join(folder, n) for folder, _, names in os.walk(self.path("enc")) for n in names
                 if os.path.getsize(os.path.join(folder, n)) == len("hello") + 48]  # crypt's header and tag
        self.assertEqual(len(found), 1, found)  # a.txt
        damage(found[0])
        differences, _ = self.verify(deep=True)
        self.assertEqual(len(differences), 1, differences)
        self.assertIn("other contents on the remote: a.txt (rclone could not read it", differences[0])
        self.restore_names_a_damaged()

    def test_a_zip_damaged_on_the_remote_is_said_to_be_damaged_there(self):
        """Found from outside: a ZIP copy damaged on the remote restored with
        "damaged in the backup", where the backup drive's copy is whole."""
        self.write("src/a.txt", "hello " * 200, mtime=MTIME)
        self.write("src/b.txt", "other " * 200, mtime=MTIME)
        self.write_config({"rclone": self.rclone, "tasks": [{"name": "T", "src": "src", "dest": "dest",
                                                              "default": True, "format": "zip",
                                                              "offsite": "loc:" + self.path("remote")}]})
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 0, out)
        [name] = [n for n in os.listdir(self.path("remote")) if n.endswith(".zip")]
        path = self.path("remote", name)
        with open(self.path("remote", layout.manifest_name(name)), "rb") as f:
            recorded = json.loads(gzip.decompress(f.read()).decode()).get("md5")
        self.assertEqual(recorded, layout.file_md5(self.path("dest", name)))  # the ZIP's MD5, in its manifest
        self.assertEqual(self.verify(), ([], "sizes and the MD5s the remote reports compared (a cloud may report "
                                             "the MD5 it recorded at upload, not one of the data it holds now: "
                                             "--deep downloads each file and compares its MD5)"))
        st = os.stat(path)
        with zipfile.ZipFile(path) as z:  # a byte of a.txt's data, past its local header
            info = z.getinfo("a.txt")
        with open(path, "r+b") as f:
            f.seek(info.header_offset + 26)
            at = info.header_offset + 30 + sum(struct.unpack("<HH", f.read(4))) + info.compress_size // 2
            f.seek(at)
            byte = f.read(1)
            f.seek(at)
            f.write(bytes([byte[0] ^ 0xFF]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        for deep in (False, True):  # was "sizes compared (a ZIP snapshot's manifest records no hash)": []
            differences, _ = self.verify(deep)
            self.assertEqual(len(differences), 1, differences)
            self.assertIn("other contents on the remote: %s (MD5 " % name, differences[0])
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 1, out)  # checked whole first: not the ZIP uploaded, nothing restored from it
        self.assertIn("%s on the remote is not the ZIP that was uploaded (its MD5 is " % name, out)
        self.assertFalse(os.path.exists(self.path("back")), out)
        with open(self.path("remote", layout.manifest_name(name)), "rb") as f:
            doc = json.loads(gzip.decompress(f.read()).decode())
        del doc["md5"]  # a manifest of a version before: each member checked by its CRC
        with open(self.path("remote", layout.manifest_name(name)), "wb") as f:
            f.write(gzip.compress(json.dumps(doc).encode()))
        code, out = self.program("backup_now.py", "restore", "T", "--offsite", "--to", self.path("back"))
        self.assertEqual(code, 3, out)
        self.assertIn("damaged on the remote, not restored", out)
        self.assertNotIn("damaged in the backup", out)

    def test_deep_verify_downloads_and_hashes_where_the_remote_gives_no_hash(self):
        rclone_tools.start_webdav(self, self.rclone, self.path("davroot"), self.env)
        self.upload_tree("wd:T")
        differences, checked = self.verify()
        self.assertEqual(differences, [])
        self.assertIn("the remote gives no hashes; --deep downloads each file", checked)  # says so, and the cure
        damage(self.path("davroot", "T", FIRST, "a.txt"))
        self.assertEqual(self.verify()[0], [])  # the same size: nothing a listing can see
        differences, checked = self.verify(deep=True)
        self.assertEqual(checked, "each file downloaded and its MD5 compared")
        self.assertEqual(len(differences), 1, differences)
        self.assertIn("other contents on the remote: a.txt", differences[0])


class StallTest(TempDirTestCase):
    """status says when an upload has made no progress for a while (time injected)."""

    def test_an_upload_without_progress_is_named_in_status(self):
        history = History(self.path("h.json"))
        record = history.start_upload("T", "2026-01-01_10-00-00", "2026-01-01T10:00:00+00:00")
        mono, wall = [0.0], [1767261600.0]  # 2026-01-01 10:00 UTC
        progress = service._Progress(history, record, None, clock=lambda: mono[0], wall=lambda: wall[0], zone=UTC)
        for t, done in ((11, 100), (22, 200), (33, 200), (200, 200), (400, 200)):
            mono[0], wall[0] = t, 1767261600.0 + t
            progress({"bytes": done, "totalBytes": 1000})
        task = make_task(self.path("src"), self.path("dest"), offsite=Offsite("loc:/r", None, None, None))
        runs = [{"task": "T", "status": "success", "snapshot": "2026-01-01_10-00-00", "started": "x"}]
        now = 1767261600.0 + 400
        state = service.offsite_status(task, runs, history.uploads(), now)
        self.assertTrue(state["uploading"])
        self.assertEqual(state["stalled_minutes"], 6)  # no new byte since 22 s
        self.assertIn("no progress for 6 minutes", service.stall_warning(state))
        state = service.offsite_status(task, runs, history.uploads(), 1767261600.0 + 60)
        self.assertIsNone(service.stall_warning(state))


class FullRemoteTest(StaleTestCase):
    """A remote that is full (a 512 KiB tmpfs behind a local remote): the
    half-uploaded snapshot is removed before the next upload, and retention
    frees space first when the policy already lets the oldest go."""

    def setUp(self):
        super(FullRemoteTest, self).setUp()
        if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
            self.skipTest("mounting a small tmpfs needs root on Linux")
        os.makedirs(self.path("small"))
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", self.path("small")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        self.addCleanup(subprocess.run, ["umount", "-l", self.path("small")])
        os.makedirs(self.path("dest"))

    def files(self, prefix, count, size=100 * 1024):
        for i in range(count):
            self.write("src/%s%d.bin" % (prefix, i), os.urandom(size), mtime=MTIME)

    def remote_names(self):
        return sorted(os.listdir(self.path("small", "T")))

    def test_the_leftovers_of_a_full_remote_are_removed_before_the_next_upload(self):
        self.config("loc:" + self.path("small", "T"))
        self.files("a", 1)
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")
        self.files("big", 6)  # 600 KiB more: does not fit
        self.snapshot(SECOND)
        up = self.upload()
        self.assertEqual(up["status"], "failed", up)
        self.assertIn("the remote is full", up["message"])
        self.assertIn(SECOND, self.remote_names())  # half uploaded
        for i in range(6):
            os.unlink(self.path("src", "big%d.bin" % i))
        self.files("c", 2)  # 200 KiB: fits only once SECOND's leftovers are gone
        third = "2026-01-03_10-00-00"
        self.snapshot(third)
        with self.assertLogs("task_runner", "DEBUG") as logged:
            up = self.upload()
        self.assertEqual(up["status"], "success", up)
        warned = [line for line in logged.output if line.startswith("WARNING")]
        self.assertEqual(warned, [])  # (rclone's "object not found" for the manifest SECOND never had was one)
        self.assertEqual(self.remote_names(), [FIRST, layout.manifest_name(FIRST), third,
                                               layout.manifest_name(third)])

    def test_the_last_whole_copy_is_never_deleted_to_make_room(self):
        self.config("loc:" + self.path("small", "T"), keep={"last": 1})
        self.files("a", 1)
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")
        shutil.rmtree(self.path("src"))
        self.files("b", 2)
        self.snapshot(SECOND)
        self.assertEqual(self.upload()["status"], "success")
        self.assertEqual(self.remote_names(), [SECOND, layout.manifest_name(SECOND)])
        shutil.rmtree(self.path("src"))
        self.files("c", 4)  # 400 KiB of new files: fits once SECOND is gone, which is not done before it is sent
        third = "2026-01-03_10-00-00"
        self.snapshot(third)
        up = self.upload()
        self.assertEqual(up["status"], "failed", up)
        self.assertIn("the remote is full", up["message"])
        # The last whole copy is never deleted to make room: the remote still holds it, complete.
        self.assertIn(layout.manifest_name(SECOND), self.remote_names())

    def test_room_is_made_from_older_copies_only(self):
        self.config("loc:" + self.path("small", "T"), keep={"last": 1})
        self.files("a", 3)
        self.snapshot(FIRST)
        self.assertEqual(self.upload()["status"], "success")
        for i in (1, 2):
            os.unlink(self.path("src", "a%d.bin" % i))
        self.snapshot(SECOND)  # a0 linked on the remote: FIRST's a1 and a2 are what deleting FIRST frees
        self.assertEqual(self.config_keep_none_upload(), "success")
        shutil.rmtree(self.path("src"))
        self.files("c", 3)
        third = "2026-01-03_10-00-00"
        self.snapshot(third)
        up = self.upload()
        self.assertEqual(up["status"], "success", up)
        self.assertEqual(self.remote_names(), [third, layout.manifest_name(third)])
        self.restore_matches_src()

    def config_keep_none_upload(self):
        """An upload that deletes nothing (offsite keep unset), then keep back."""
        self.config("loc:" + self.path("small", "T"))
        try:
            return self.upload()["status"]
        finally:
            self.config("loc:" + self.path("small", "T"), keep={"last": 1})


class RemoteGoneTest(StaleTestCase):
    """The S3 server killed mid-upload, with the program's own rclone
    bounds (not the tests' short ones): the upload fails on its own within
    the documented two minutes (with rclone's defaults it was busy for over
    ten), and its message names the cause in rclone's words."""

    LIMIT = 120  # seconds: docs/REFERENCE.md, "A remote that is down, stalled or full"

    @unittest.skipIf(os.name == "nt", "under Wine, rclone.exe meets the killed server as 'is a file not a "
                     "directory', a cause it does not name as unreachable (docs/DEVELOPMENT.md)")
    def test_an_s3_server_killed_mid_upload_fails_the_upload_with_its_cause(self):
        rclone_tools.real_defaults(self.env)
        os.makedirs(self.path("s3root", "bucket"))
        servers = []
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env,
                                     procs=servers)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        self.write("src/big.bin", os.urandom(4 * 1024 * 1024), mtime=MTIME)
        self.config("s3:bucket/T", bwlimit="1M")
        os.makedirs(self.path("dest"))
        self.snapshot(FIRST)
        done = []
        uploader = threading.Thread(target=lambda: done.append(self.upload()))
        uploader.daemon = True
        uploader.start()
        wait_for(lambda: [u for u in History(self.path("executed_tasks.json")).uploads()
                          if u.get("status") == "running"], timeout=30)
        time.sleep(1.0)  # rclone is sending by now (1 MiB/s of 4 MiB)
        servers[0].kill()
        uploader.join(self.LIMIT)
        self.assertTrue(done, "the upload was still running %d s after the server went away" % self.LIMIT)
        self.assertEqual(done[0]["status"], "failed", done[0])
        self.assertIn("the remote cannot be reached", done[0]["message"])
        self.assertIn("connection refused", done[0]["message"].lower())  # rclone's own words (Windows: "Connection")


class BoundsTest(unittest.TestCase):
    def test_a_timeout_names_rclones_last_error(self):
        # Measured: "timed out after 1 minutes (offsite.timeout_minutes)", the cause lost.
        task = make_task("/s", "/d", offsite=Offsite("s3:b/T", None, None, 1))
        result = rclone.Result(None, {}, 'Put "http://127.0.0.1:9/b": dial tcp 127.0.0.1:9: connect: connection '
                                         'refused', "", b"")
        with self.assertRaises(rclone.RcloneError) as got:
            upload._check(None, result, FIRST, None, task)
        for words in ("timed out after 1 minutes", "the remote cannot be reached", "connection refused",
                      "resumes where it stopped"):
            self.assertIn(words, str(got.exception))

    def test_a_file_found_damaged_after_a_copy_is_named_so(self):
        # Was "an error rclone did not classify".
        said = rclone.explain(1, 'corrupted on transfer: md5 hashes differ src(S3 bucket b path T/1) "e0c8" vs '
                                 'dst(S3 bucket b path T/2) "2fd4"')
        self.assertTrue(said.startswith("a file rclone copied has another hash than its source (damaged on the "
                                        "remote, or on the way)"), said)
        self.assertNotIn("did not classify", said)

    def test_rclone_runs_with_bounds_unless_the_environment_sets_its_own(self):
        rc = rclone.Rclone("rclone", environ={"RCLONE_TIMEOUT": "5m"})
        self.assertEqual(rc.environ["RCLONE_TIMEOUT"], "5m")
        self.assertEqual(rc.environ["RCLONE_LOW_LEVEL_RETRIES"], "3")
        self.assertEqual(rc.environ["RCLONE_CONTIMEOUT"], "20s")
        self.assertEqual(rc.environ["RCLONE_RETRIES"], "1")


class CarriedHashTest(TempDirTestCase):
    def test_an_unchanged_files_md5_comes_from_the_previous_manifest_without_reading_it(self):
        self.write("prev/same.txt", "same", mtime=MTIME)
        os.makedirs(self.path("snap"))
        os.link(self.path("prev/same.txt"), self.path("snap/same.txt"))  # linked by the engine: one file
        self.write("snap/touched.txt", "abcd", mtime=MTIME + 5)
        # Edited in place with its time put back (found from outside): a file of its own, same size and time.
        self.write("prev/edited.txt", "AAAA", mtime=MTIME)
        self.write("snap/edited.txt", "ZZZZ", mtime=MTIME)
        known = {"same.txt": (4, MTIME * 10 ** 9, "0" * 32), "touched.txt": (4, MTIME * 10 ** 9, "1" * 32),
                 "edited.txt": (4, MTIME * 10 ** 9, "2" * 32)}
        doc = layout.build("T", self.path("snap"), None, known=known, previous_local=self.path("prev"))
        md5 = {e["path"]: e["md5"] for e in doc["entries"] if e["kind"] == "file"}
        self.assertEqual(md5["same.txt"], "0" * 32)  # carried: not read
        self.assertEqual(md5["touched.txt"], "e2fc714c4727ee9395f324cd2e7f331f")  # another time: read
        self.assertEqual(md5["edited.txt"], "4ddf7fd96ffcf749d2f1ee6efb64cc88")  # another file: read
