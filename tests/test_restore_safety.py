"""A restore under hostile input: links in the target, untrusted ZIP
archives, names that look like the restore's own, errors before anything is
written. Each case was found by trying the program as an attacker would."""

import os
import stat
import subprocess
import sys
import unittest
import warnings
import zipfile

from task_runner.snapshots import catalog
from task_runner.restore import restorer as restore
from task_runner import snapshots
from task_runner.fs import safedir
from task_runner.errors import UsageError
from tests.helpers import ROOT, TempDirTestCase
from tests.test_integrity import can_symlink
from tests.test_restore import OLD, POSIX, RestoreBase

ZIP_NAME = "2026-11-05_10-00-00.zip"


def zip_info(name, mode, kind=stat.S_IFREG):
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.external_attr = (kind | mode) << 16
    return info


class LinkInTheTargetTest(RestoreBase):
    """A link where the snapshot has a folder is never followed."""

    def setUp(self):
        super(LinkInTheTargetTest, self).setUp()
        if not can_symlink(self.tmp):
            self.skipTest("this account cannot make symbolic links (Wine cannot at all: docs/DEVELOPMENT.md)")
        self.outside = self.path("elsewhere")
        os.makedirs(self.outside)
        os.chmod(self.outside, 0o700)
        self.write("elsewhere/keep.txt", "not yours", mtime=OLD)
        os.makedirs(self.path("out"))
        self.write("out/other.txt", "the user's own")

    def assert_outside_untouched(self):
        self.assertEqual(sorted(os.listdir(self.outside)), ["keep.txt"])
        self.assertEqual(self.read(os.path.join(self.outside, "keep.txt")), "not yours")
        if POSIX:
            self.assertEqual(stat.S_IMODE(os.stat(self.outside).st_mode), 0o700)

    def test_a_link_where_the_snapshot_has_a_folder_is_kept_aside(self):
        os.symlink(self.outside, self.path("out", "sub"), target_is_directory=True)
        got = self.restore(self.path("out"), overwrite=True)
        self.assert_outside_untouched()
        self.assertFalse(os.path.islink(self.path("out", "sub")))
        self.assertEqual(self.read(self.path("out", "sub", "keep.txt")), "same in every snapshot")
        aside = [n for n in os.listdir(self.path("out")) if n.startswith("sub.before-restore-")]
        self.assertEqual(len(aside), 1)
        self.assertTrue(os.path.islink(self.path("out", aside[0])))
        self.assertEqual(got.kept_aside, 1)

    def test_the_same_when_only_a_file_below_the_link_is_restored(self):
        os.symlink(self.outside, self.path("out", "sub"), target_is_directory=True)
        self.restore(self.path("out"), "sub/keep.txt", overwrite=True)
        self.assert_outside_untouched()
        self.assertEqual(self.read(self.path("out", "sub", "keep.txt")), "same in every snapshot")

    def test_without_keeping_the_link_is_removed_not_followed(self):
        os.symlink(self.outside, self.path("out", "sub"), target_is_directory=True)
        got = self.restore(self.path("out"), overwrite=True, keep_existing=False)
        self.assert_outside_untouched()
        self.assertFalse(os.path.islink(self.path("out", "sub")))
        self.assertEqual(got.replaced, 1)

    @unittest.skipUnless(POSIX and hasattr(os, "geteuid") and os.geteuid() == 0, "the escalation needs root")
    def test_a_link_made_by_an_ordinary_user_never_leads_root_outside(self):
        """root restores into a user's folder where the user put a link to a
        folder of root's: nothing of root's is written or chowned."""
        os.chown(self.outside, 0, 0)
        self.as_unprivileged(os.symlink, self.outside, self.path("out", "sub"))
        os.chown(self.outside, 0, 0)
        os.chown(os.path.join(self.outside, "keep.txt"), 0, 0)
        self.restore(self.path("out"), overwrite=True)
        self.assert_outside_untouched()
        self.assertEqual(os.stat(self.outside).st_uid, 0)
        self.assertEqual(os.stat(os.path.join(self.outside, "keep.txt")).st_uid, 0)

    @unittest.skipUnless(POSIX, "the fork is POSIX")
    def test_the_same_as_an_ordinary_user(self):
        os.symlink(self.outside, self.path("out", "sub"), target_is_directory=True)
        self.as_unprivileged(lambda: self.restore(self.path("out"), overwrite=True).files)
        self.assert_outside_untouched()
        self.assertEqual(self.read(self.path("out", "sub", "keep.txt")), "same in every snapshot")

    def test_a_target_that_leads_into_the_backup_folder_through_a_link_is_refused(self):
        name = catalog.choose_snapshot(self.task)
        os.symlink(self.path("dest", name), self.path("via"), target_is_directory=True)
        os.symlink(self.path("dest"), self.path("destlink"), target_is_directory=True)
        for target in (self.path("via"), self.path("destlink", "newfolder")):
            with self.assertRaises(UsageError) as ctx:
                self.restore(target, overwrite=True)
            self.assertIn("inside the backup folder", str(ctx.exception))
        self.assertFalse(os.path.exists(self.path("dest", "newfolder")))


class FolderTest(TempDirTestCase):
    """Both ways a Folder can be reached: through descriptors (POSIX) and
    by checked paths (Windows, and here with ``fd`` None)."""

    def test_a_link_is_never_passed_through_either_way(self):
        if not can_symlink(self.tmp):
            self.skipTest("this account cannot make symbolic links (Wine cannot at all)")
        os.makedirs(self.path("root", "real"))
        os.makedirs(self.path("outside"))
        os.symlink(self.path("outside"), self.path("root", "link"), target_is_directory=True)
        self.write("root/file.txt", "x")
        folders = [safedir.Folder(self.path("root"))]
        if safedir.FD_WALK:
            folders.append(safedir.Folder.open_root(self.path("root")))
        for folder in folders:
            with self.subTest(fd=folder.fd is not None):
                with self.assertRaises(safedir.LinkInTheWay):
                    folder.sub("link")
                with self.assertRaises(NotADirectoryError):
                    folder.sub("file.txt")
                with self.assertRaises(FileNotFoundError):
                    folder.sub("missing")
                inner = folder.sub("real")
                os.close(inner.create("new.txt"))
                inner.close()
                folder.close()
                os.remove(self.path("root", "real", "new.txt"))
        self.assertEqual(os.listdir(self.path("outside")), [])

    def test_a_reparse_point_counts_as_a_link_on_windows(self):
        class Stat(object):
            st_mode = stat.S_IFDIR | 0o755
            st_file_attributes = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: a junction
        self.assertEqual(safedir.is_link(Stat()), os.name == "nt")


class UntrustedZipTest(RestoreBase):
    """A ZIP snapshot on a shared drive may have been made by anyone."""

    def evil_zip(self, entries):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate names made on purpose
            with zipfile.ZipFile(self.path("dest", ZIP_NAME), "w") as zf:
                for info, data in entries:
                    zf.writestr(info, data)

    @unittest.skipUnless(POSIX, "links in a ZIP are restored as links on POSIX")
    def test_no_entry_is_written_through_a_link_entry(self):
        outside = self.path("outside")
        os.makedirs(os.path.join(outside, "d"))
        os.chmod(os.path.join(outside, "d"), 0o700)
        self.evil_zip([
            (zip_info("lnk", 0o777, stat.S_IFLNK), outside),
            (zip_info("lnk/through.txt", 0o644), "through"),
            (zip_info("d2", 0o777, stat.S_IFLNK), os.path.join(outside, "d")),
            (zip_info("d2/", 0o777, stat.S_IFDIR), ""),
            (zip_info("fine.txt", 0o644), "fine"),
        ])
        got = self.restore(self.path("out"))
        self.assertEqual(sorted(os.listdir(outside)), ["d"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(outside, "d")).st_mode), 0o700)
        self.assertEqual(self.read(self.path("out", "fine.txt")), "fine")
        self.assertEqual(got.error_count, 2, got.errors)

    @unittest.skipUnless(POSIX, "set-ID bits are POSIX")
    def test_set_id_and_sticky_bits_are_never_applied(self):
        self.evil_zip([(zip_info("suid", 0o4755), "#!/bin/sh\n"), (zip_info("sgid", 0o2755), "x"),
                       (zip_info("sticky/", 0o1777, stat.S_IFDIR), "")])
        self.restore(self.path("out"))
        self.assertEqual(stat.S_IMODE(os.stat(self.path("out", "suid")).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("out", "sgid")).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("out", "sticky")).st_mode), 0o777)

    def test_devices_and_pipes_are_not_restored(self):
        self.evil_zip([(zip_info("fifo", 0o644, stat.S_IFIFO), ""), (zip_info("ok.txt", 0o644), "ok")])
        got = self.restore(self.path("out"))
        self.assertEqual(got.error_count, 1)
        self.assertIn("fifo", got.errors[0])
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["ok.txt"])

    def test_a_duplicate_entry_is_an_error_of_that_entry_and_the_rest_goes_on(self):
        self.evil_zip([(zip_info("a.txt", 0o644), "first"), (zip_info("a.txt", 0o644), "second"),
                       (zip_info("f", 0o644), "a file"), (zip_info("f/", 0o755, stat.S_IFDIR), ""),
                       (zip_info("z.txt", 0o644), "last")])
        got = self.restore(self.path("out"))
        self.assertEqual(got.error_count, 2, got.errors)
        self.assertEqual(self.read(self.path("out", "a.txt")), "first")
        self.assertEqual(self.read(self.path("out", "z.txt")), "last")
        self.assertEqual(got.files, 3)


class OwnNamesTest(RestoreBase):
    """A restore's temporary names never meet the user's."""

    def test_a_file_named_like_a_temporary_file_is_restored(self):
        self.write("src/.doc.txt" + restore.TEMP_SUFFIX, "mine", mtime=OLD)
        self.run_at("2026-11-05T10:00:00+00:00")
        got = self.restore(self.path("out"))
        self.assertEqual(self.read(self.path("out", ".doc.txt" + restore.TEMP_SUFFIX)), "mine")
        self.assertEqual(self.read(self.path("out", "doc.txt")), "version three")
        self.assertEqual(got.files, 3)

    def test_with_overwrite_a_file_of_that_name_in_the_target_is_kept_aside(self):
        self.write("out/.doc.txt" + restore.TEMP_SUFFIX, "the user's", mtime=OLD)
        self.restore(self.path("out"), overwrite=True)
        self.assertEqual(self.read(self.path("out", ".doc.txt" + restore.TEMP_SUFFIX)), "the user's")

    def test_what_a_killed_restore_left_is_cleaned_up(self):
        staging = self.path("out", safedir.STAGING_PREFIX + "2026-11-01_00-00-00")
        os.makedirs(staging)
        self.write(os.path.join(staging, safedir.STAGING_MARK), "")
        self.write(os.path.join(staging, "1"), "half")
        if POSIX:
            os.symlink("x", os.path.join(staging, "2"))
        self.restore(self.path("out"), overwrite=True)
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["doc.txt", "sub"])

    def test_a_folder_of_that_shape_without_the_mark_is_the_users(self):
        self.write("out/" + safedir.STAGING_PREFIX + "2026-11-01_00-00-00/mine.txt", "mine")
        self.restore(self.path("out"), overwrite=True)
        self.assertEqual(self.read(self.path("out", safedir.STAGING_PREFIX + "2026-11-01_00-00-00",
                                             "mine.txt")), "mine")


class NamesAndErrorsTest(RestoreBase):
    @unittest.skipUnless(POSIX, "a backslash is a separator on Windows")
    def test_a_backslash_is_an_ordinary_character_on_posix(self):
        for name in ("trailing\\", "a\\b", "..\\dots"):
            self.write("src/" + name, name, mtime=OLD)
        self.run_at("2026-11-05T10:00:00+00:00")
        got = self.restore(self.path("out"))
        self.assertEqual(got.error_count, 0, got.errors)
        for name in ("trailing\\", "a\\b", "..\\dots"):
            self.assertEqual(self.read(self.path("out", name)), name)

    def test_a_path_not_in_the_snapshot_leaves_no_folder(self):
        with self.assertRaises(UsageError):
            self.restore(self.path("out"), "no-such.txt")
        self.assertFalse(os.path.exists(self.path("out")))

    def test_counts_are_true_without_keeping(self):
        self.restore(self.path("out"))
        got = self.restore(self.path("out"), overwrite=True, keep_existing=False)
        self.assertEqual((got.replaced, got.unchanged, got.files), (0, 2, 0))
        self.write("out/doc.txt", "changed by hand")
        got = self.restore(self.path("out"), overwrite=True, keep_existing=False)
        self.assertEqual((got.replaced, got.files, got.kept_aside), (1, 1, 0))
        self.assertEqual(self.read(self.path("out", "doc.txt")), "version three")

    def program(self, *args):
        return subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", self.config.path]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, stdin=subprocess.DEVNULL)

    @unittest.skipUnless(POSIX, "symbolic links")
    def test_a_target_is_resolved_before_it_is_normalised(self):
        name = catalog.choose_snapshot(self.task)
        os.symlink(self.path("dest", name), self.path("lk"))
        proc = self.program("--restore", "--to", os.path.join(self.path("lk"), "..", "foo"))
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)  # lk/.. is dest, not this folder
        self.assertIn("inside the backup folder", proc.stderr)
        self.assertFalse(os.path.exists(self.path("foo")) or os.path.exists(self.path("dest", "foo")))

    def test_a_mistyped_task_name_is_said_to_be_one(self):
        proc = self.program("--restore", "NOSUCH", "--to", self.path("m"))
        self.assertEqual(proc.returncode, 2)
        self.assertIn('NOSUCH is not in this copy (snapshot 2026-11-04_10-00-00), and no task is named "NOSUCH" either '
                      '(tasks: "T")', proc.stderr)

    def test_versions_of_an_empty_path_is_a_usage_error_not_a_backup(self):
        proc = self.program("--versions", "")
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertEqual(len(snapshots.list_snapshots(self.path("dest"))), 4)  # no fifth snapshot

    def test_names_never_reach_the_terminal_raw(self):
        with zipfile.ZipFile(self.path("dest", ZIP_NAME), "w") as zf:
            zf.writestr(zip_info("../\x1b[2J\x1b[31mevil\nZ: restored 99 files", 0o644), "x")
            zf.writestr(zip_info("fine\x07.txt", 0o644), "y")
        proc = self.program("restore", "--to", self.path("out"), "--dry-run")
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 3, out)
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x07", out)
        self.assertFalse([line for line in out.splitlines() if line.startswith("Z: restored")], out)
        self.assertIn("\\x1b[2J", out)

    def test_a_bad_snapshot_leaves_no_folder(self):
        proc = self.program("--restore", "--snapshot", "1999-01-01", "--to", self.path("out"))
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertFalse(os.path.exists(self.path("out")))


if __name__ == "__main__":
    unittest.main()


def patch_central(path, name, **fields):
    """Change fields of ``name``'s central directory record in the ZIP at
    ``path`` (crc, file_size), as a damaged or hostile archive would have them."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    offsets = {"crc": (16, "<I"), "file_size": (24, "<I")}
    start = 0
    while True:
        at = data.find(b"PK\x01\x02", start)
        assert at >= 0, name
        name_len = struct.unpack("<H", data[at + 28:at + 30])[0]
        if data[at + 46:at + 46 + name_len] == name.encode():
            break
        start = at + 4
    for field, value in fields.items():
        offset, fmt = offsets[field]
        data[at + offset:at + offset + 4] = struct.pack(fmt, value)
    with open(path, "wb") as f:
        f.write(data)


class DamagedZipTest(RestoreBase):
    def make_zip(self, entries):
        path = self.path("dest", ZIP_NAME)
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries:
                zf.writestr(zip_info(name, 0o644), data)
        return path

    def test_a_size_larger_than_the_data_is_an_error_not_a_padded_file(self):
        path = self.make_zip([("a", "small"), ("b", "fine")])
        patch_central(path, "a", file_size=0xFFFFFFF0)
        got = self.restore(self.path("out"))
        self.assertEqual((got.files, got.error_count), (1, 1), got.errors)
        self.assertIn("a: damaged in the backup", got.errors[0])
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["b"])

    def test_a_bad_checksum_is_an_error_of_that_entry_and_the_rest_goes_on(self):
        path = self.make_zip([("a", "one"), ("b", "two"), ("c", "three")])
        patch_central(path, "b", crc=12345)
        got = self.restore(self.path("out"))
        self.assertEqual((got.files, got.error_count), (2, 1), got.errors)
        self.assertIn("b: damaged in the backup", got.errors[0])
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["a", "c"])

    def test_a_folder_the_entries_imply_and_then_a_file_of_that_name(self):
        self.make_zip([("a/x", "below"), ("a", "a file where the folder is"), ("z", "last")])
        got = self.restore(self.path("out"))
        self.assertEqual((got.files, got.error_count, got.kept_aside), (2, 1, 0), got.errors)
        self.assertIn("a: the snapshot holds this name twice", got.errors[0])
        self.assertEqual(self.read(self.path("out", "z")), "last")


class TargetSwappedTest(RestoreBase):
    """The target folder renamed and replaced by a link while the restore
    runs: nothing after that reaches outside (folder times and modes, hard
    links, the staging folder's removal all go through the folder opened first)."""

    @unittest.skipUnless(POSIX, "symbolic links and folder descriptors")
    def test_nothing_outside_changes(self):
        self.write("src/sub/linked.txt", "one inode")
        os.link(self.path("src", "sub", "linked.txt"), self.path("src", "sub", "linked2.txt"))
        self.run_at("2026-11-05T10:00:00+00:00")
        outside = self.path("victim")
        os.makedirs(os.path.join(outside, "sub"))
        os.chmod(os.path.join(outside, "sub"), 0o700)
        self.write("victim/sub/linked.txt", "not yours")
        before = sorted(os.listdir(os.path.join(outside, "sub")))
        swapped = []

        def swap(restorer, rel):
            if not swapped:
                os.rename(self.path("out"), self.path("out.moved"))
                os.symlink(outside, self.path("out"), target_is_directory=True)
                swapped.append(rel)
        got = self.restore(self.path("out"), progress=swap)
        self.assertEqual(got.error_count, 0, got.errors)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(outside, "sub")).st_mode), 0o700)
        self.assertEqual(sorted(os.listdir(os.path.join(outside, "sub"))), before)
        self.assertEqual(os.stat(os.path.join(outside, "sub", "linked.txt")).st_nlink, 1)
        self.assertEqual(sorted(os.listdir(self.path("out.moved"))), ["doc.txt", "sub"])  # staging removed
        moved = self.path("out.moved", "sub")
        self.assertEqual(os.stat(os.path.join(moved, "linked.txt")).st_ino,
                         os.stat(os.path.join(moved, "linked2.txt")).st_ino)


class StagingInUseTest(RestoreBase):
    def test_a_staging_folder_in_use_by_another_restore_is_left_alone(self):
        from task_runner.fs import locking
        staging = self.path("out", safedir.STAGING_PREFIX + "2026-11-01_00-00-00")
        os.makedirs(staging)
        mark = self.write(os.path.join(staging, safedir.STAGING_MARK), "")
        fd = os.open(mark, os.O_RDWR)
        try:
            self.assertTrue(locking.try_lock(fd))
            self.restore(self.path("out"), overwrite=True)
            self.assertTrue(os.path.isdir(staging))
        finally:
            os.close(fd)
        self.restore(self.path("out"), overwrite=True)
        self.assertFalse(os.path.exists(staging))


class DryRunCountsTest(RestoreBase):
    @unittest.skipUnless(POSIX, "symbolic links")
    def test_a_link_in_the_way_is_counted_once(self):
        os.makedirs(self.path("elsewhere"))
        os.makedirs(self.path("out"))
        os.symlink(self.path("elsewhere"), self.path("out", "sub"))
        self.write("src/sub/two.txt", "2")
        self.write("src/sub/three.txt", "3")
        self.run_at("2026-11-05T10:00:00+00:00")
        dry = self.restore(self.path("out"), overwrite=True, dry_run=True)
        wet = self.restore(self.path("out"), overwrite=True)
        self.assertEqual((dry.kept_aside, dry.replaced), (wet.kept_aside, wet.replaced))
        self.assertEqual(wet.kept_aside, 1)


class LogTest(RestoreBase):
    def test_every_line_of_a_restore_names_its_task(self):
        with self.assertLogs("task_runner.restore.restorer", "INFO") as logs:
            self.restore(self.path("out"))
        self.assertTrue(logs.records)
        self.assertEqual({getattr(r, "task", None) for r in logs.records}, {"T"})


class MissingDriveTest(RestoreBase):
    def test_a_missing_backup_drive_is_said_as_such(self):
        import shutil
        from task_runner.errors import BackupError
        shutil.rmtree(self.path("dest"))
        with self.assertRaises(BackupError) as ctx:
            catalog.choose_snapshot(self.task)
        self.assertIn("was not found: is the backup drive plugged in?", str(ctx.exception))

    def test_versions_of_the_source_folder_itself(self):
        found = catalog.versions(self.task, "")
        self.assertEqual((len(found), found[0]["kind"], found[0]["snapshots"]), (1, "dir", 4))
