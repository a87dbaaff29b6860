import errno
import os
import stat
import threading
import unittest

from task_runner import engine
from task_runner.errors import BackupError, Interrupted
from tests.helpers import UTC, TempDirTestCase, ts

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


class FailingOps(engine.Ops):
    """Fault injection through the engine's one seam."""

    def __init__(self, **faults):
        self.faults = faults

    def open_read(self, path):
        name = os.path.basename(path)
        if self.faults.get("vanish") == name:
            os.remove(path)
        if self.faults.get("deny") == name:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return open(path, "rb")

    def open_write(self, path):
        f = open(path, "wb")
        if self.faults.get("disk_full") == os.path.basename(path):
            def write(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            f.write = write
        return f


class SnapshotTest(TempDirTestCase):
    def setUp(self):
        super(SnapshotTest, self).setUp()
        self.src = self.path("src")
        self.dest = self.path("dest")
        os.makedirs(self.src)

    def snap(self, started=T0, **kw):
        return engine.make_snapshot(self.src, self.dest, started, UTC, **kw)

    def test_snapshot_equals_source(self):
        self.write("src/a.txt", "alpha", mtime=OLD)
        self.write("src/sub/deeper/b.bin", os.urandom(3 * engine.CHUNK + 17), mtime=OLD + 1)
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
        self.assertEqual(result.bytes, 5 + 3 * engine.CHUNK + 17 + 9)
        self.assertEqual(os.listdir(self.dest), ["2026-11-27_10-00-00"])

    def test_second_run_in_same_second_and_stale_partial(self):
        self.write("src/a", "1")
        os.makedirs(self.path("dest", "2026-11-20_10-00-00.partial", "x"))
        self.write("dest/notes.partial", "not ours")
        self.write("dest/2026-11-20_10-00-00.txt", "not ours either")
        first = self.snap()
        second = self.snap()
        self.assertEqual(os.path.basename(second.snapshot), "2026-11-27_10-00-00_2")
        self.assertEqual(sorted(os.listdir(self.dest)), sorted([
            "2026-11-27_10-00-00", "2026-11-27_10-00-00_2", "notes.partial", "2026-11-20_10-00-00.txt"]))
        self.assertTrue(os.path.isdir(first.snapshot))

    def test_missing_source_fails_without_creating_dest(self):
        with self.assertRaises(BackupError) as ctx:
            engine.make_snapshot(self.path("nope"), self.dest, T0, UTC)
        self.assertIn("not found", str(ctx.exception))
        self.assertFalse(os.path.exists(self.dest))

    def test_dest_parent_missing_is_an_unplugged_drive(self):
        self.write("src/a", "1")
        with self.assertRaises(BackupError) as ctx:
            engine.make_snapshot(self.src, self.path("drive", "backup"), T0, UTC)
        self.assertIn("is the backup drive plugged in?", str(ctx.exception))
        self.assertFalse(os.path.exists(self.path("drive")))

    @unittest.skipIf(os.name == "nt" or os.geteuid() == 0, "root (or Windows) can write anywhere")
    def test_unwritable_dest_fails(self):
        os.makedirs(self.dest)
        os.chmod(self.dest, 0o555)
        self.write("src/a", "1")
        with self.assertRaises(BackupError):
            self.snap()

    @unittest.skipIf(os.name != "nt" and os.geteuid() == 0, "root can read every file")
    def test_unreadable_file_is_skipped_and_named(self):
        self.write("src/ok", "1")
        self.write("src/secret", "2")
        os.chmod(self.path("src/secret"), 0)
        result = self.snap()
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
        self.assertEqual(os.listdir(self.dest), [os.path.basename(earlier.snapshot)])
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
