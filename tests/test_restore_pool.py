"""Restore and verify through the worker pool: with several workers on a
slow, erratic disk the restored tree, the counts, the actions and the
errors are those of a one-worker run; a stop or a fatal error ends every
worker and leaves no half-written file and no staging folder."""

import errno
import glob
import os
import random
import shutil
import threading
import time
import unittest

from task_runner import engine, snapshots
from task_runner.restore import restorer as restore, verify
from task_runner.fs import fileio, safedir
from task_runner.errors import BackupError, Interrupted
from tests.helpers import UTC, TempDirTestCase, make_task
from tests.test_pool import OLD, POSIX, T0, picture

DENIED = b"DENY"  # a file whose data starts so cannot be written (not a fatal error)


class SlowWrites(fileio.Ops):
    """A slow disk: each write waits up to ``most`` seconds (at random);
    data starting with DENIED is refused; ``hook()`` hears of each write."""

    sendfile = None  # every chunk through write

    def __init__(self, seed, most=0.002, hook=None):
        self.random = random.Random(seed)
        self.most, self.hook = most, hook
        self.threads = set()

    def write(self, fd, data):
        self.threads.add(threading.current_thread().name)
        time.sleep(self.random.random() * self.most)
        if bytes(data[:len(DENIED)]) == DENIED:
            raise PermissionError(errno.EACCES, "Permission denied")
        if self.hook is not None:
            self.hook()
        return os.write(fd, data)


class Tree(TempDirTestCase):
    """A source of 5 folders of 10 files (4 refused by SlowWrites), hard
    links and a symbolic link, and its snapshots."""

    def setUp(self):
        super(Tree, self).setUp()
        rng = random.Random(5)
        for d in range(5):
            for f in range(10):
                rel = "src/d%d/sub%d/f%d" % (d, f % 3, f)
                data = (DENIED if f in (4, 9) and d < 2 else b"") + b"data %d %d " % (d, f) * rng.randrange(1, 300)
                self.write(rel, data, mtime=OLD + d * 60 + f)
                os.chmod(self.path(rel), (0o600, 0o644, 0o755, 0o640)[f % 4])
        if POSIX:
            for other in ("d0/sub1/shared", "d4/sub1/shared", "d2/sub2/shared"):
                os.link(self.path("src/d0/sub0/f0"), self.path("src", other))
            os.symlink("../sub0/f0", self.path("src/d1/sub1/link"))
        for folder, dirs, _ in os.walk(self.path("src"), topdown=False):
            for i, name in enumerate(dirs):
                os.utime(os.path.join(folder, name), (OLD - i, OLD - i))

    def task(self, parallel, fmt="folder"):
        return make_task(self.path("src"), self.path("dest-" + fmt), parallel=parallel, format=fmt)

    def snapshot(self, fmt="folder"):
        result = engine.make_snapshot(self.task(1, fmt), T0, UTC, workers=1)
        return os.path.basename(result.snapshot)

    def restore(self, target, workers, ops, fmt="folder", **kw):
        name = snapshots.list_snapshots(self.task(1, fmt).dest)[-1]
        return restore.restore(self.task(workers, fmt), name, self.path(target), ops=ops, clock=lambda: T0,
                               zone=UTC, **kw)



class RestorePoolTest(Tree):
    def assert_same(self, many, one):
        self.assertEqual(picture(many.target), picture(one.target))
        # files .. actions, renamed: all but the snapshot and the target
        self.assertEqual(many._replace(snapshot=None, target=None), one._replace(snapshot=None, target=None))

    def test_several_workers_restore_what_one_does(self):
        for fmt in ("folder", "zip"):
            self.snapshot(fmt)
            for seed in range(2):
                with self.subTest(fmt=fmt, seed=seed):
                    one = self.restore("one-%s-%d" % (fmt, seed), 1, SlowWrites(seed), fmt)
                    ops = SlowWrites(seed)
                    many = self.restore("many-%s-%d" % (fmt, seed), 4, ops, fmt)
                    self.assertGreater(len(ops.threads), 1)
                    self.assert_same(many, one)
                    self.assertEqual(many.error_count, 4)
                    self.assertEqual(len(many.errors), 4)

    def test_workers_reading_one_zip_at_once_restore_every_file(self):
        # Found by CI on Python 3.13: zipfile's shared file is not safe for threads; a member opened
        # while another was read failed as "Overlapped entries (possible zip bomb)" and was not restored.
        self.snapshot("zip")
        for round_ in range(10):
            with self.subTest(round_=round_):
                many = self.restore("many-%d" % round_, 4, SlowWrites(round_, most=0.0005), "zip")
                self.assertEqual(many.error_count, 4, many.errors)  # the 4 refused ones only

    def test_an_overwrite_with_several_workers_keeps_aside_what_one_does(self):
        self.snapshot()
        first = {}
        for target, workers in (("one", 1), ("many", 4)):
            first[target] = self.restore(target, workers, SlowWrites(1))
            self.write(target + "/d1/sub0/f0", "changed by the user", mtime=T0)
            self.write(target + "/d3/sub2/f2", "changed too, longer", mtime=T0)
            os.remove(self.path(target, "d2", "sub1", "f1"))
            shutil.rmtree(self.path(target, "d4", "sub0"))
            self.write(target + "/d4/sub0", "a file where a folder was", mtime=T0)
            os.utime(self.path(target, "d4"), (T0, T0))
        one = self.restore("one", 1, SlowWrites(2), overwrite=True)
        many = self.restore("many", 4, SlowWrites(2), overwrite=True)
        self.assert_same(many, one)
        self.assertEqual(many.kept_aside, 3)
        self.assertGreater(many.unchanged, 30)

    def test_each_worker_stages_in_a_folder_of_its_own(self):
        # A share's server makes the files of one folder one at a time.
        self.snapshot()
        seen = set()

        def hook():
            for staging in glob.glob(self.path("out", safedir.STAGING_PREFIX + "*")):
                seen.update(name for name in os.listdir(staging) if name.startswith("w"))
        self.restore("out", 4, SlowWrites(8, hook=hook))
        self.assertGreater(len(seen), 1)

    @unittest.skipUnless(POSIX and os.geteuid() == 0, "giving files any owner needs root")
    def test_owners_come_back_whether_or_not_a_new_file_has_them_already(self):
        os.chown(self.path("src/d1/sub0/f0"), 1234, 5678)
        os.chown(self.path("src/d2/sub1/f1"), 0, 5678)
        os.chown(self.path("src/d3/sub2/f2"), 1234, 0)
        os.chmod(self.path("src/d3/sub2/f2"), 0o4755)  # set-user-ID: kept once the owner is set
        self.snapshot()
        for workers in (1, 4):
            result = self.restore("out%d" % workers, workers, SlowWrites(6))
            for rel in ("d1/sub0/f0", "d2/sub1/f1", "d3/sub2/f2", "d0/sub0/f0"):
                src, out = os.stat(self.path("src", rel)), os.stat(os.path.join(result.target, rel))
                self.assertEqual((out.st_uid, out.st_gid, out.st_mode), (src.st_uid, src.st_gid, src.st_mode))

    @unittest.skipUnless(POSIX, "descriptor limits (RLIMIT_NOFILE) are POSIX")
    def test_files_waiting_for_a_worker_hold_no_descriptor_each(self):
        import resource
        for f in range(600):
            self.write("src/many/f%d" % f, "data %d" % f)
        self.snapshot()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 60, hard))
        try:
            result = self.restore("out", 4, SlowWrites(7, most=0.004))
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.assertEqual([e for e in result.errors if "Permission denied" not in e], [])
        self.assertEqual(result.error_count, 4)  # the DENIED files only

    def assert_no_worker_and_nothing_half_written(self, target):
        self.assertEqual([t.name for t in threading.enumerate() if t.name.startswith("copy-")], [])
        snap = os.path.join(self.task(1).dest, snapshots.list_snapshots(self.task(1).dest)[-1])
        for folder, dirs, files in os.walk(self.path(target)):
            for name in dirs + files:
                self.assertFalse(name.startswith(safedir.STAGING_PREFIX), name)
            for name in files:
                rel = os.path.relpath(os.path.join(folder, name), self.path(target))
                if os.path.islink(os.path.join(folder, name)):
                    # Found by CI: a link placed before the fatal error points at a file that was not.
                    self.assertEqual(os.readlink(os.path.join(folder, name)), os.readlink(os.path.join(snap, rel)))
                    continue
                with open(os.path.join(folder, name), "rb") as a, open(os.path.join(snap, rel), "rb") as b:
                    self.assertEqual(a.read(), b.read(), rel)  # each file whole or absent

    def test_a_stop_in_the_middle_ends_every_worker(self):
        self.snapshot()
        stop, writes = threading.Event(), []

        def hook():
            writes.append(1)
            if len(writes) == 15:
                stop.set()
        with self.assertRaises(Interrupted) as caught:
            self.restore("out", 4, SlowWrites(3, hook=hook), stop_event=stop)
        self.assert_no_worker_and_nothing_half_written("out")
        # Found from outside: it said "1 file restored" with 110 in place (counted in order only).
        placed = sum(len(files) for _, _, files in os.walk(self.path("out")))
        self.assertIn("stopped on request: %d file%s restored" % (placed, "" if placed == 1 else "s"),
                      str(caught.exception))

    def test_a_fatal_error_in_a_worker_fails_the_restore_and_ends_every_worker(self):
        self.snapshot()
        writes = []

        def hook():
            writes.append(1)
            if len(writes) == 12:
                raise OSError(errno.ENOSPC, "No space left on device")
        with self.assertRaises(BackupError) as caught:
            self.restore("out", 4, SlowWrites(4, hook=hook))
        self.assertIn("disk full", str(caught.exception))
        self.assert_no_worker_and_nothing_half_written("out")

    def test_the_number_of_workers_is_logged_once_with_its_reason(self):
        self.snapshot()
        for parallel, expected in (("auto", "1 worker restoring: the target (and the snapshot) is on a local disk"),
                                   (3, '3 workers restoring: "parallel": 3')):
            with self.subTest(parallel=parallel):
                with self.assertLogs("task_runner", "INFO") as logs:
                    self.restore("out-%s" % parallel, parallel, fileio.OPS)
                lines = [line for line in logs.output if "restoring:" in line]
                self.assertEqual(len(lines), 1, logs.output)
                self.assertIn(expected, lines[0])


class VerifyPoolTest(Tree):
    def test_a_deep_verify_with_several_workers_reports_what_one_does(self):
        self.snapshot()
        self.write("src/d1/sub1/f1", b"x" * os.path.getsize(self.path("src/d1/sub1/f1")), mtime=OLD + 61)
        self.write("src/d3/sub0/f3", "other size", mtime=OLD)
        os.remove(self.path("src/d2/sub2/f5"))
        self.write("src/d4/new", "extra in the source")
        task = self.task(1)
        one = verify.verify_task(task, deep=True, workers=1)
        many = verify.verify_task(task, deep=True, workers=4)
        self.assertEqual(many, one)
        self.assertEqual((many.missing, many.extra, many.changed), (1, 1, 2))
        self.assertIn("changed: d1/sub1/f1 (contents)", many.differences)

    def test_several_workers_are_logged_with_their_reason(self):
        self.snapshot()
        with self.assertLogs("task_runner", "INFO") as logs:
            self.assertTrue(verify.verify_task(self.task(3)).ok)
        self.assertEqual([line for line in logs.output if "comparing:" in line],
                         ['INFO:task_runner.restore.verify:3 workers comparing: "parallel": 3'])
