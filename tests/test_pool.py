"""The worker pool of a folder snapshot: with several workers on a slow,
erratic disk the snapshot, the tally and the errors are those of a
one-worker run; a stop or a fatal error ends every worker and publishes
nothing."""

import errno
import os
import random
import stat
import threading
import time
import unittest

from task_runner import engine
from task_runner.fs import fileio, filesystems
from task_runner.errors import BackupError, Interrupted
from task_runner.fs.pool import Pool
from tests.helpers import UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
OLD = ts("2020-05-17T08:30:00+00:00")
POSIX = os.name != "nt"


class SlowOps(fileio.Ops):
    """A slow disk with random delays per call (up to ``most`` seconds),
    refusing to read the files named in ``deny``, calling ``hook(name)``
    on every file opened for writing."""

    def __init__(self, seed, most=0.002, deny=(), hook=None, slow=("f0", "shared")):
        self.random = random.Random(seed)
        self.most = most
        self.deny = set(deny)
        self.slow = set(slow)  # these take 0.05 s more to open: a later job overtakes them
        self.hook = hook
        self.threads = set()

    def _pause(self):
        self.threads.add(threading.current_thread().name)
        time.sleep(self.random.random() * self.most)

    def open_read(self, path):
        self._pause()
        if os.path.basename(path) in self.slow:
            time.sleep(0.1)
        if os.path.basename(path) in self.deny:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return fileio.Ops.open_read(path)

    def open_write(self, path, mode=0o666):
        self._pause()
        if self.hook is not None:
            self.hook(os.path.basename(path))
        return fileio.Ops.open_write(self, path, mode)

    def link(self, src, dst):
        self._pause()
        return os.link(src, dst)

    def lstat(self, path):
        self._pause()
        return os.lstat(path)

    def utime(self, target, ns, follow_symlinks=True):
        self._pause()
        return os.utime(target, ns=ns, follow_symlinks=follow_symlinks)


def picture(root):
    """Everything a snapshot holds that a copy must keep: per path its kind,
    mode, mtime (folders too), contents or target; and which paths share
    an inode."""
    out, inodes = {}, {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, f.read())
                inodes.setdefault(st.st_ino, []).append(rel)
    shared = sorted(sorted(group) for group in inodes.values() if len(group) > 1)
    return out, shared


class PoolTest(TempDirTestCase):
    def setUp(self):
        super(PoolTest, self).setUp()
        rng = random.Random(7)
        for d in range(6):
            for f in range(12):
                rel = "src/d%d/sub%d/f%d" % (d, f % 3, f)
                self.write(rel, "data %d %d " % (d, f) * rng.randrange(1, 300), mtime=OLD + d * 60 + f)
                os.chmod(self.path(rel), (0o600, 0o644, 0o755, 0o640)[f % 4])
        if POSIX:
            os.link(self.path("src/d0/sub0/f0"), self.path("src/d0/sub1/shared"))  # the next batch
            os.link(self.path("src/d0/sub0/f0"), self.path("src/d5/sub1/shared"))
            os.link(self.path("src/d0/sub0/f0"), self.path("src/d3/sub2/shared"))
            os.symlink("../sub0/f0", self.path("src/d1/sub1/link"))
        for folder, dirs, _ in os.walk(self.path("src"), topdown=False):
            for i, name in enumerate(dirs):
                os.utime(os.path.join(folder, name), (OLD - i, OLD - i))

    def snap(self, dest, workers, ops, started=T0, stop_event=None):
        task = make_task(self.path("src"), self.path(dest))
        return engine.make_snapshot(task, started, UTC, stop_event=stop_event, ops=ops, workers=workers)

    def tally(self, result):
        return (result.files, result.copied, result.linked, result.bytes, result.bytes_copied,
                result.symlinks, result.error_count, sorted(result.errors), sorted(result.warnings))

    def test_several_workers_make_the_one_worker_snapshot(self):
        deny = ("f5", "f11")
        for seed in range(2):
            with self.subTest(seed=seed):
                one = self.snap("one%d" % seed, 1, SlowOps(seed, deny=deny))
                ops = SlowOps(seed, deny=deny)
                many = self.snap("many%d" % seed, 4, ops)
                self.assertGreater(len(ops.threads), 1)
                self.assertEqual(picture(many.snapshot), picture(one.snapshot))
                self.assertEqual(self.tally(many), self.tally(one))
                self.assertEqual(many.error_count, 12)
                if POSIX:
                    self.write("src/d2/sub0/f0", "changed" * (seed + 2), mtime=OLD)
                    again_one = self.snap("one%d" % seed, 1, SlowOps(seed), T0 + 60)
                    again_many = self.snap("many%d" % seed, 4, SlowOps(seed), T0 + 60)
                    self.assertEqual(picture(again_many.snapshot), picture(again_one.snapshot))
                    self.assertEqual(self.tally(again_many), self.tally(again_one))
                    self.assertEqual(again_many.copied, 1 + 12)  # the changed file, the ones the first run skipped
                    self.assertEqual(picture(many.snapshot), picture(one.snapshot))  # never changed

    def test_folder_times_are_those_of_the_source(self):
        result = self.snap("dest", 4, SlowOps(1))
        for folder, dirs, _ in os.walk(self.path("src")):
            for name in dirs:
                rel = os.path.relpath(os.path.join(folder, name), self.path("src"))
                self.assertEqual(os.stat(os.path.join(result.snapshot, rel)).st_mtime_ns,
                                 os.stat(os.path.join(self.path("src"), rel)).st_mtime_ns, rel)

    def test_the_progress_tally_ends_as_the_result(self):
        seen = []
        task = make_task(self.path("src"), self.path("dest"))
        result = engine.make_snapshot(task, T0, UTC, ops=SlowOps(4), workers=4,
                                      progress=lambda stats, rel: seen.append((stats, rel)))
        stats = seen[-1][0]
        self.assertEqual(len(seen), 72 + 3 * POSIX)  # each file once (3 more names of f0), from the walk
        self.assertEqual((stats.files, stats.copied, stats.linked, stats.bytes, stats.bytes_copied),
                         (result.files, result.copied, result.linked, result.bytes, result.bytes_copied))

    def assert_nothing_left(self, dest):
        self.assertEqual(os.listdir(self.path(dest)), [])
        self.assertEqual([t.name for t in threading.enumerate() if t.name.startswith("copy-")], [])

    def test_a_stop_in_the_middle_ends_every_worker_and_publishes_nothing(self):
        stop = threading.Event()
        seen = []

        def hook(name):
            seen.append(name)
            if len(seen) == 20:
                stop.set()
        with self.assertRaises(Interrupted):
            self.snap("dest", 4, SlowOps(2, hook=hook), stop_event=stop)
        self.assert_nothing_left("dest")

    def test_a_fatal_error_in_a_worker_fails_the_run_and_publishes_nothing(self):
        def hook(name):
            if name == "f7":
                raise OSError(errno.ENOSPC, "No space left on device")
        with self.assertRaises(BackupError) as caught:
            self.snap("dest", 4, SlowOps(3, hook=hook))
        self.assertIn("disk full", str(caught.exception))
        self.assert_nothing_left("dest")


class PoolUnitTest(unittest.TestCase):
    def test_one_worker_runs_each_job_at_once_in_the_calling_thread(self):
        seen = []
        pool = Pool(1)
        pool.submit("a", lambda: seen.append(threading.current_thread().name))
        self.assertEqual(seen, [threading.current_thread().name])
        pool.finish()

    def test_jobs_of_different_folders_go_to_different_workers(self):
        seen = {}
        gate = threading.Barrier(3, timeout=10)

        def job(folder):
            seen[folder] = threading.current_thread().name
            gate.wait()  # all three folders at once, or the barrier breaks
        pool = Pool(3)
        for folder in ("a", "b", "c"):
            pool.submit(folder, lambda folder=folder: job(folder))
        pool.finish()
        self.assertEqual(len(set(seen.values())), 3)

    def test_the_first_error_is_raised_in_the_submitting_thread(self):
        pool = Pool(2)

        def fail():
            raise ValueError("boom")
        pool.submit("a", fail)
        with self.assertRaises(ValueError):
            pool.finish()

    def test_every_worker_runs_at_low_priority(self):
        from tests.test_priority import current_priority
        before = current_priority()
        seen = []
        pool = Pool(3, low_priority=True)
        for folder in range(6):
            pool.submit(folder, lambda: seen.append(current_priority()))
        pool.finish()
        self.assertEqual(current_priority(), before)
        self.assertEqual(len(seen), 6)
        for during in seen:
            if os.name != "nt":
                self.assertNotEqual(during, before)



class WorkersTest(unittest.TestCase):
    MOUNTINFO = "\n".join([
        r"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        r"40 22 0:35 / /mnt/nas rw,relatime shared:20 - cifs //nas/backup rw,vers=3.1.1",
        r"41 22 0:36 / /mnt/my\040share rw - fuse.sshfs user@host:/srv rw,user_id=0",
        r"42 40 0:37 / /mnt/nas/local rw - tmpfs tmpfs rw",
        r"garbage line",
    ])

    @unittest.skipIf(os.name == "nt", "/proc/self/mountinfo and its / paths are Linux's")
    def test_the_mount_holding_a_path_decides(self):
        for path, kind in (("/", "ext4"), ("/home/x", "ext4"), ("/mnt/nas", "cifs"), ("/mnt/nas/b/c", "cifs"),
                           ("/mnt/nasty", "ext4"), ("/mnt/my share/b", "fuse.sshfs"),
                           ("/mnt/nas/local/x", "tmpfs")):
            with self.subTest(path=path):
                self.assertEqual(filesystems.mount_type(path, self.MOUNTINFO), kind)

    def test_auto_is_one_worker_on_a_local_disk_and_more_on_a_share(self):
        from task_runner.fs.pool import AUTO_NETWORK, workers_for
        self.assertEqual(workers_for("auto", None)[0], 1)
        self.assertIn("local disk", workers_for("auto", None)[1])
        count, why = workers_for("auto", "fuse.sshfs")
        self.assertEqual(count, AUTO_NETWORK)
        self.assertGreater(count, 1)
        self.assertIn("network file system, fuse.sshfs", why)
        self.assertEqual(workers_for(3, "cifs")[0], 3)
        self.assertEqual(workers_for(1, None), (1, '"parallel": 1'))

    @unittest.skipUnless(os.name == "nt", "UNC paths and drive types are Windows'")
    def test_a_unc_path_is_a_share_and_a_local_drive_is_not(self):
        # A mapped network drive (DRIVE_REMOTE) cannot be made under Wine: that branch is untested.
        for path in (r"\\nas\backup\pc", "//nas/backup", r"\\?\UNC\nas\backup"):
            self.assertEqual(filesystems.network_filesystem(path), "a UNC path", path)
        self.assertIsNone(filesystems.network_filesystem(os.path.abspath(os.curdir)))

    @unittest.skipIf(os.name == "nt", "no mountinfo on Windows")
    def test_a_local_folder_is_not_a_network_file_system(self):
        self.assertIsNone(filesystems.network_filesystem(os.path.abspath(os.curdir)))


class EngineWorkersTest(TempDirTestCase):
    def test_the_choice_is_logged_once_with_its_reason(self):
        self.write("src/a", "1")
        for parallel, expected in (("auto", "1 worker copying: the destination is on a local disk"),
                                   (5, '5 workers copying: "parallel": 5')):
            with self.subTest(parallel=parallel):
                task = make_task(self.path("src"), self.path("dest%s" % parallel), parallel=parallel)
                with self.assertLogs("task_runner", "INFO") as logs:
                    engine.make_snapshot(task, T0, UTC)
                lines = [line for line in logs.output if "copying:" in line]
                self.assertEqual(len(lines), 1, logs.output)
                self.assertIn(expected, lines[0])


if __name__ == "__main__":
    unittest.main()
