"""An unchanged file is not sent again to a remote without rclone's
server-side copies: a local folder (hard-linked here, prelink.py) and SFTP
(hard links made by the server, when it makes them). Real rclone, real
folders, real SFTP servers on 127.0.0.1."""

import hashlib
import os
import shutil
import subprocess
import unittest

from task_runner.config import load_config
from task_runner.offsite import layout, prelink, record, reuse, service, upload
from tests import rclone_tools
from tests.helpers import copy_file
from tests.test_offsite import MTIME, OffsiteTestCase, damage

FIRST, SECOND, THIRD = "2026-01-01_10-00-00", "2026-01-02_10-00-00", "2026-01-03_10-00-00"
SIZE = 64 * 1024


class ReuseTestCase(OffsiteTestCase):
    def two_snapshots(self, remote, changed="many/f03.bin", **offsite):
        """Upload snapshot FIRST of the tree, then SECOND with ``changed``
        rewritten (same size, a new time); returns the second record."""
        self.make_tree(files=10, size=SIZE)
        self.config(remote, **offsite)
        self.config_obj = load_config(self.path("config.json"))
        os.makedirs(self.path("dest"))
        shutil.copytree(self.path("src"), self.path("dest", FIRST), symlinks=True, copy_function=copy_file)
        first = self.upload()
        self.assertEqual(first["status"], "success", first)
        self.write("src/" + changed, os.urandom(SIZE), mtime=MTIME + 100)
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        with self.assertLogs("task_runner", "INFO") as logged:
            second = self.upload()
        self.assertEqual(second["status"], "success", second)
        self.said = "\n".join(logged.output)
        return second

    def upload(self):
        return service.Upload(self.config_obj, self.config_obj.tasks[0], "manual", environ=self.env).run()

    def restore_matches_src(self, where):
        shutil.rmtree(self.path("dest"))
        code, out = self.program("backup_now.py", "--restore", "T", "--offsite", "--to", self.path(where))
        self.assertEqual(code, 0, out)
        self.assert_same_tree(self.path("src"), self.path(where))


class LocalRemoteReuseTest(ReuseTestCase):
    def test_unchanged_files_are_linked_not_sent_and_survive_retention(self):
        second = self.two_snapshots("loc:" + self.path("remote"), keep={"last": 1})
        self.assertIn("(unchanged files linked on the remote from %s)" % FIRST, self.said)
        self.assertEqual(second["files"], 2, second)  # the changed file and the manifest
        self.assertLess(second["bytes"], SIZE + 2000, second)
        self.assertEqual(second["server_side_bytes"], 9 * SIZE + 9, second)  # 9 of 64 KiB, a.txt, sub/b.txt
        self.assertEqual(second["deleted"], [FIRST])  # keep last 1: the first went, its data stayed
        new = self.path("remote", SECOND)
        self.assertEqual(os.stat(os.path.join(new, "many", "f00.bin")).st_nlink, 1)  # FIRST's name is gone
        with open(os.path.join(new, "many", "f03.bin"), "rb") as a, open(self.path("src/many/f03.bin"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.restore_matches_src("back")

    def test_the_previous_snapshot_shares_unchanged_files_and_keeps_its_own_changed_one(self):
        self.two_snapshots("loc:" + self.path("remote"))
        old, new = self.path("remote", FIRST), self.path("remote", SECOND)
        same = os.stat(os.path.join(old, "many", "f00.bin")), os.stat(os.path.join(new, "many", "f00.bin"))
        self.assertEqual(same[0].st_ino, same[1].st_ino)
        self.assertEqual(same[1].st_mtime_ns, (MTIME + 2) * 10 ** 9)
        changed = os.stat(os.path.join(old, "many", "f03.bin")), os.stat(os.path.join(new, "many", "f03.bin"))
        self.assertNotEqual(changed[0].st_ino, changed[1].st_ino)
        self.assertEqual(changed[0].st_mtime_ns, (MTIME + 2) * 10 ** 9)  # the first snapshot's is untouched
        code, out = self.program("backup_now.py", "--verify", "T", "--offsite")
        self.assertEqual(code, 0, out)
        self.restore_matches_src("back")


class PlantedLinkTest(ReuseTestCase):
    """Found from outside: rclone writes a local remote by path, so a link
    planted where the next snapshot goes, or inside one an upload left half
    done, sent the whole upload elsewhere (a victim file overwritten)."""

    def setUp(self):
        super(PlantedLinkTest, self).setUp()
        if os.name == "nt":
            self.skipTest("the planted links are symbolic links")
        self.make_tree(files=4, size=10)
        self.config("loc:" + self.path("remote"))
        self.config_obj = load_config(self.path("config.json"))
        os.makedirs(self.path("dest"))
        shutil.copytree(self.path("src"), self.path("dest", FIRST), symlinks=True, copy_function=copy_file)
        self.write("victim/many/f00.bin", "VICTIM DATA")
        self.write("victim/a.txt", "VICTIM TOO")
        os.makedirs(self.path("remote"))

    def read(self, path):
        with open(path) as f:
            return f.read()

    def assert_victim_untouched(self, record):
        self.assertEqual(record["status"], "success", record)
        self.assertEqual(self.read(self.path("victim", "many", "f00.bin")), "VICTIM DATA")
        self.assertEqual(sorted(os.listdir(self.path("victim"))), ["a.txt", "many"])
        self.assertEqual(os.listdir(self.path("victim", "many")), ["f00.bin"])
        self.assertFalse(os.path.islink(self.path("remote", FIRST)))
        for folder, _, files in os.walk(self.path("dest", FIRST)):
            for name in files:
                mine = os.path.join(folder, name)
                if not os.path.islink(mine):  # links are in the manifest, not sent
                    there = os.path.join(self.path("remote", FIRST), os.path.relpath(mine, self.path("dest", FIRST)))
                    with open(mine, "rb") as a, open(there, "rb") as b:
                        self.assertEqual(a.read(), b.read(), there)

    def test_a_link_where_the_snapshot_goes(self):
        os.symlink(self.path("victim"), self.path("remote", FIRST))
        os.symlink(self.path("victim", "a.txt"), self.path("remote", layout.manifest_name(FIRST)))
        with self.assertLogs("task_runner", "WARNING") as logged:
            self.assert_victim_untouched(self.upload())
        self.assertIn("a link where the upload writes", "\n".join(logged.output))
        self.assertEqual(self.read(self.path("victim", "a.txt")), "VICTIM TOO")

    def test_a_link_inside_a_snapshot_left_half_done(self):
        os.makedirs(self.path("remote", FIRST))
        os.symlink(self.path("victim", "many"), self.path("remote", FIRST, "many"))
        os.symlink(self.path("victim", "a.txt"), self.path("remote", FIRST, "a.txt"))
        self.assert_victim_untouched(self.upload())


class LocalFolderTest(unittest.TestCase):
    def test_rclone_roots_are_spelt_as_each_os_does(self):
        cases = [(True, "//?/C:/Backups/pc1", "C:\\Backups\\pc1"),
                 (True, "//?/UNC/nas/share/pc1", "\\\\nas\\share\\pc1"),
                 (True, "D:/x", "D:\\x"),
                 (False, "/mnt/nas/pc1", "/mnt/nas/pc1")]
        for windows, root, expected in cases:
            with self.subTest(root=root):
                self.assertEqual(prelink.local_folder(root, windows), expected)


class SnapshotGoneTest(ReuseTestCase):
    def test_a_snapshot_deleted_while_it_uploads_is_said_so_not_an_internal_error(self):
        # On a local remote the new manifest is needed before rclone runs: a
        # snapshot deleted meanwhile must still end as the plain case does.
        self.two_snapshots("loc:" + self.path("remote"))
        os.makedirs(self.path("dest", "2026-01-03_10-00-00"))
        built = []

        def manifest(task_name, local, created, previous=None):
            shutil.rmtree(local)  # deleted (by keep?) while the upload reads it
            built.append(local)
            return upload._manifest(task_name, local, created, previous)
        original = upload._manifest
        upload._manifest = manifest
        try:
            record = self.upload()
        finally:
            upload._manifest = original
        self.assertEqual(len(built), 1)
        self.assertEqual(record["status"], "failed", record)
        self.assertIn("was deleted while it uploaded", record["message"])


class PrelinkTest(ReuseTestCase):
    """prelink.link_unchanged itself, on a remote someone else can write."""

    def setUp(self):
        super(PrelinkTest, self).setUp()
        if os.name == "nt":
            self.skipTest("the planted links are symbolic links")
        self.make_tree(files=4, size=10)
        self.doc = layout.build("T", self.path("src"), None)
        os.makedirs(self.path("remote"))
        shutil.copytree(self.path("src"), self.path("remote", FIRST), symlinks=True, copy_function=copy_file)
        os.makedirs(self.path("outside"))

    def link(self):
        return prelink.link_unchanged(self.path("remote"), FIRST, SECOND, self.doc, self.doc)

    def test_a_second_run_links_nothing_more(self):
        self.assertEqual(self.link(), prelink.Linked(6, 4 * 10 + 9))
        self.assertEqual(self.link(), prelink.Linked(0, 0))

    def test_a_link_planted_in_the_new_snapshot_redirects_nothing(self):
        os.makedirs(self.path("remote", SECOND))
        os.symlink(self.path("outside"), self.path("remote", SECOND, "many"))
        self.assertEqual(self.link(), prelink.Linked(2, 9))  # a.txt and sub/b.txt only
        self.assertEqual(os.listdir(self.path("outside")), [])

    def test_a_link_planted_in_the_previous_snapshot_is_not_followed(self):
        shutil.rmtree(self.path("remote", FIRST, "many"))
        shutil.copytree(self.path("src", "many"), self.path("outside", "many"), copy_function=copy_file)
        os.symlink(self.path("outside", "many"), self.path("remote", FIRST, "many"))  # a folder made a link
        os.remove(self.path("remote", FIRST, "a.txt"))
        os.symlink(self.path("src", "a.txt"), self.path("remote", FIRST, "a.txt"))  # a file made a link
        self.assertEqual(self.link(), prelink.Linked(1, 4))  # sub/b.txt only
        self.assertEqual(sorted(os.listdir(self.path("remote", SECOND))), ["sub"])
        self.assertEqual(os.stat(self.path("src", "a.txt")).st_nlink, 1)

    def test_a_remote_file_that_is_no_longer_what_was_uploaded_is_not_linked(self):
        self.write("remote/%s/a.txt" % FIRST, "HELLO", mtime=MTIME)  # same size and time, other bytes: linked
        self.write("remote/%s/sub/b.txt" % FIRST, "deeper", mtime=MTIME + 1)  # another size: not linked
        os.utime(self.path("remote", FIRST, "many", "f00.bin"), (MTIME + 50, MTIME + 50))  # another time
        self.assertEqual(self.link(), prelink.Linked(4, 5 + 3 * 10))
        self.assertFalse(os.path.exists(self.path("remote", SECOND, "sub", "b.txt")))
        self.assertFalse(os.path.exists(self.path("remote", SECOND, "many", "f00.bin")))


class SftpReuseTest(ReuseTestCase):
    def test_a_server_without_hard_links_gets_the_files_sent_once(self):
        # rclone serve sftp has no hardlink@openssh.com: rclone would download
        # and re-send every unchanged file; the probe sees it and sends them once.
        os.makedirs(self.path("served"))
        rclone_tools.start_sftp(self, self.rclone, self.path("served"), self.env)
        second = self.two_snapshots("sf:T")
        self.assertNotIn("linked on the remote's server", self.said)
        self.assertEqual(second["server_side_bytes"], 0, second)
        self.assertGreater(second["bytes"], 10 * SIZE, second)
        self.assertLess(second["bytes"], 11 * SIZE, second)  # sent once, not downloaded and sent again
        self.assertEqual(sorted(os.listdir(self.path("served", "T"))),
                         [FIRST, FIRST + layout.MANIFEST_SUFFIX, SECOND, SECOND + layout.MANIFEST_SUFFIX])
        self.restore_matches_src("back")

    def test_linking_on_an_openssh_server_runs_no_md5sum_a_file(self):
        """rclone's default check after a server-side copy asked the server
        for an md5sum of each linked file: reading all of it there (an
        unchanged re-run of 508 files took 178 s, the first upload 104 s)."""
        rclone_tools.start_openssh(self, self.path("ssh"), self.env, hashcheck=True)
        log = self.path("ssh", "md5sum.log")
        self.make_tree(files=10, size=SIZE)
        self.config("os:" + self.path("served"))
        self.config_obj = load_config(self.path("config.json"))
        os.makedirs(self.path("dest"))
        shutil.copytree(self.path("src"), self.path("dest", FIRST), symlinks=True, copy_function=copy_file)
        self.assertEqual(self.upload()["status"], "success")
        if os.path.exists(log):
            os.remove(log)
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        second = self.upload()
        self.assertEqual(second["status"], "success", second)
        self.assertEqual(second["server_side_bytes"], 10 * SIZE + 9, second)
        with open(log) if os.path.exists(log) else open(os.devnull) as f:
            asked = f.read().splitlines()
        self.assertLessEqual(len(asked), 1, asked)  # rclone's probe of the command, at most
        self.restore_matches_src("back")

    def test_an_openssh_server_links_unchanged_files(self):
        rclone_tools.start_openssh(self, self.path("ssh"), self.env)
        second = self.two_snapshots("os:" + self.path("served"))
        self.assertIn("(unchanged files linked on the remote's server from %s)" % FIRST, self.said)
        self.assertEqual(second["files"], 2, second)
        self.assertLess(second["bytes"], SIZE + 2000, second)
        self.assertEqual(second["server_side_bytes"], 9 * SIZE + 9, second)
        old, new = (os.stat(self.path("served", name, "many", "f00.bin")) for name in (FIRST, SECOND))
        self.assertEqual(old.st_ino, new.st_ino)
        self.assertNotEqual(os.stat(self.path("served", FIRST, "many", "f03.bin")).st_ino,
                            os.stat(self.path("served", SECOND, "many", "f03.bin")).st_ino)
        self.assertNotIn(reuse.LINK_PROBE, os.listdir(self.path("served")))
        self.restore_matches_src("back")


class S3ReuseTest(ReuseTestCase):
    def start(self, files=10):
        os.makedirs(self.path("s3root", "bucket"))
        port = rclone_tools.start_s3(self, self.rclone, self.path("s3root"), "KEY12345", "SECRET12345", self.env)
        rclone_tools.s3_remote(self.env, "s3", port, "KEY12345", "SECRET12345")
        self.make_tree(files=files, size=SIZE)
        self.config("s3:bucket/T")
        self.config_obj = load_config(self.path("config.json"))
        os.makedirs(self.path("dest"))
        shutil.copytree(self.path("src"), self.path("dest", FIRST), symlinks=True, copy_function=copy_file)
        self.assertEqual(self.upload()["status"], "success")

    def test_an_unchanged_re_run_asks_the_server_twice_a_file_not_three_times(self):
        """Measured (issue 30): an unchanged re-run to S3 made three requests
        a file: a HEAD of the previous object (its time is not in the
        listing), the copy, a HEAD of the copy."""
        self.start(files=40)
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        self.env["RCLONE_DUMP"] = "headers"  # rclone logs each request it makes
        with self.assertLogs("task_runner", "DEBUG") as logged:
            second = self.upload()
        self.assertEqual(second["status"], "success", second)
        self.assertEqual(second["files"], 1, second)  # the manifest
        files = sum(1 for _, _, names in os.walk(self.path("src")) for _ in names)
        requests = sum(line.count("HTTP REQUEST") for line in logged.output)
        self.assertGreaterEqual(files, 40)
        self.assertLess(requests, 2 * files + 30, "%d requests for %d files" % (requests, files))
        self.restore_matches_src("back")

    def test_a_resumed_upload_compares_what_its_earlier_try_sent_by_time(self):
        """Found from outside: a resumed upload compared sizes only, and kept
        an object replaced there (same size, a new time) since the earlier try."""
        self.start()
        self.write("src/many/f03.bin", os.urandom(SIZE), mtime=MTIME + 100)
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        target = "s3:bucket/T/%s" % SECOND
        bad = self.path("bad.bin")
        with open(bad, "wb") as f:
            f.write(os.urandom(SIZE))
        for args in (["copy", self.path("dest", SECOND), target], ["copyto", bad, target + "/many/f03.bin"]):
            subprocess.run([self.rclone] + args, env=self.env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)  # an earlier try, cut short before its manifest
        self.assertEqual(self.upload()["status"], "success")
        self.restore_matches_src("back")

    def replace_on_s3(self, rel, snapshot=FIRST):
        """Object ``rel`` of remote ``snapshot`` replaced through S3 by other
        bytes of the same size and time; returns their MD5."""
        bad = self.path("bad.bin")
        copy_file(self.path("src", rel), bad)
        damage(bad)
        self.rclone_run("copyto", "--ignore-times", bad, "s3:bucket/T/%s/%s" % (snapshot, rel))
        with open(bad, "rb") as f:
            return hashlib.md5(f.read()).hexdigest()

    def forge(self, rel, snapshot, md5=None):
        """The MD5 of ``rel`` in the manifest of remote ``snapshot`` set to
        ``md5``; without one, the object replaced too, and its MD5 written."""
        md5 = md5 or self.replace_on_s3(rel, snapshot)
        manifest = "s3:bucket/T/%s" % layout.manifest_name(snapshot)
        doc = layout.loads(self.rclone_run("cat", manifest), snapshot)
        for entry in doc["entries"]:
            if entry["path"] == rel:
                entry["md5"] = md5
        self.rclone_run("rcat", manifest, input=layout.dumps(doc))

    def rclone_run(self, *args, **kw):
        return subprocess.run([self.rclone] + list(args), env=self.env, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=60, **kw).stdout

    def test_a_file_replaced_with_its_manifests_md5_is_not_copied_forward(self):
        """Found from outside: the next upload took the previous manifest,
        and the MD5s of unchanged files, from the remote; a file replaced
        there together with its MD5 in that manifest was copied into every
        new snapshot as ours (restored with exit 0), and a manifest whose
        MD5 alone was changed passed it on (every restore refusing the good
        file)."""
        self.start()
        self.forge("many/f01.bin", FIRST)
        self.forge("many/f02.bin", FIRST, md5="0" * 32)  # the manifest alone
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        with self.assertLogs("task_runner", "INFO") as logged:
            second = self.upload()
        self.assertEqual(second["status"], "success", second)
        said = "\n".join(logged.output)
        self.assertIn("many/f01.bin", said)  # named, and sent
        self.assertNotIn("many/f02.bin", said)  # whole there: copied, and its MD5 is ours
        self.restore_matches_src("back")

    def test_a_forged_copy_is_not_copied_forward_when_no_kept_manifest_describes_it(self):
        """Found from outside: without the kept manifest of the previous
        remote snapshot (deleted here; or a newer remote snapshot's manifest
        deleted there, so that an older forged one became the previous), the
        MD5s were carried from the remote's manifest again: the forged file
        went into the new snapshot and every later one, restored with exit 0."""
        self.start()
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        self.assertEqual(self.upload()["status"], "success")
        self.forge("many/f01.bin", FIRST)
        self.rclone_run("deletefile", "s3:bucket/T/%s" % layout.manifest_name(SECOND))  # FIRST: the previous
        self.forge("many/f02.bin", FIRST)
        # Unchanged since FIRST: the engine links its files (so an MD5 of FIRST's would be carried).
        shutil.copytree(self.path("dest", FIRST), self.path("dest", THIRD), symlinks=True, copy_function=os.link)
        self.assertEqual(self.upload()["status"], "success")
        self.restore_matches_src("back")

    def test_a_damaged_file_on_s3_is_sent_again_not_copied_forward(self):
        """Found from outside: one damaged object in the previous remote
        snapshot made rclone's server-side copy fail its MD5 check, and so
        every later upload failed the same way, never healing the copy.
        Damaged here by a writer with the bucket's keys, at the same size
        and time (damaged behind a running ``rclone serve s3``, its listing
        keeps the MD5 it had: REFERENCE, "Limitations")."""
        self.start()
        bad = self.path("bad.bin")
        copy_file(self.path("src", "many", "f01.bin"), bad)
        damage(bad)
        subprocess.run([self.rclone, "copyto", "--ignore-times", bad, "s3:bucket/T/%s/many/f01.bin" % FIRST],
                       env=self.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        self.write("src/new.txt", "new", mtime=MTIME)
        shutil.copytree(self.path("src"), self.path("dest", SECOND), symlinks=True, copy_function=copy_file)
        with self.assertLogs("task_runner", "INFO") as logged:
            second = self.upload()
        self.assertEqual(second["status"], "success", second)
        said = "\n".join(logged.output)
        self.assertIn("many/f01.bin", said)  # named, as damaged in the older copy
        self.assertIn("damaged", said)
        self.assertIn("copied or linked on the remote", second["message"])  # the other files were not sent again
        self.assertIn("1 file damaged or missing in the remote copy %s sent again" % FIRST, second["message"])
        self.assertLess(second["bytes"], SIZE * 3 // 2)  # sent once (rclone had sent it already: not again)
        self.assertEqual(second["files"], 3, second)  # the damaged one, new.txt and the manifest
        self.write("src/newer.txt", "newer", mtime=MTIME)
        shutil.copytree(self.path("src"), self.path("dest", THIRD), symlinks=True, copy_function=copy_file)
        with self.assertLogs("task_runner", "INFO") as logged:
            third = self.upload()  # from SECOND, which holds the file whole
        self.assertEqual(third["status"], "success", third)
        self.assertNotIn("damaged", "\n".join(logged.output) + third["message"])
        self.restore_matches_src("back")  # the newest copy holds the file as it is here


class ResendBoundsTest(unittest.TestCase):
    def test_sending_again_keeps_within_the_uploads_time_limit(self):
        """Found from outside: offsite.timeout_minutes bounded each rclone
        command of a resend, not the upload (6 s allowed, 9.8 s taken)."""
        import logging
        import time
        from task_runner.config import Offsite
        from task_runner.offsite import rclone, resend
        from tests.helpers import make_task

        class FakeRclone(object):
            timeouts = []

            def run(self, args, stop_event=None, on_stats=None, timeout=None, **kw):
                self.timeouts.append(timeout)
                return rclone.Result(0, {}, None, "", b"")
        first = rclone.Result(1, {}, "corrupted on transfer", "", b"", ("a.bin",))
        task = make_task("/s", "/d", offsite=Offsite("s3:b/T", None, None, 1))
        with self.assertLogs("test.resend", "WARNING"):  # (the damaged file is named)
            resend.send_again(FakeRclone(), task, SECOND, ["copy"], first, FIRST, None, None, time.monotonic() - 1,
                              logging.getLogger("test.resend"))
        self.assertEqual(FakeRclone.timeouts, [0.0, 0.0])  # the time was up: each command is stopped at once


class KeptManifestTest(unittest.TestCase):
    """The manifest kept here (record.py) is used only when it is this
    account's own file, of the snapshot asked for; a link is never followed."""

    def setUp(self):
        import logging
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="task_runner_test_")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.log = logging.getLogger("test.record")
        self.doc = {"format": layout.FORMAT, "version": layout.VERSION, "task": "T", "snapshot": FIRST,
                    "created": "x", "entries": []}
        self.path = record.path_for(self.tmp, "T", "s3:bucket/T")

    def test_the_snapshot_asked_for_only(self):
        record.save(self.path, layout.dumps(self.doc), self.log)
        self.assertEqual(record.load(self.path, FIRST)["snapshot"], FIRST)
        self.assertIsNone(record.load(self.path, SECOND))
        self.assertNotEqual(self.path, record.path_for(self.tmp, "T", "s3:bucket/other"))

    @unittest.skipIf(os.name == "nt", "links and modes are POSIX here")
    def test_a_link_or_a_file_others_may_write_is_not_used(self):
        target = os.path.join(self.tmp, "elsewhere.gz")
        with open(target, "wb") as f:
            f.write(layout.dumps(self.doc))
        os.symlink(target, self.path)
        self.assertIsNone(record.load(self.path, FIRST))
        record.save(self.path, layout.dumps(dict(self.doc, task="U")), self.log)
        self.assertFalse(os.path.islink(self.path))  # the link was replaced, not written through
        with open(target, "rb") as f:
            self.assertEqual(layout.loads(f.read(), FIRST)["task"], "T")
        os.chmod(self.path, 0o666)
        self.assertIsNone(record.load(self.path, FIRST))
