"""Snapshots you can trust on real-world trees: a published snapshot never
changes, metadata is kept like cp -a, one odd file never fails a run."""

import json
import os
import stat
import subprocess
import sys
import unittest
import zipfile

from task_runner import console, engine, snapshots
from task_runner.restore import verify
from task_runner.snapshots import retention, zipped as snapshot_zip
from task_runner.fs import fileio, osutil
from task_runner.engine import writers
from task_runner.config.policy import parse_policy
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
OLD = ts("2020-05-17T08:30:00+00:00")
POSIX = os.name != "nt"
ROOT_USER = POSIX and os.geteuid() == 0


def can_symlink(folder):
    path = os.path.join(folder, ".symlink-test")
    try:
        os.symlink("x", path)
        made = os.path.islink(path)
        os.unlink(path)
    except (OSError, NotImplementedError, AttributeError):
        return False
    return made


def inodes(root):
    """{(dev, inode)} of every regular file below ``root``."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(st.st_mode):
                found.add((st.st_dev, st.st_ino))
    return found


class Base(TempDirTestCase):
    def setUp(self):
        super(Base, self).setUp()
        self.src, self.dest = self.path("src"), self.path("dest")
        os.makedirs(self.src)

    def snap(self, started=T0, ops=fileio.OPS, **values):
        return engine.make_snapshot(make_task(self.src, self.dest, **values), started, UTC, ops=ops)


@unittest.skipUnless(POSIX, "symbolic links need privileges on Windows")
class PublishedSnapshotsNeverChangeTest(Base):
    def test_no_link_through_a_symlink_of_the_previous_snapshot(self):
        # d was a link to a folder outside src and dest; now it is a real
        # folder with a file of the same name, size, time and mode.
        self.write("outside/f", "live", mtime=OLD)
        os.symlink(self.path("outside"), self.path("src", "d"))
        self.write("src/keep.txt", "k", mtime=OLD)
        self.snap()
        os.remove(self.path("src", "d"))
        self.write("src/d/f", "live", mtime=OLD)
        os.chmod(self.path("src/d/f"), stat.S_IMODE(os.stat(self.path("outside/f")).st_mode))
        second = self.snap(T0 + 60)
        self.assertEqual(second.copied, 1)
        self.assertEqual(second.linked, 1)  # keep.txt
        outside = inodes(self.path("outside")) | inodes(self.src)
        self.assertFalse(inodes(second.snapshot) & outside,
                         "a file of the snapshot shares its inode with a live file")


@unittest.skipUnless(POSIX, "folder permissions are POSIX; the Windows lane tests the read-only attribute")
class RetentionPermissionsTest(Base):
    def test_retention_of_a_read_only_folder_never_changes_a_kept_file(self):
        self.write("src/ro/f.txt", "data", mtime=OLD)
        os.chmod(self.path("src/ro/f.txt"), 0o444)
        os.chmod(self.path("src/ro"), 0o555)
        task = make_task(self.src, self.dest)
        for i in range(3):
            engine.make_snapshot(task, T0 + 60 * i, UTC)
        names = snapshots.list_snapshots(self.dest)
        kept = os.path.join(self.dest, names[-1], "ro", "f.txt")
        before = os.stat(kept)

        def prune():
            return retention.apply(self.dest, parse_policy(1), T0)
        self.assertEqual(self.as_unprivileged(prune), names[:2])
        self.assertEqual(snapshots.list_snapshots(self.dest), names[2:])
        after = os.stat(kept)
        self.assertEqual((after.st_ino, stat.S_IMODE(after.st_mode), after.st_mtime_ns),
                         (before.st_ino, 0o444, before.st_mtime_ns))

    def test_a_folder_nobody_can_read_is_deleted_too(self):
        self.write("src/closed/inner/f.txt", "data", mtime=OLD)
        task = make_task(self.src, self.dest)
        first = engine.make_snapshot(task, T0, UTC)
        engine.make_snapshot(task, T0 + 60, UTC)
        os.chmod(os.path.join(first.snapshot, "closed", "inner"), 0)
        os.chmod(os.path.join(first.snapshot, "closed"), 0)
        self.assertEqual(self.as_unprivileged(lambda: retention.apply(self.dest, parse_policy(1), T0)),
                         [os.path.basename(first.snapshot)])
        self.assertFalse(os.path.lexists(first.snapshot))


@unittest.skipUnless(POSIX, "owners and set-ID bits are POSIX")
class OwnershipTest(Base):
    def setUp(self):
        super(OwnershipTest, self).setUp()
        self.prog = self.write("src/prog", "#!/bin/sh\n", mtime=OLD)

    @unittest.skipUnless(ROOT_USER, "keeping owners needs root")
    def test_root_keeps_owner_group_and_set_id(self):
        os.chown(self.prog, 65534, 65534)
        os.chmod(self.prog, 0o4755)
        os.symlink("prog", self.path("src", "link"))
        os.lchown(self.path("src", "link"), 65534, 65534)
        first = self.snap()
        st = os.lstat(os.path.join(first.snapshot, "prog"))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (65534, 65534, 0o4755))
        lst = os.lstat(os.path.join(first.snapshot, "link"))
        self.assertEqual((lst.st_uid, lst.st_gid), (65534, 65534))
        second = self.snap(T0 + 60)
        self.assertEqual(second.linked, 1)
        os.chown(self.prog, 0, 0)  # owner changed: copied again
        os.chmod(self.prog, 0o4755)
        third = self.snap(T0 + 120)
        self.assertEqual((third.linked, third.copied, third.symlinks), (0, 1, 1))

    def test_without_root_set_id_bits_are_cleared_and_links_still_work(self):
        os.chmod(self.prog, 0o6755)

        def two_runs():
            first = self.snap()
            second = self.snap(T0 + 60)
            return (stat.S_IMODE(os.stat(os.path.join(first.snapshot, "prog")).st_mode),
                    second.linked, second.copied)
        self.assertEqual(self.as_unprivileged(two_runs), (0o755, 1, 0))

    def test_zip_never_stores_set_id_bits(self):
        os.chmod(self.prog, 0o4755)
        result = self.snap(format="zip")
        with zipfile.ZipFile(result.snapshot) as zf:
            self.assertEqual(stat.S_IMODE(zf.getinfo("prog").external_attr >> 16), 0o755)


class MetadataTest(Base):
    @unittest.skipUnless(POSIX, "Windows' scandir gives no inode numbers; hard links are copied apart")
    def test_hard_links_inside_the_source_stay_hard_links(self):
        self.write("src/a/one", "shared", mtime=OLD)
        os.makedirs(self.path("src", "b"))
        os.link(self.path("src/a/one"), self.path("src/b/two"))
        self.write("src/alone", "x", mtime=OLD)
        for started in (T0, T0 + 60):  # the first run copies, the second links to it
            result = self.snap(started)
            one = os.stat(os.path.join(result.snapshot, "a", "one"))
            two = os.stat(os.path.join(result.snapshot, "b", "two"))
            self.assertEqual(one.st_ino, two.st_ino)
            self.assertEqual(result.files, 3)

    @unittest.skipUnless(sys.platform.startswith("linux"), "holes are found with SEEK_DATA on Linux")
    def test_sparse_file_stays_sparse(self):
        path = self.path("src", "disk.img")
        with open(path, "wb") as f:
            f.seek(3 * 1024 ** 3)
            f.write(b"end")
            f.seek(4096)
            f.write(b"start")
        if os.stat(path).st_blocks * 512 >= 1024 ** 2:
            self.skipTest("this file system does not make sparse files")
        result = self.snap()
        copy = os.path.join(result.snapshot, "disk.img")
        st = os.stat(copy)
        self.assertEqual(st.st_size, 3 * 1024 ** 3 + 3)
        self.assertLess(st.st_blocks * 512, 1024 ** 2)
        with open(copy, "rb") as f:
            f.seek(4096)
            self.assertEqual(f.read(5), b"start")
            f.seek(3 * 1024 ** 3)
            self.assertEqual(f.read(), b"end")
            f.seek(1024 ** 3)
            self.assertEqual(f.read(4), b"\0\0\0\0")

    def test_symlink_loops_are_recreated_as_links(self):
        if not can_symlink(self.src):
            self.skipTest("this account cannot make symbolic links")
        os.symlink("b", self.path("src", "a"))
        os.symlink("a", self.path("src", "b"))
        os.symlink("self", self.path("src", "self"))
        result = self.snap()
        self.assertEqual((result.files, result.error_count), (3, 0))
        for name, target in (("a", "b"), ("b", "a"), ("self", "self")):
            self.assertEqual(os.readlink(os.path.join(result.snapshot, name)), target)

    def test_coarse_destination_times_still_link_unchanged_files(self):
        class FatOps(fileio.Ops):
            """A destination that keeps times to 2 seconds, like FAT32."""

            def utime(self, target, ns, follow_symlinks=True):
                rounded = ns[1] - ns[1] % (2 * 10 ** 9)
                os.utime(target, ns=(rounded, rounded), follow_symlinks=follow_symlinks)
        for i in range(4):
            self.write("src/f%d" % i, "data %d" % i)
            os.utime(self.path("src/f%d" % i), ns=(OLD * 10 ** 9 + 1234567891, OLD * 10 ** 9 + 1234567891))
        first = self.snap(ops=FatOps())
        self.assertNotEqual(os.stat(os.path.join(first.snapshot, "f0")).st_mtime_ns,
                            os.stat(self.path("src/f0")).st_mtime_ns)
        with self.assertLogs("task_runner", "INFO") as logs:
            second = self.snap(T0 + 60, ops=FatOps(), )
        self.assertEqual((second.linked, second.copied), (4, 0))
        self.assertIn("keeps modification times to 2 s", "\n".join(logs.output))
        self.assertFalse(os.path.exists(os.path.join(second.snapshot, ".mtime-probe")))

    def test_exact_destination_compares_at_its_resolution(self):
        # Linux file systems keep nanoseconds; NTFS keeps 100 ns, compared to 1 us.
        step = 1 if POSIX else 1000
        self.write("src/f", "data")
        os.utime(self.path("src/f"), ns=(OLD * 10 ** 9 + 5000, OLD * 10 ** 9 + 5000))
        self.snap()
        os.utime(self.path("src/f"), ns=(OLD * 10 ** 9 + 5000 + step, OLD * 10 ** 9 + 5000 + step))
        second = self.snap(T0 + 60)
        self.assertEqual((second.linked, second.copied), (0, 1))


class SameTimeTest(Base):
    """Found from outside: a file changed a second later at the same size
    was "unchanged" to a restore back in place (not restored) and to verify
    ("matches"): a 2 s slack for every file. Now only a time kept at a
    coarser resolution (FAT, exFAT) gets one."""

    def test_table(self):
        S = 10 ** 9
        for a, b, same in [(5 * S + 123456789, 5 * S + 123456789, True),
                           (5 * S + 123456789, 6 * S + 923456789, False),  # 1.8 s apart, both fine: changed
                           (5 * S + 123456789, 5 * S + 123456700, True),   # NTFS's 100 ns
                           (5 * S + 123456789, 5 * S + 120000000, True),   # exFAT's 10 ms
                           (5 * S + 123456789, 6 * S, True),               # FAT's 2 s
                           (5 * S + 123456789, 8 * S, False)]:
            with self.subTest(a=a, b=b):
                self.assertEqual(fileio.same_mtime(a, b), same)
                self.assertEqual(fileio.same_mtime(b, a), same)

    def test_verify_and_a_restore_in_place_see_a_file_changed_a_second_later(self):
        self.write("src/m.txt", "BBBB")
        t = 1700000000 * 10 ** 9 + 250000000
        os.utime(self.path("src/m.txt"), ns=(t, t))
        task = make_task(self.path("src"), self.path("dest"))
        snapshot = engine.make_snapshot(task, T0, UTC).snapshot
        self.write("src/m.txt", "CCCC")  # same size, a second later
        os.utime(self.path("src/m.txt"), ns=(t + 10 ** 9, t + 10 ** 9))
        result = verify.verify_task(task)
        self.assertEqual((result.ok, result.changed), (False, 1), result.differences)
        from task_runner.restore import restorer
        done = restorer.restore(task, os.path.basename(snapshot), self.path("src"), ["m.txt"], overwrite=True,
                                clock=lambda: T0, zone=UTC)
        with open(self.path("src/m.txt")) as f:
            self.assertEqual(f.read(), "BBBB")
        self.assertEqual(done.unchanged, 0)


class UnchangedTest(unittest.TestCase):
    """engine's unchanged-file test, one property at a time."""

    def st(self, **fields):
        values = dict(st_mode=stat.S_IFREG | 0o644, st_size=10, st_mtime_ns=5 * 10 ** 9 + 7,
                      st_uid=1000, st_gid=1000)
        values.update(fields)
        return type("St", (), values)()

    def test_each_property(self):
        base = self.st()
        cases = [
            ("same", self.st(), 0, False, True),
            ("size", self.st(st_size=11), 0, False, False),
            ("one nanosecond", self.st(st_mtime_ns=5 * 10 ** 9 + 8), 0, False, False),
            ("same whole second", self.st(st_mtime_ns=5 * 10 ** 9), 0, False, False),
            ("within the window", self.st(st_mtime_ns=4 * 10 ** 9 + 8), 2 * 10 ** 9, False, True),
            ("at the window", self.st(st_mtime_ns=3 * 10 ** 9 + 7), 2 * 10 ** 9, False, False),
            ("mode", self.st(st_mode=stat.S_IFREG | 0o600), 0, False, False),
            ("not a file", self.st(st_mode=stat.S_IFLNK | 0o644), 0, False, False),
            ("owner ignored", self.st(st_uid=0), 0, False, True),
            ("owner kept", self.st(st_uid=0), 0, True, False),
            ("group kept", self.st(st_gid=0), 0, True, False),
        ]
        for label, old, window, owners, expected in cases:
            with self.subTest(label):
                self.assertIs(writers.unchanged(old, base, window, owners), expected)

    def test_defaults_compare_exactly_and_ignore_owners(self):
        base = self.st()
        self.assertTrue(writers.unchanged(self.st(st_uid=0, st_gid=0), base))
        self.assertFalse(writers.unchanged(self.st(st_mtime_ns=5 * 10 ** 9 + 8), base))

    def test_set_id_bits_compare_as_stored(self):
        src = self.st(st_mode=stat.S_IFREG | 0o4755)
        self.assertTrue(writers.unchanged(self.st(st_mode=stat.S_IFREG | 0o755), src, 0, False))
        self.assertFalse(writers.unchanged(self.st(st_mode=stat.S_IFREG | 0o755), src, 0, True))
        self.assertTrue(writers.unchanged(self.st(st_mode=stat.S_IFREG | 0o4755), src, 0, True))


@unittest.skipUnless(sys.platform.startswith("linux"), "names that are not UTF-8 exist on Linux")
class OddNamesTest(Base):
    BAD = "caf\udce9.txt"  # the bytes caf\xe9.txt as os.fsdecode gives them on Linux

    def test_zip_stores_a_name_that_is_not_utf8(self):
        self.write(os.path.join("src", self.BAD), "latin-1 name", mtime=OLD)
        self.write("src/ok.txt", "ok", mtime=OLD)
        result = self.snap(format="zip")
        self.assertEqual((result.files, result.error_count), (2, 0))
        with zipfile.ZipFile(result.snapshot) as zf:
            rels = {snapshot_zip.zip_entry_rel(i): i for i in zf.infolist()}
            self.assertEqual(set(rels), {self.BAD, "ok.txt"})
            self.assertEqual(zf.read(rels[self.BAD]), b"latin-1 name")
        self.assertTrue(verify.verify_task(make_task(self.src, self.dest)).ok)

    def test_an_odd_name_in_a_warning_reaches_history_and_log_printably(self):
        os.mkfifo(self.path("src", self.BAD))  # a special file: warned about, not copied
        self.write("src/ok.txt", "ok")
        config = {"tasks": [{"name": "T", "src": "src", "dest": "dest", "default": True}]}
        with open(self.path("config.json"), "w") as f:
            json.dump(config, f)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config",
                               self.path("config.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn(b"Traceback", proc.stderr)
        self.assertNotIn(b"Logging error", proc.stderr)
        warning = "caf\\xe9.txt: special file (FIFO, socket or device), not copied"
        with open(self.path("executed_tasks.json"), encoding="utf-8") as f:
            record = json.load(f)["runs"][-1]
        self.assertEqual((record["status"], record["warnings"]), ("success", [warning]))
        with open(self.path("scheduled_task_runner.log"), encoding="utf-8") as f:
            self.assertIn(warning, f.read())


class ZipTimesTest(Base):
    def test_far_future_date_is_clamped_with_a_warning(self):
        path = self.write("src/future.txt", "from 2200")
        future = ts("2200-01-01T00:00:00+00:00")
        try:
            os.utime(path, (future, future))
        except (OverflowError, OSError, ValueError):
            self.skipTest("this system cannot date a file in 2200")
        result = self.snap(format="zip")
        self.assertEqual(result.error_count, 0)
        self.assertEqual(result.warnings, [
            "future.txt: modification time 2200-01-01 cannot be stored in a ZIP archive; stored as 2107-12-31"])
        with zipfile.ZipFile(result.snapshot) as zf:
            self.assertEqual(zf.getinfo("future.txt").date_time[:3], (2107, 12, 31))

    def test_utc_time_is_stored_and_used_by_verify(self):
        self.write("src/a.txt", "a", mtime=OLD + 1)
        result = self.snap(format="zip")
        with zipfile.ZipFile(result.snapshot) as zf:
            info = zf.getinfo("a.txt")
            self.assertEqual(snapshot_zip.zip_entry_mtime(info), OLD + 1)
            # A reader that ignores the extra field still gets the local time.
            info.extra = b""
            self.assertEqual(snapshot_zip.zip_entry_mtime(info),
                             __import__("time").mktime(info.date_time + (0, 0, -1)))
        self.assertTrue(verify.verify_task(make_task(self.src, self.dest)).ok)

    def test_a_link_target_that_cannot_be_read_is_a_difference_not_a_traceback(self):
        path = self.write("src/plain.txt", "not a link")
        self.assertIsNone(verify._link_target(path))  # readlink refuses: EINVAL here, EPERM on some shares
        self.assertIsNone(verify._link_target(self.path("src", "missing")))

    def test_verify_treats_both_ends_of_a_zip_date_alike(self):
        """A 1960 file is stored as 1980 and a 2108 file as 2107: verify
        accepts both (docs/REFERENCE.md), where it once reported only 2108."""
        for name, when in (("early.txt", ts("1960-01-01T00:00:00+00:00")),
                           ("late.txt", ts("2108-01-01T00:00:00+00:00"))):
            path = self.write("src/" + name, name)
            try:
                os.utime(path, (when, when))
            except (OverflowError, OSError, ValueError):
                self.skipTest("this system cannot date a file in %s" % name)
        self.snap(format="zip")
        got = verify.verify_task(make_task(self.src, self.dest))
        self.assertTrue(got.ok, got.differences)
        for name in ("early.txt", "late.txt"):  # the same size, a time a ZIP can hold: a real change
            os.utime(self.path("src", name), (OLD, OLD))
        got = verify.verify_task(make_task(self.src, self.dest))
        self.assertEqual(got.differences, ["changed: early.txt (modification time)",
                                           "changed: late.txt (modification time)"])


class PrintableTest(unittest.TestCase):
    def test_escapes(self):
        self.assertEqual(console.printable("plain é"), "plain é")
        self.assertEqual(console.printable(os.fsdecode(b"a\xffb") if POSIX else "a\udcffb"), "a\\xffb")
        self.assertEqual(console.printable("x\ud800"), "x\\ud800")

    def test_names_round_trip_through_bytes(self):
        for name in ("plain", "café", "a\udcffb" if POSIX else "a\ud800b"):
            self.assertEqual(osutil.name_from_bytes(osutil.name_to_bytes(name)), name)


if __name__ == "__main__":
    unittest.main()
