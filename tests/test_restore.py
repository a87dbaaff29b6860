"""Getting files back: snapshots, versions and restore, on real folders."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import unittest

from task_runner.snapshots import catalog, reader as snapshot_reader
from task_runner import engine
from task_runner.restore import restorer as restore
from task_runner.fs import osutil, safedir
from task_runner.errors import Interrupted, UsageError
from task_runner.runs.runner import run_task
from task_runner.runs.locks import task_lock
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
OLD = ts("1975-06-01T12:00:00+00:00")
FUTURE = ts("2100-01-01T00:00:00+00:00")
POSIX = os.name != "nt"
LINUX = sys.platform.startswith("linux")


def listing(root, seconds=False):
    """{rel: (kind, mode, size, mtime, link target, sha256)} of a tree."""
    out = {}
    root = osutil.long_path(root)  # deeper than 260 characters on Windows
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            mtime = st.st_mtime_ns // 10 ** 9 if seconds else st.st_mtime_ns
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", None, None, None, os.readlink(full), None)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), None, mtime, None, None)
            else:
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_size, mtime, None, digest)
    return out


class RoundTripTest(TempDirTestCase):
    def setUp(self):
        super(RoundTripTest, self).setUp()
        self.src = self.path("src")
        self.write("src/plain.txt", "plain", mtime=OLD)
        self.write("src/caf\u00e9 \u65e5\u672c.txt", "unicode", mtime=OLD + 1)
        self.write("src/" + "L" * 200 + ".txt", "long name")
        self.write("src/future.txt", "from 2100", mtime=FUTURE)
        self.write("src/readonly.txt", "do not touch", mtime=OLD)
        os.chmod(self.path("src/readonly.txt"), 0o444)
        os.makedirs(self.path("src", "empty folder"))
        deep = os.path.join(*(["deep%02d" % i for i in range(25)]))  # > 260 characters
        self.write(os.path.join("src", deep, "bottom.txt"), "deep")
        self.write("src/big.bin", os.urandom(300000))
        if POSIX:
            os.symlink("plain.txt", self.path("src", "link"))
            os.symlink("nowhere", self.path("src", "dangling"))
            os.makedirs(self.path("src", "hard"))
            os.link(self.path("src/plain.txt"), self.path("src", "hard", "same.txt"))
        if LINUX:
            with open(self.path("src", "sparse.img"), "wb") as f:
                f.seek(64 * 1024 ** 2)
                f.write(b"end")
        # The folders' own times last, as a user's tree has them.
        for folder, dirs, files in os.walk(self.src, topdown=False):
            os.utime(folder, (OLD + 7, OLD + 7))

    def round_trip(self, fmt):
        task = make_task(self.src, self.path("dest"), format=fmt)
        result = engine.make_snapshot(task, T0, UTC)
        self.assertEqual(result.error_count, 0, result.errors)
        target = self.path("restored-" + fmt)
        got = restore.restore(task, os.path.basename(result.snapshot), target, clock=lambda: T0, zone=UTC)
        self.assertEqual(got.error_count, 0, got.errors)
        return task, target

    def test_folder_snapshot(self):
        task, target = self.round_trip("folder")
        self.assertEqual(listing(target), listing(self.src))
        if POSIX:
            self.assertEqual(os.stat(os.path.join(target, "plain.txt")).st_ino,
                             os.stat(os.path.join(target, "hard", "same.txt")).st_ino)
        if LINUX:
            self.assertLess(os.stat(os.path.join(target, "sparse.img")).st_blocks * 512, 1024 ** 2)

    def test_zip_snapshot(self):
        task, target = self.round_trip("zip")
        self.assertEqual(listing(target, seconds=True), listing(self.src, seconds=True))

    def test_no_partial_names_are_left(self):
        task, target = self.round_trip("folder")
        leftovers = [n for _, dirs, files in os.walk(target) for n in dirs + files
                     if n.startswith(safedir.STAGING_PREFIX)]
        self.assertEqual(leftovers, [])


class RestoreBase(TempDirTestCase):
    """Four snapshots of a task: doc.txt in three versions."""

    def setUp(self):
        super(RestoreBase, self).setUp()
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True}])
        self.task = self.config.tasks[0]
        self.write("src/doc.txt", "version 1", mtime=OLD)
        self.write("src/sub/keep.txt", "same in every snapshot", mtime=OLD)
        self.run_at("2026-11-01T10:00:00+00:00")
        self.write("src/doc.txt", "version 2", mtime=OLD + 100)
        self.run_at("2026-11-02T10:00:00+00:00")
        self.run_at("2026-11-03T10:00:00+00:00")  # unchanged: doc.txt linked, same version
        self.write("src/doc.txt", "version three", mtime=OLD + 200)
        self.run_at("2026-11-04T10:00:00+00:00")

    def run_at(self, when):
        outcome = run_task(self.config, self.task, "manual", clock=lambda: ts(when), zone=UTC)
        self.assertEqual(outcome.status, "success")

    def restore(self, target, *paths, **kw):
        kw.setdefault("clock", lambda: T0)
        kw.setdefault("zone", UTC)
        name = catalog.choose_snapshot(self.task, kw.pop("spec", "latest"))
        return restore.restore(self.task, name, target, [catalog.rel_in_src(self.task, p) for p in paths], **kw)

    def read(self, path):
        with open(path) as f:
            return f.read()


class RestoreTest(RestoreBase):
    def test_versions_count_the_distinct_versions(self):
        found = catalog.versions(self.task, "doc.txt")
        self.assertEqual([(v["first"], v["last"], v["size"]) for v in found], [
            ("2026-11-04_10-00-00", "2026-11-04_10-00-00", 13),
            ("2026-11-02_10-00-00", "2026-11-03_10-00-00", 9),
            ("2026-11-01_10-00-00", "2026-11-01_10-00-00", 9)])
        self.assertEqual(len(catalog.versions(self.task, "sub/keep.txt")), 1)
        self.assertEqual([v["kind"] for v in catalog.versions(self.task, "sub")], ["dir"])
        self.assertEqual(catalog.versions(self.task, "never.txt"), [])

    def test_a_date_picks_the_newest_snapshot_at_or_before_it(self):
        cases = [("latest", "2026-11-04_10-00-00"), ("2026-11-02", "2026-11-02_10-00-00"),
                 ("2026-11-02 09:59", "2026-11-01_10-00-00"), ("2026-11-02 10:00", "2026-11-02_10-00-00"),
                 ("2026-11-03_10-00-00", "2026-11-03_10-00-00"), ("2030-01-01", "2026-11-04_10-00-00")]
        for spec, expected in cases:
            with self.subTest(spec=spec):
                self.assertEqual(catalog.choose_snapshot(self.task, spec), expected)
        for spec in ("2026-10-31", "yesterday", "2026-13-01"):
            with self.subTest(spec=spec):
                with self.assertRaises(UsageError):
                    catalog.choose_snapshot(self.task, spec)

    def test_an_older_version_of_one_file(self):
        got = self.restore(self.path("out"), "doc.txt", spec="2026-11-01")
        self.assertEqual(got.files, 1)
        self.assertEqual(self.read(self.path("out", "doc.txt")), "version 1")
        self.assertEqual(os.listdir(self.path("out")), ["doc.txt"])
        got = self.restore(self.path("out2"), os.path.join(self.path("src"), "sub"))
        self.assertEqual(sorted(os.listdir(self.path("out2"))), ["sub"])
        self.assertEqual(self.read(self.path("out2", "sub", "keep.txt")), "same in every snapshot")

    def test_overwrite_keeps_the_existing_file_aside(self):
        self.write("src/doc.txt", "edited after the backup")
        with self.assertRaises(UsageError) as ctx:
            self.restore(self.path("src"))  # not empty, no --overwrite
        self.assertIn("is not empty", str(ctx.exception))
        got = self.restore(self.path("src"), overwrite=True)
        self.assertEqual((got.files, got.replaced, got.kept_aside, got.unchanged), (1, 1, 1, 1))
        self.assertEqual(self.read(self.path("src", "doc.txt")), "version three")
        self.assertEqual(self.read(self.path("src", "doc.before-restore-2026-11-27_10-00-00.txt")),
                         "edited after the backup")

    def test_dry_run_changes_nothing(self):
        self.write("src/doc.txt", "edited")
        got = self.restore(self.path("src"), overwrite=True, dry_run=True)
        self.assertEqual(got.actions, [("keep aside", "doc.txt -> doc.before-restore-2026-11-27_10-00-00.txt"),
                                       ("restore", "doc.txt")])
        self.assertEqual(self.read(self.path("src", "doc.txt")), "edited")
        self.assertEqual(sorted(os.listdir(self.path("src"))), ["doc.txt", "sub"])

    def test_refusals(self):
        with self.assertRaises(UsageError):
            self.restore(self.path("dest", "inside"))
        with self.assertRaises(UsageError):
            self.restore(self.path("out"), "../outside")
        with self.assertRaises(UsageError):
            self.restore(self.path("out"), "not-in-the-snapshot.txt")

    def test_a_zip_name_that_leaves_the_target_is_refused(self):
        import zipfile
        evil = self.path("dest", "2026-11-05_10-00-00.zip")
        with zipfile.ZipFile(evil, "w") as zf:
            zf.writestr("../escaped.txt", "x")
            zf.writestr("ok.txt", "fine")
        got = self.restore(self.path("out"))
        self.assertEqual(got.error_count, 1)
        self.assertIn("../escaped.txt: a name that would land outside the target folder", got.errors[0].replace(
            os.sep, "/"))
        self.assertFalse(os.path.exists(self.path("escaped.txt")))
        self.assertTrue(os.path.exists(self.path("out", "ok.txt")))

    def test_an_interrupted_restore_leaves_no_half_file(self):
        self.write("src/big.bin", os.urandom(3 * 1024 * 1024))
        self.run_at("2026-11-05T10:00:00+00:00")
        stop = threading.Event()
        calls = []

        def progress(restorer, rel):
            calls.append(rel)
            stop.set()  # stop after the first file
        with self.assertRaises(Interrupted) as ctx:
            self.restore(self.path("out"), stop_event=stop, progress=progress)
        self.assertIn("stopped on request: 1 file restored into", str(ctx.exception))
        for folder, dirs, files in os.walk(self.path("out")):
            for name in dirs + files:
                self.assertFalse(name.startswith(safedir.STAGING_PREFIX), name)
        self.assertEqual(len(calls), 1)

    def test_stopped_in_the_middle_of_a_file(self):
        self.write("src/big.bin", os.urandom(20 * 1024 * 1024))  # several chunks, also of sendfile (8 MiB)
        self.run_at("2026-11-05T10:00:00+00:00")

        class StopDuringCopy(threading.Event):
            checks = 0

            def is_set(self):
                self.checks += 1
                return self.checks > 2  # one chunk into the large file
        with self.assertRaises(Interrupted):
            self.restore(self.path("out"), "big.bin", stop_event=StopDuringCopy())
        self.assertFalse(os.path.exists(self.path("out")))  # not even a temporary file, nor the folder

    def test_restore_and_backup_exclude_each_other(self):
        holder = task_lock(self.config, "T")
        self.assertTrue(holder.acquire(timeout=0))
        try:
            proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config",
                                   self.config.path, "--restore", "--to", self.path("out")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        finally:
            holder.release()
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("a backup of this task is running", proc.stdout)
        self.assertFalse(os.path.exists(self.path("out")))


class ReaderTest(RestoreBase):
    """One folder at a time, from folder and ZIP snapshots alike."""

    def test_children_and_entry_agree_across_formats(self):
        self.config = self.make_config(tasks=[{"name": "Z", "src": "src", "dest": "zdest", "format": "zip",
                                               "default": True}])
        run_task(self.config, self.config.tasks[0], "manual", clock=lambda: T0, zone=UTC)
        seen = []
        for dest in ("dest", "zdest"):
            name = catalog.choose_snapshot(make_task(self.path("src"), self.path(dest)))
            with snapshot_reader.SnapshotReader(self.path(dest, name)) as reader:
                top = [(os.path.basename(e.rel), e.kind, e.size) for e in reader.children("")]
                sub = [e.rel for e in reader.children("sub")]
                seen.append((top, sub, reader.entry("sub").kind, reader.entry("nope"), reader.children("doc.txt")))
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(seen[0][0], [("doc.txt", "file", 13), ("sub", "dir", 0)])
        self.assertEqual(seen[0][1], [os.path.join("sub", "keep.txt")])

    @unittest.skipUnless(POSIX, "symbolic links")
    def test_nothing_is_reached_through_a_link_of_the_snapshot(self):
        name = catalog.choose_snapshot(self.task)
        os.symlink(self.path("src"), self.path("dest", name, "via"))
        with snapshot_reader.SnapshotReader(self.path("dest", name)) as reader:
            self.assertEqual(reader.entry("via").kind, "link")
            self.assertIsNone(reader.entry(os.path.join("via", "doc.txt")))
            self.assertEqual(reader.children("via"), [])


class ProgramTest(RestoreBase):
    def program(self, *args):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", self.config.path]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              stdin=subprocess.DEVNULL)
        self.assertNotIn("Traceback", proc.stderr)
        return proc

    def test_snapshots_listing(self):
        os.makedirs(self.path("dest", "2026-11-05_10-00-00.partial"))
        proc = self.program("--snapshots")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], "T (%s):" % self.path("dest"))
        self.assertTrue(lines[1].startswith("  2026-11-01_10-00-00  folder  success, 2 files (2 copied, 0 linked)"))
        self.assertTrue(lines[3].startswith("  2026-11-03_10-00-00  folder  success, 2 files (0 copied, 2 linked)"))
        self.assertIn("2026-11-05_10-00-00.partial  unfinished", lines[5])
        self.assertEqual(lines[6], "  4 snapshots")
        data = json.loads(self.program("--snapshots", "--json").stdout)["snapshots"]
        self.assertEqual([(s["name"], s["partial"], s["status"]) for s in data][:2],
                         [("2026-11-01_10-00-00", False, "success"), ("2026-11-02_10-00-00", False, "success")])
        self.assertEqual(data[-1]["partial"], True)

    def test_versions_and_restore_commands(self):
        proc = self.program("--versions", "doc.txt")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("3 versions, newest first", proc.stdout)
        proc = self.program("--versions", "nothing.txt")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("is in no snapshot of T", proc.stdout)
        proc = self.program("--restore", "--snapshot", "2026-11-01", "doc.txt", "--to", self.path("out"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("T: restored 1 file (9 bytes) from 2026-11-01_10-00-00 into", proc.stdout)
        self.assertEqual(self.read(self.path("out", "doc.txt")), "version 1")
        proc = self.program("--restore", "--to", self.path("out"))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("is not empty", proc.stderr)
        proc = self.program("--restore")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("restore needs --to DIR", proc.stderr)

    def test_interactive_needs_a_terminal(self):
        proc = self.program("--restore", "--interactive")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--interactive needs a terminal", proc.stderr)


if __name__ == "__main__":
    unittest.main()
