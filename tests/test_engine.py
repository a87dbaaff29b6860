import errno
import os
import shutil
import stat
import threading
import time
import unittest
import zipfile

from task_runner import engine, snapshots
from task_runner.runs import runner
from task_runner.fs import fileio
from task_runner.errors import BackupError, Interrupted
from tests.helpers import UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
OLD = ts("2020-05-17T08:30:00+00:00")


def tree(root):
    """{relative path: (kind, mode bits, mtime, content or link target)}."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", None, None, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, f.read())
    return out


class FailingOps(fileio.Ops):
    """Fault injection through the engine's one seam."""

    def __init__(self, **faults):
        self.faults = faults
        self.full_fds = set()
        self.link_calls = 0

    def open_read(self, path):
        name = os.path.basename(path)
        if self.faults.get("vanish") == name:
            os.remove(path)
        if self.faults.get("deny") == name:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return super(FailingOps, self).open_read(path)

    def open_write(self, path, mode=0o666):
        fd = super(FailingOps, self).open_write(path, mode)
        if self.faults.get("disk_full") == os.path.basename(path):
            self.full_fds.add(fd)
        return fd

    @property
    def sendfile(self):
        return None if self.faults.get("no_sendfile") or self.faults.get("disk_full") else fileio.OPS.sendfile

    def write(self, fd, data):
        if fd in self.full_fds:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    def link(self, src, dst):
        error = self.faults.get("link_error")
        if error is not None:
            self.link_calls += 1
            raise OSError(error, os.strerror(error))
        return os.link(src, dst)


class SnapshotTest(TempDirTestCase):
    def setUp(self):
        super(SnapshotTest, self).setUp()
        self.src = self.path("src")
        self.dest = self.path("dest")
        os.makedirs(self.src)

    def snap(self, started=T0, task=None, **kw):
        return engine.make_snapshot(task or make_task(self.src, self.dest), started, UTC, **kw)

    def test_snapshot_equals_source(self):
        self.write("src/a.txt", "alpha", mtime=OLD)
        self.write("src/sub/deeper/b.bin", os.urandom(3 * fileio.CHUNK + 17), mtime=OLD + 1)
        self.write("src/sub/ro.txt", "read only", mtime=OLD + 2)
        os.chmod(self.path("src/sub/ro.txt"), 0o444)
        os.makedirs(self.path("src/empty/nested"))
        if os.name != "nt":
            os.chmod(self.path("src/sub/deeper/b.bin"), 0o751)
            os.symlink("../a.txt", self.path("src/sub/link"))
        for d in ("src/sub/deeper", "src/sub", "src/empty/nested", "src/empty"):
            os.utime(self.path(d), (OLD, OLD))
        result = self.snap()
        self.assertEqual(result.snapshot, self.path("dest", "2026-11-27_10-00-00"))
        self.assertEqual(tree(self.src), tree(result.snapshot))
        self.assertEqual((result.error_count, result.errors), (0, []))
        self.assertEqual(result.bytes, 5 + 3 * fileio.CHUNK + 17 + 9)
        # Beside the snapshot, where each file came from (engine/index.py).
        self.assertEqual(sorted(os.listdir(self.dest)), ["2026-11-27_10-00-00", "2026-11-27_10-00-00.index"])

    def test_second_run_in_same_second_and_stale_partial(self):
        self.write("src/a", "1")
        os.makedirs(self.path("dest", "2026-11-20_10-00-00.partial", "x"))
        self.write("dest/notes.partial", "not ours")
        self.write("dest/2026-11-20_10-00-00.txt", "not ours either")
        first = self.snap()
        second = self.snap()
        self.assertEqual(os.path.basename(second.snapshot), "2026-11-27_10-00-00_2")
        self.assertEqual(sorted(os.listdir(self.dest)), sorted([
            "2026-11-27_10-00-00", "2026-11-27_10-00-00_2", "notes.partial", "2026-11-20_10-00-00.txt",
            "2026-11-27_10-00-00.index", "2026-11-27_10-00-00_2.index"]))
        self.assertTrue(os.path.isdir(first.snapshot))

    def test_missing_source_fails_without_creating_dest(self):
        with self.assertRaises(BackupError) as ctx:
            self.snap(task=make_task(self.path("nope"), self.dest))
        self.assertIn("not found", str(ctx.exception))
        self.assertFalse(os.path.exists(self.dest))

    def test_dest_parent_missing_is_an_unplugged_drive(self):
        self.write("src/a", "1")
        with self.assertRaises(BackupError) as ctx:
            self.snap(task=make_task(self.src, self.path("drive", "backup")))
        self.assertIn("is the backup drive plugged in?", str(ctx.exception))
        self.assertFalse(os.path.exists(self.path("drive")))

    @unittest.skipIf(os.name == "nt", "a folder's mode does not stop writing on Windows")
    def test_unwritable_dest_fails(self):
        os.makedirs(self.dest)
        os.chmod(self.dest, 0o555)
        self.write("src/a", "1")

        def run():
            with self.assertRaises(BackupError) as ctx:
                self.snap()
            return str(ctx.exception)
        self.assertIn("Permission denied", self.as_unprivileged(run))

    @unittest.skipIf(os.name == "nt", "chmod 0 does not make a file unreadable on Windows (test_windows "
                     "locks one instead)")
    def test_unreadable_file_is_skipped_and_named(self):
        self.write("src/ok", "1")
        self.write("src/secret", "2")
        os.chmod(self.path("src/secret"), 0)
        result = self.as_unprivileged(self.snap)
        self.assertEqual(result.error_count, 1)
        self.assertEqual(result.errors, ["secret: permission denied"])
        self.assertEqual(os.listdir(result.snapshot), ["ok"])

    def test_permission_denied_through_the_seam(self):
        self.write("src/ok", "1")
        self.write("src/secret", "2")
        result = self.snap(ops=FailingOps(deny="secret"))
        self.assertEqual(result.errors, ["secret: permission denied"])
        self.assertEqual(os.listdir(result.snapshot), ["ok"])

    def test_vanished_file(self):
        self.write("src/ok", "1")
        self.write("src/gone", "2")
        result = self.snap(ops=FailingOps(vanish="gone"))
        self.assertEqual(result.errors, ["gone: vanished before it could be copied"])
        self.assertEqual(result.files, 1)

    def test_disk_full_fails_and_leaves_earlier_snapshots(self):
        self.write("src/a", "1")
        earlier = self.snap(started=T0 - 86400)
        before = tree(earlier.snapshot)
        self.write("src/b", "2")
        with self.assertRaises(BackupError) as ctx:
            self.snap(ops=FailingOps(disk_full="b"))
        self.assertIn("disk full", str(ctx.exception))
        self.assertEqual(sorted(os.listdir(self.dest)), [os.path.basename(earlier.snapshot),
                                                         os.path.basename(earlier.snapshot) + ".index"])
        self.assertEqual(tree(earlier.snapshot), before)

    def test_stop_event_interrupts_and_removes_partial(self):
        self.write("src/a", "1")
        stop = threading.Event()
        stop.set()
        with self.assertRaises(Interrupted):
            self.snap(stop_event=stop)
        self.assertEqual(os.listdir(self.dest), [])

    @unittest.skipIf(os.name == "nt", "symbolic links need privileges on Windows")
    def test_symlinks_are_not_followed(self):
        os.makedirs(self.path("outside"))
        self.write("outside/big", "do not copy")
        os.symlink(self.path("outside"), self.path("src", "out"))
        os.symlink(".", self.path("src", "loop"))
        os.symlink(self.path("missing"), self.path("src", "dangling"))
        result = self.snap()
        self.assertEqual(sorted(os.listdir(result.snapshot)), ["dangling", "loop", "out"])
        self.assertTrue(all(os.path.islink(os.path.join(result.snapshot, n)) for n in ("loop", "out")))
        self.assertEqual(result.error_count, 0)
        # Counted as symbolic links, not as files copied with 0 bytes.
        self.assertEqual((result.files, result.copied, result.symlinks), (3, 0, 3))
        self.assertIn("3 files (0 copied, 0 linked, 3 symbolic links)", runner.summary(result))

    @unittest.skipUnless(hasattr(os, "mkfifo"), "FIFOs are POSIX")
    def test_fifo_is_skipped_with_a_warning(self):
        os.mkfifo(self.path("src", "pipe"))
        self.write("src/a", "1")
        result = self.snap()
        self.assertEqual(result.error_count, 0)
        self.assertIn("pipe: special file", result.warnings[0])
        self.assertEqual(os.listdir(result.snapshot), ["a"])


if __name__ == "__main__":
    unittest.main()


class IncrementalTest(TempDirTestCase):
    def setUp(self):
        super(IncrementalTest, self).setUp()
        self.src, self.dest = self.path("src"), self.path("dest")
        for i in range(5):
            self.write("src/d%d/f%d.txt" % (i % 2, i), "content %d" % i, mtime=OLD + i)
        self.first = engine.make_snapshot(make_task(self.src, self.dest), T0, UTC)

    def snap(self, started=T0 + 60, ops=fileio.OPS, **task):
        return engine.make_snapshot(make_task(self.src, self.dest, **task), started, UTC, ops=ops)

    def inode(self, snapshot, rel):
        return os.stat(os.path.join(snapshot, rel)).st_ino

    @unittest.skipIf(os.name == "nt", "st_ino of a hard link is checked on POSIX; the Windows lane checks nlink")
    def test_unchanged_files_are_linked_changed_ones_copied(self):
        self.write("src/d0/f0.txt", "changed, same mtime? no", mtime=OLD + 100)
        # Same size and time as before, written in place: rsync --link-dest's
        # quick check takes it as unchanged; its inode's change time says it
        # changed since the last run, so its content is compared (index.py).
        self.write("src/d1/f1.txt", "content X", mtime=OLD + 1)
        os.chmod(self.path("src/d0/f2.txt"), 0o600)  # mode changed: copied
        second = self.snap()
        self.assertEqual((second.files, second.copied, second.linked), (5, 3, 2))
        for rel in ("d1/f3.txt", "d0/f4.txt"):
            self.assertEqual(self.inode(second.snapshot, rel), self.inode(self.first.snapshot, rel))
        for rel in ("d0/f0.txt", "d0/f2.txt", "d1/f1.txt"):
            self.assertNotEqual(self.inode(second.snapshot, rel), self.inode(self.first.snapshot, rel))
        self.assertEqual(tree(self.src), tree(second.snapshot))
        # The first snapshot did not change.
        with open(os.path.join(self.first.snapshot, "d0", "f0.txt")) as f:
            self.assertEqual(f.read(), "content 0")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.first.snapshot, "d0", "f2.txt")).st_mode),
                         stat.S_IMODE(os.stat(self.path("src/d1/f3.txt")).st_mode))

    def test_link_count_grows(self):
        second = self.snap()
        self.assertEqual((second.copied, second.linked, second.bytes_copied), (0, 5, 0))
        self.assertEqual(os.stat(os.path.join(second.snapshot, "d0", "f0.txt")).st_nlink, 2)

    def test_incremental_off_copies(self):
        second = self.snap(incremental=False)
        self.assertEqual((second.copied, second.linked), (5, 0))

    def test_never_links_against_a_partial(self):
        os.rename(self.first.snapshot, self.first.snapshot + ".partial")
        second = self.snap()
        self.assertEqual(second.linked, 0)

    def test_unsupported_links_fall_back_to_copy_once(self):
        ops = FailingOps(link_error=errno.EXDEV)
        with self.assertLogs("task_runner.engine", "WARNING") as logs:
            second = engine.make_snapshot(make_task(self.src, self.dest), T0 + 60, UTC, ops=ops)
        self.assertEqual((second.copied, second.linked, second.error_count), (5, 0, 0))
        self.assertEqual(ops.link_calls, 1)  # stopped trying after the first failure
        self.assertEqual(sum("hard links are not supported" in line for line in logs.output), 1)

    def test_file_at_link_limit_is_copied_and_links_go_on(self):
        ops = FailingOps(link_error=errno.EMLINK)
        second = engine.make_snapshot(make_task(self.src, self.dest), T0 + 60, UTC, ops=ops)
        self.assertEqual((second.copied, second.linked, second.error_count), (5, 0, 0))
        self.assertEqual(ops.link_calls, 5)  # each file tried: the limit is per file

    def test_dry_run_counts_and_writes_nothing(self):
        self.write("src/new.txt", "new")
        before = sorted(os.listdir(self.dest))
        result = engine.make_snapshot(make_task(self.src, self.dest), T0 + 60, UTC, dry_run=True)
        self.assertTrue(result.dry_run)
        self.assertIsNone(result.snapshot)
        self.assertEqual((result.files, result.copied, result.linked, result.bytes_copied), (6, 1, 5, 3))
        self.assertEqual(sorted(os.listdir(self.dest)), before)

    def test_list_snapshots_order_and_filter(self):
        for name in ("2026-11-27_10-00-00_10", "2026-11-27_10-00-00_9", "2026-11-28_00-00-00.partial",
                     "notes", "2026-11-29_00-00-00.txt"):
            os.makedirs(self.path("dest", name))
        self.write("dest/2026-11-26_00-00-00.zip", "zip")
        self.assertEqual(snapshots.list_snapshots(self.dest), [
            "2026-11-26_00-00-00.zip", "2026-11-27_10-00-00", "2026-11-27_10-00-00_9", "2026-11-27_10-00-00_10"])

    def test_empty_source_guard(self):
        for name in os.listdir(self.src):
            shutil.rmtree(os.path.join(self.src, name))
        with self.assertRaises(BackupError) as ctx:
            self.snap()
        self.assertIn("is the drive mounted?", str(ctx.exception))
        self.assertEqual(len(snapshots.list_snapshots(self.dest)), 1)
        self.assertEqual(self.snap(allow_empty=True).files, 0)


class ExcludeTest(TempDirTestCase):
    def test_excludes(self):
        src = self.path("src")
        for rel in ("keep.txt", "a.tmp", "sub/b.TMP", "sub/Thumbs.db", "node_modules/x/y.js", "cache/c/d",
                    "build/x.o", "build/deep/y.o", "logs/today", "sub/logs", "sub/keep.o"):
            self.write("src/" + rel, "x")
        patterns = ["*.tmp", "Thumbs.db", "node_modules", "cache/**", "build/*.o", "logs/"]
        result = engine.make_snapshot(make_task(src, self.path("dest"), exclude=patterns), T0, UTC)
        got = sorted(k for k, v in tree(result.snapshot).items() if v[0] == "file")
        expected = ["build/deep/y.o", "keep.txt", "sub/keep.o", "sub/logs"]
        if os.name != "nt":  # Windows matches case-insensitively: there *.tmp excludes sub/b.TMP too
            expected.append("sub/b.TMP")
        self.assertEqual(got, sorted(expected))
        self.assertNotIn("cache", os.listdir(result.snapshot))
        self.assertNotIn("node_modules", os.listdir(result.snapshot))

    def test_excluded_folder_is_not_walked(self):
        os.makedirs(self.path("src", "secret"))
        self.write("src/ok", "1")
        if os.name != "nt":
            os.chmod(self.path("src", "secret"), 0)  # walking it would be an error

        def run():
            result = engine.make_snapshot(make_task(self.path("src"), self.path("dest"), exclude=["secret/"]),
                                          T0, UTC)
            return result.error_count, os.listdir(result.snapshot)
        self.assertEqual(self.as_unprivileged(run), (0, ["ok"]))
        if os.name != "nt":  # the same folder, not excluded, is an error: the test can fail
            os.chmod(self.path("src", "secret"), 0)
            self.assertEqual(self.as_unprivileged(lambda: engine.make_snapshot(
                make_task(self.path("src"), self.path("dest")), T0 + 60, UTC).errors),
                ["secret: folder cannot be read: permission denied"])


class ZipTest(TempDirTestCase):
    def test_zip_contents_match_source(self):
        src = self.path("src")
        self.write("src/a.txt", "alpha", mtime=OLD)
        self.write("src/sub/b.bin", os.urandom(200000), mtime=OLD)
        self.write("src/ancient.txt", "1970s", mtime=ts("1975-06-01T00:00:00+00:00"))
        os.makedirs(self.path("src", "empty"))
        if os.name != "nt":
            os.symlink("a.txt", self.path("src", "link"))
        result = engine.make_snapshot(make_task(src, self.path("dest"), format="zip"), T0, UTC)
        self.assertEqual(result.snapshot, self.path("dest", "2026-11-27_10-00-00.zip"))
        self.assertEqual(os.listdir(self.path("dest")), ["2026-11-27_10-00-00.zip"])
        with zipfile.ZipFile(result.snapshot) as zf:
            self.assertIsNone(zf.testzip())
            names = set(zf.namelist())
            for rel in ("a.txt", "sub/b.bin", "ancient.txt"):
                with open(self.path("src", rel), "rb") as f:
                    self.assertEqual(zf.read(rel), f.read())
            self.assertIn("empty/", names)
            info = zf.getinfo("a.txt")
            self.assertEqual(info.date_time, time.localtime(OLD)[:6])
            self.assertEqual(zf.getinfo("ancient.txt").date_time, (1980, 1, 1, 0, 0, 0))
            self.assertEqual(zf.getinfo("sub/b.bin").compress_type, zipfile.ZIP_DEFLATED)
            if os.name != "nt":
                self.assertEqual(zf.read("link"), b"a.txt")
                self.assertTrue(stat.S_ISLNK(zf.getinfo("link").external_attr >> 16))

    def test_zip_disk_full_leaves_nothing(self):
        self.write("src/a", "x" * 1000)
        ops = FailingOps()
        original = zipfile.ZipFile.open

        def failing_open(zf, *a, **kw):
            raise OSError(errno.ENOSPC, "No space left on device")
        zipfile.ZipFile.open = failing_open
        try:
            with self.assertRaises(BackupError):
                engine.make_snapshot(make_task(self.path("src"), self.path("dest"), format="zip"), T0, UTC,
                                     ops=ops)
        finally:
            zipfile.ZipFile.open = original
        self.assertEqual(os.listdir(self.path("dest")), [])
