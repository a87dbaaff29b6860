"""Moved, renamed and copied files are linked from where the previous
snapshot has them (engine/index.py), never with the wrong content."""

import logging
import os
import shutil
import time
import unittest

from task_runner import engine, snapshots
from task_runner.runs import runner
from task_runner.restore import verify
from task_runner.fs import fileio
try:
    from task_runner.engine import index, lookup, rows
except ImportError:  # before moved files were found: these tests fail there
    index = None
from tests.helpers import UTC, TempDirTestCase, copy_file, make_task, ts
from tests.test_engine import tree

T0 = ts("2026-11-27T10:00:00+00:00")
NS = 1590000000 * 10 ** 9 + 123456789  # a time with a fraction of a second, as a write leaves


class FakeOps(fileio.Ops):
    """The file-system type and file ids a test says, and the files read."""

    def __init__(self, fs_type="ext4", ids=None):
        self.fs_type = fs_type
        self.ids = ids or {}  # source file name -> (volume, id) to report instead of the real one
        self.reads = []
        self.asked = []  # the files whose identity was asked

    def filesystem_type(self, path):
        return self.fs_type

    def file_identity(self, entry, st):
        self.asked.append(entry.name)
        return self.ids.get(entry.name) or fileio.OPS.file_identity(entry, st)

    def open_read(self, path):
        self.reads.append(os.path.basename(path))
        return fileio.OPS.open_read(path)


def identity_of(path):
    with os.scandir(os.path.dirname(path)) as it:
        entry = next(e for e in it if e.name == os.path.basename(path))
        return fileio.OPS.file_identity(entry, entry.stat(follow_symlinks=False))


def moved(result):
    return getattr(result, "moved", 0)


class MovesCase(TempDirTestCase):
    def setUp(self):
        super(MovesCase, self).setUp()
        self.src = self.path("src")
        self.dest = self.path("dest")
        os.makedirs(self.src)

    def put(self, rel, data, ns=NS):
        path = self.path("src", rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, ns=(ns, ns))
        return path

    def snap(self, minute, ops=None, workers=1):
        return engine.make_snapshot(make_task(self.src, self.dest), T0 + 60 * minute, UTC,
                                    ops=ops or FakeOps(), workers=workers)

    def ino(self, snapshot, rel):
        return os.lstat(os.path.join(snapshot, rel)).st_ino

    def assertSame(self, result):
        self.assertEqual(tree(self.src), tree(result.snapshot))
        self.assertEqual(result.error_count, 0)
        found = verify.verify_task(make_task(self.src, self.dest), deep=True, snapshot=result.snapshot)
        self.assertTrue(found.ok, found)


@unittest.skipIf(index is not None and index.sqlite3 is None, "this Python has no sqlite3")
class MovesTest(MovesCase):
    def test_renamed_folder_is_linked_not_copied(self):
        for i in range(3):
            self.put(os.path.join("Photos", "2025", "p%d.jpg" % i), os.urandom(1000 + i), NS + i)
        first = self.snap(0)
        os.rename(self.path("src", "Photos", "2025"), self.path("src", "Photos", "2025 Italy"))
        ops = FakeOps()
        second = self.snap(1, ops)
        self.assertSame(second)
        self.assertEqual((second.files, second.copied, second.linked, moved(second)), (3, 0, 0, 3))
        self.assertEqual(second.bytes_copied, 0)
        if identity_of(self.path("src", "Photos", "2025 Italy", "p0.jpg")) is not None:
            self.assertEqual(ops.reads, [])  # the ids told it: not a byte read
        for i in range(3):
            self.assertEqual(self.ino(second.snapshot, os.path.join("Photos", "2025 Italy", "p%d.jpg" % i)),
                             self.ino(first.snapshot, os.path.join("Photos", "2025", "p%d.jpg" % i)))

    @unittest.skipIf(os.name == "nt", "a name that is not valid UTF-8 is a POSIX thing")
    def test_names_that_are_not_utf8_and_workers(self):
        odd = os.fsdecode(b"caf\xe9")  # Latin-1, as an old disk may hold it
        for i in range(30):
            self.put(os.path.join(odd, "f%02d" % i), os.urandom(100), NS + i)
        self.snap(0, workers=3)
        os.rename(self.path("src", odd), self.path("src", odd + "2"))
        second = self.snap(1, workers=3)
        self.assertSame(second)
        self.assertEqual((second.copied, moved(second)), (0, 30))

    def test_file_moved_between_folders(self):
        self.put("a/keep.txt", b"stays")
        self.put("a/move.txt", b"moves to b")
        first = self.snap(0)
        os.makedirs(self.path("src", "b"))
        os.rename(self.path("src", "a", "move.txt"), self.path("src", "b", "move.txt"))
        second = self.snap(1)
        self.assertSame(second)
        self.assertEqual((second.copied, second.linked, moved(second)), (0, 1, 1))
        self.assertEqual(self.ino(second.snapshot, "b/move.txt"), self.ino(first.snapshot, "a/move.txt"))

    def test_copy_with_the_same_time_is_linked_after_comparing_content(self):
        self.put("orig.bin", os.urandom(5000))
        first = self.snap(0)
        copy_file(self.path("src", "orig.bin"), self.path("src", "copy.bin"))  # cp -p
        self.put("other.bin", os.urandom(5000))  # same size and time, other content
        second = self.snap(1)
        self.assertSame(second)
        self.assertEqual((second.copied, second.linked, moved(second)), (1, 1, 1))
        self.assertEqual(self.ino(second.snapshot, "copy.bin"), self.ino(first.snapshot, "orig.bin"))
        self.assertNotEqual(self.ino(second.snapshot, "other.bin"), self.ino(first.snapshot, "orig.bin"))

    def test_reused_id_with_other_content_is_copied(self):
        whole = (NS // 10 ** 9) * 10 ** 9
        # (time of the deleted file, time of the new one): a new time is not
        # the same file; a time that ties in whole seconds or milliseconds is told by content.
        # (NTFS keeps 100 ns: there a time 5 ns apart is the same time, so 1 µs.)
        ms = whole + 250 * 10 ** 6  # a time in whole milliseconds: set by a tool (Java, Node, FAT) (found from outside)
        for old_ns, new_ns in ((NS, NS + (1000 if os.name == "nt" else 5)), (whole, whole), (ms, ms)):
            shutil.rmtree(self.dest, ignore_errors=True)
            old = self.put("old.txt", b"the old file", old_ns)
            self.snap(0)
            old_id = identity_of(old)
            os.remove(old)
            path = self.put("new.txt", b"a new file!!", new_ns)  # same size, mode
            second = self.snap(1, FakeOps(ids={"new.txt": old_id}))
            self.assertSame(second)
            self.assertEqual((second.copied, moved(second)), (1, 0), new_ns)
            os.remove(path)

    def test_fat_like_file_system_ids_are_not_trusted(self):
        self.put("dir/a.txt", b"kept content")
        self.put("dir/b.txt", b"first b")
        first = self.snap(0, FakeOps("vfat"))
        old_b = os.path.join(self.src, "dir", "b.txt")
        b_id = identity_of(old_b)
        os.remove(old_b)
        os.rename(self.path("src", "dir"), self.path("src", "moved"))
        # On FAT a new file at the same place gets the same id: same size and time, other content.
        self.put("moved/c.txt", b"other b", NS)
        ops = FakeOps("vfat", ids={"c.txt": b_id})
        second = self.snap(1, ops)
        self.assertSame(second)
        self.assertEqual((second.copied, moved(second)), (1, 1))  # a.txt moved, by content
        # a.txt and c.txt compared with the old a.txt and b.txt, then c.txt copied
        self.assertEqual(sorted(ops.reads), ["a.txt", "a.txt", "b.txt", "c.txt", "c.txt"])
        self.assertEqual(self.ino(second.snapshot, "moved/a.txt"), self.ino(first.snapshot, "dir/a.txt"))

    @unittest.skipIf(os.name == "nt", "ln -f: the walk gives no inode numbers on Windows")
    def test_hard_link_group_keeps_its_own_content(self):
        for folder, (target, other) in (("x", ("a", "b")), ("y", ("b", "a"))):
            self.put(folder + "/" + target, b"TARGET", NS)
            self.put(folder + "/" + other, b"OTHERS", NS)
        first = self.snap(0)
        for folder, (target, other) in (("x", ("a", "b")), ("y", ("b", "a"))):
            os.remove(self.path("src", folder, other))  # ln -f target other
            os.link(self.path("src", folder, target), self.path("src", folder, other))
        second = self.snap(1)
        self.assertSame(second)
        for folder, (target, other) in (("x", ("a", "b")), ("y", ("b", "a"))):
            self.assertEqual(self.ino(second.snapshot, folder + "/" + other),
                             self.ino(first.snapshot, folder + "/" + target))
        self.assertEqual(second.copied, 0)

    @unittest.skipIf(os.name == "nt", "ln: no inode numbers in Windows' scandir, so no hard-link groups")
    def test_a_hard_linked_file_at_its_own_path_is_linked_not_moved(self):
        """Found by CI (a share test, now and then): the first name met of a
        hard-linked file took its old copy under another name of it, which
        the lookup met first, and was counted moved though it stayed put."""
        self.put("b/moved_me", b"moves to a", NS)
        self.put("b/y", b"one file, three names", NS + 1)
        for other in ("c/x", "d/z"):
            os.makedirs(os.path.dirname(self.path("src", other)))
            os.link(self.path("src", "b/y"), self.path("src", other))
        self.snap(0)
        os.makedirs(self.path("src", "a"))
        os.rename(self.path("src", "b", "moved_me"), self.path("src", "a", "moved_me"))  # looked up in b first
        os.remove(self.path("src", "b", "y"))
        second = self.snap(1)
        self.assertSame(second)
        self.assertEqual((second.copied, second.linked, moved(second)), (0, 2, 1))

    @unittest.skipIf(os.name == "nt", "ln: no inode numbers in Windows' scandir, so no hard-link groups")
    def test_a_renamed_name_of_a_hard_linked_file_is_counted_moved(self):
        """Found from outside: the second name met of a hard-linked file was
        counted linked, though it was renamed since the previous snapshot."""
        self.put("A/x", b"one file, two names", NS)
        os.makedirs(self.path("src", "B"))
        os.link(self.path("src", "A", "x"), self.path("src", "B", "y"))
        self.snap(0)
        later = [e.name for e in os.scandir(self.src)][1]  # the folder the walk meets second (scandir's order)
        old = os.path.join(self.src, later, os.listdir(self.path("src", later))[0])
        os.rename(old, old + "-renamed")  # the name met second: the one met first stayed
        second = self.snap(1)
        self.assertSame(second)
        self.assertEqual((second.copied, second.linked, moved(second)), (0, 1, 1))

    @unittest.skipIf(os.name == "nt", "hard-link groups: no inode numbers in Windows' scandir")
    def test_a_copy_linked_by_content_is_restored_as_a_file_of_its_own(self):
        """Found from outside: a copy (cp -p) linked to the original's old
        copy shared its inode in the snapshot, and the restore made the two
        one file (a hard link): a change to one changed the other. A real
        hard link of the source comes back as one."""
        from task_runner.restore import restorer
        self.put("report.doc", b"the report", NS)
        self.put("h1", b"one file, two names", NS + 1)
        os.link(self.path("src", "h1"), self.path("src", "h2"))
        self.snap(0)
        copy_file(self.path("src", "report.doc"), self.path("src", "report copy.doc"))  # cp -p
        second = self.snap(1)
        self.assertEqual(second.copied, 0)  # linked by content: the saving stays
        for parallel in (1, 3):  # inline, and by workers
            back = self.path("back%d" % parallel)
            done = restorer.restore(make_task(self.src, self.dest, parallel=parallel), os.path.basename(
                second.snapshot), back, clock=lambda: T0, zone=UTC, new_folder=True)
            self.assertEqual(done.error_count, 0, done.errors)
            self.assertEqual(tree(self.src), tree(back))
            self.assertNotEqual(self.ino(back, "report.doc"), self.ino(back, "report copy.doc"))
            self.assertEqual(self.ino(back, "h1"), self.ino(back, "h2"))
        os.remove(index.index_path(second.snapshot))  # removed by hand: nothing tells a copy from a link
        done = restorer.restore(make_task(self.src, self.dest), os.path.basename(second.snapshot),
                                self.path("back0"), clock=lambda: T0, zone=UTC, new_folder=True)
        self.assertEqual(tree(self.src), tree(self.path("back0")))
        self.assertNotEqual(self.ino(self.path("back0"), "report.doc"), self.ino(self.path("back0"), "report copy.doc"))
        self.assertNotEqual(self.ino(self.path("back0"), "h1"), self.ino(self.path("back0"), "h2"))  # whole, apart

    def test_index_beside_the_snapshot_goes_with_it(self):
        self.put("a.txt", b"a")
        first = self.snap(0)
        self.assertTrue(os.path.isfile(first.snapshot + ".index"))
        self.assertEqual(os.listdir(first.snapshot), ["a.txt"])  # nothing added inside
        second = self.snap(1)
        snapshots.delete_snapshot(self.dest, os.path.basename(first.snapshot))
        self.assertFalse(os.path.exists(first.snapshot + ".index"))
        shutil.rmtree(second.snapshot)  # a crash that left the index alone
        snapshots.remove_leftovers(self.dest)
        self.assertEqual(os.listdir(self.dest), [])

    def test_temporary_indexes_of_killed_runs_are_removed_later(self):
        import tempfile
        paths = []
        for age in (3 * 86400, 60):  # a killed run's, three days old; a live run's
            fd, path = tempfile.mkstemp(prefix="task_runner-index-")
            os.close(fd)
            self.addCleanup(lambda p=path: os.path.exists(p) and os.remove(p))
            os.utime(path, (T0 - age, T0 - age))
            paths.append(path)
        index.remove_stale_temporaries(T0)
        self.assertEqual([os.path.exists(p) for p in paths], [False, True])

    def test_damaged_index_means_copying(self):
        self.put("a/f.txt", b"content")
        first = self.snap(0)
        with open(first.snapshot + ".index", "wb") as f:
            f.write(b"not a database at all" * 100)
        os.rename(self.path("src", "a"), self.path("src", "b"))
        second = self.snap(1)
        self.assertSame(second)
        self.assertEqual((second.copied, moved(second)), (1, 0))

    def test_a_file_that_comes_back_is_linked_from_an_older_snapshot(self):
        self.put("keep.txt", b"always there")
        data = os.urandom(3000)
        self.put("back.bin", data)
        first = self.snap(0)
        os.remove(self.path("src", "back.bin"))
        self.snap(1)  # without it
        self.put("restored/back.bin", data)  # restored from the first snapshot: same time, a new file
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, moved(third)), (0, 1))
        self.assertEqual(self.ino(third.snapshot, "restored/back.bin"), self.ino(first.snapshot, "back.bin"))
        os.remove(self.path("src", "restored", "back.bin"))
        for minute in (3, 4, 5):  # gone from the last three snapshots: beyond where the run looks
            self.snap(minute)
        self.put("again.bin", data)
        last = self.snap(6)
        self.assertSame(last)
        self.assertEqual((last.copied, moved(last)), (1, 0))

    def test_dry_run_predicts_moved_files(self):
        self.put("a/f.txt", b"content")
        self.put("a/g.txt", b"stays")
        self.snap(0)
        os.rename(self.path("src", "a", "f.txt"), self.path("src", "f.txt"))
        heard = []
        before = {n: os.path.getmtime(self.path("dest", n)) for n in os.listdir(self.dest)}
        result = engine.make_snapshot(make_task(self.src, self.dest), T0 + 60, UTC, dry_run=True,
                                      listing=lambda action, rel: heard.append((action, rel)))
        self.assertEqual((result.copied, result.linked, moved(result)), (0, 1, 1))
        self.assertIn(("move", "f.txt"), heard)
        self.assertEqual({n: os.path.getmtime(self.path("dest", n)) for n in os.listdir(self.dest)}, before)

    def test_the_snapshots_listing_counts_moved_files(self):
        """Found from outside: it said "415 files (20 copied, 10 linked)"
        for a run that moved 385."""
        import json
        import subprocess
        import sys
        self.put("a/f.txt", b"content")
        config = self.path("config.json")
        with open(config, "w") as f:
            json.dump({"tasks": [{"name": "T", "src": self.src, "dest": self.dest}]}, f)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

        def program(*args):
            return subprocess.run([sys.executable, os.path.join(root, "backup_now.py"), "--config", config] + list(args),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                  stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(program("T").returncode, 0)
        os.rename(self.path("src", "a"), self.path("src", "b"))
        self.assertEqual(program("T").returncode, 0)
        listing = program("snapshots", "T")
        self.assertIn("success, 1 file (0 copied, 0 linked, 1 moved)", listing.stdout)
        self.assertEqual(listing.stdout.count(" moved)"), 1, listing.stdout)

    @unittest.skipIf(os.name == "nt", "symbolic links need a privilege on Windows")
    def test_every_line_of_a_runs_counts_adds_up_to_its_files(self):
        """Found from outside: status said "2 files: 1 copied, 0 linked" for
        a run of a file and a symbolic link (the run's line said the link)."""
        import json
        import subprocess
        import sys
        self.put("f.txt", b"content")
        os.symlink("f.txt", self.path("src", "link"))
        config = self.path("config.json")
        with open(config, "w") as f:
            json.dump({"tasks": [{"name": "T", "src": self.src, "dest": self.dest}]}, f)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        outputs = []
        for script, args in (("backup_now.py", ["T"]), ("scheduled_task_runner.py", ["status"]),
                             ("backup_now.py", ["snapshots", "T"])):
            outputs.append(subprocess.run([sys.executable, os.path.join(root, script), "--config", config]
                                          + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          universal_newlines=True, stdin=subprocess.DEVNULL, timeout=60).stdout)
        for out in outputs:
            self.assertIn("1 copied, 0 linked, 1 symbolic link", out)

    def test_summary_counts_moved_files(self):
        self.put("a/f.txt", b"content")
        self.snap(0)
        os.rename(self.path("src", "a"), self.path("src", "b"))
        self.assertIn("(0 copied, 0 linked, 1 moved)", runner.summary(self.snap(1)))


def recorded(snapshot):
    """What the index beside ``snapshot`` records: {(folder, name): (size, mtime)}."""
    import sqlite3
    import tempfile
    fd, copy = tempfile.mkstemp()
    os.close(fd)
    try:
        shutil.copyfile(snapshot + ".index", copy)
        db = sqlite3.connect(copy)
        lookup._unpack_all(db)
        found = {(d, n): (size, mtime) for d, n, size, mtime in db.execute(
            "SELECT d.path, f.name, f.size, f.mtime FROM files f JOIN folders d ON d.id = f.folder")}
        db.close()
        return found
    finally:
        os.remove(copy)


@unittest.skipIf(index is not None and index.sqlite3 is None, "this Python has no sqlite3")
class CarriedRecordsTest(MovesCase):
    """A file found unchanged at its own path is not recorded anew: its
    record is carried from the previous snapshot's index (index._Carry)."""

    def test_unchanged_files_are_not_asked_their_identity(self):
        for i in range(5):
            self.put("d%d/f%d.txt" % (i % 2, i), b"file %d" % i, NS + i)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)  # else, on POSIX, written as the run started: looked up
        self.snap(0)
        ops = FakeOps()
        second = self.snap(1, ops)
        self.assertEqual((second.copied, second.linked), (0, 5))
        self.assertEqual(ops.asked, [])  # on Windows each would cost an lstat
        self.assertEqual(recorded(second.snapshot), recorded(self.snap(2).snapshot))
        self.assertEqual(len(recorded(second.snapshot)), 5)

    def test_carried_records_find_files_moved_later(self):
        for i in range(4):
            self.put(os.path.join("a", "p%d.jpg" % i), os.urandom(500 + i), NS + i)
        self.put("b/x.txt", b"moves into a", NS + 9)
        first = self.snap(0)
        self.snap(1)  # unchanged: every record carried
        snapshots.delete_snapshot(self.dest, os.path.basename(first.snapshot))  # its index with it
        os.rename(self.path("src", "a"), self.path("src", "a2"))
        os.rename(self.path("src", "b", "x.txt"), self.path("src", "a2", "x.txt"))
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, third.linked, moved(third)), (0, 0, 5))

    def test_a_folder_where_something_changed_carries_what_is_still_there(self):
        self.put("d/k1", b"kept one", NS)
        self.put("d/k2", b"kept two", NS + 1)
        self.put("d/gone", b"deleted", NS + 2)
        self.put("d/edited", b"before", NS + 3)
        self.put("e/other", b"stays", NS + 4)
        self.snap(0)
        os.remove(self.path("src", "d", "gone"))
        self.put("d/edited", b"after!!", NS + 10 ** 9)
        self.put("d/new", b"a new one", NS + 2 * 10 ** 9)
        os.remove(self.path("src", "d", "k2"))
        os.mkdir(self.path("src", "d", "k2"))  # a folder where a file was: no record
        second = self.snap(1)
        self.assertEqual((second.copied, second.linked), (2, 2))
        source = {}
        for rel in ("d/k1", "d/edited", "d/new", "e/other"):
            st = os.lstat(self.path("src", rel))  # the times as the file system keeps them (NTFS: 100 ns)
            source[tuple(rel.split("/"))] = (st.st_size, st.st_mtime_ns)
        self.assertEqual(recorded(second.snapshot), source)
        os.rename(self.path("src", "d"), self.path("src", "moved d"))
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, moved(third)), (0, 3))

    def test_a_renamed_folder_of_more_files_than_held_is_asked_once_a_file(self):
        """Beyond NEAR_ROWS files an old folder's rows are not held; they
        were then fetched again for every file (100,000 files renamed:
        seven minutes)."""
        for i in range(12):
            self.put("big/f%02d" % i, b"file %02d" % i, NS + i)
        self.snap(0)
        os.rename(self.path("src", "big"), self.path("src", "bigger"))
        asked = []
        query, held = lookup.PreviousIndex._query, lookup.NEAR_ROWS

        def counted(index, sql, args):
            asked.append(sql)
            return query(index, sql, args)
        lookup.PreviousIndex._query, lookup.NEAR_ROWS = counted, 5
        try:
            second = self.snap(1)
        finally:
            lookup.PreviousIndex._query, lookup.NEAR_ROWS = query, held
        self.assertEqual((second.copied, moved(second)), (0, 12))
        self.assertEqual(len([q for q in asked if "WHERE folder = ?" in q]), 1, asked)

    @unittest.skipIf(os.name == "nt", "a name that is not valid UTF-8 is a POSIX thing")
    def test_a_file_name_that_is_not_utf8_is_found_moved(self):
        """Found from outside: such a name in the index failed every later
        run that looked a file up (UnicodeEncodeError, exit 1)."""
        odd = os.fsdecode(b"caf\xe9.txt")
        self.put("a/" + odd, b"latin-1 name", NS)
        self.put("a/plain.txt", b"plain", NS + 1)
        self.snap(0)
        self.snap(1)  # its record carried
        os.rename(self.path("src", "a"), self.path("src", "b"))
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, moved(third)), (0, 2))

    @unittest.skipIf(os.name == "nt", "the inode's change time (st_ctime) is POSIX's: Windows gives the creation time")
    def test_files_swapped_or_written_in_place_with_their_size_and_time_put_back(self):
        """Size and time equal at the same path are not trusted when the
        inode changed since the previous run (found from outside: two files
        of one size and time swapped with mv kept each other's content in
        every later snapshot; rsync --link-dest does the same)."""
        self.put("a.bin", b"AAAA", NS)
        self.put("b.bin", b"BBBB", NS)
        self.put("c.txt", b"before", NS)
        self.put("d.txt", b"stays", NS)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)  # else written as the run started: compared too
        self.snap(0)
        self.snap(1)  # records carried
        os.rename(self.path("src", "a.bin"), self.path("src", "t"))
        os.rename(self.path("src", "b.bin"), self.path("src", "a.bin"))
        os.rename(self.path("src", "t"), self.path("src", "b.bin"))
        self.put("c.txt", b"AFTER!", NS)  # written in place, its time put back
        ops = FakeOps()
        third = self.snap(2, ops)
        self.assertSame(third)
        self.assertEqual((third.copied, third.linked, moved(third)), (1, 1, 2))
        self.assertEqual(set(ops.reads), {"a.bin", "b.bin", "c.txt"})  # found by id, and compared

    def test_a_file_back_at_its_own_path_from_an_older_snapshot_is_linked_not_moved(self):
        """Found from outside: after a partial run (whose snapshot lacks
        what it could not read) the files back at their paths were counted
        as moved."""
        self.put("a.txt", b"always", NS)
        self.put("b.txt", b"away for a run", NS + 1)
        self.snap(0)
        os.rename(self.path("src", "b.txt"), self.path("b.txt"))  # out of src, then back: the same file
        self.snap(1)
        os.rename(self.path("b.txt"), self.path("src", "b.txt"))
        heard = []
        dry = engine.make_snapshot(make_task(self.src, self.dest), T0 + 120, UTC, dry_run=True,
                                   listing=lambda action, rel: heard.append((action, rel)))
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, third.linked, moved(third)), (0, 2, 0))
        self.assertEqual((dry.copied, dry.linked, moved(dry)), (0, 2, 0))
        self.assertIn(("link", "b.txt"), heard)

    def test_a_damaged_row_is_not_carried(self):
        import sqlite3
        self.put("a/f.txt", b"content", NS)
        self.put("a/g.txt", b"content too", NS + 1)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)  # else written as the run started: recorded anew
        first = self.snap(0)
        db = sqlite3.connect(first.snapshot + ".index")
        db.execute("UPDATE packed SET numbers = substr(numbers, 1, 8)")  # found from outside: handed on
        db.commit()
        db.close()
        second = self.snap(1)
        db = sqlite3.connect(second.snapshot + ".index")
        self.assertEqual(db.execute("SELECT COUNT(*) FROM packed").fetchall(), [(0,)])
        db.close()

    def test_a_previous_index_with_a_column_of_its_own_fails_no_run(self):
        """Found from outside: a column named rowid in its table failed every
        later backup (an internal error)."""
        import sqlite3
        self.put("a/f.txt", b"content", NS)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)
        first = self.snap(0)
        db = sqlite3.connect(first.snapshot + ".index")
        db.execute("ALTER TABLE packed ADD COLUMN rowid")
        db.commit()
        db.close()
        self.put("a/new.txt", b"a new file")  # the folder's carry reads the old rows one by one
        with self.assertLogs("task_runner", "WARNING") as logged:
            second = engine.make_snapshot(make_task(self.src, self.dest), T0 + 60, UTC, ops=FakeOps(),
                                          log=logging.getLogger("task_runner.engine"))
        self.assertSame(second)
        self.assertIn("index is damaged", "\n".join(logged.output))
        self.assertFalse(os.path.exists(second.snapshot + ".index"))  # a next run copies what moved

    def test_an_index_of_a_later_format_finds_nothing(self):
        import sqlite3
        self.put("a/f.txt", b"content", NS)
        first = self.snap(0)
        db = sqlite3.connect(first.snapshot + ".index")
        db.execute("UPDATE meta SET value = 9 WHERE key = 'format'")
        db.execute("DROP TABLE packed")  # and a table of files, as the first format had (found from outside)
        db.execute(rows.FILES)
        ident, st = identity_of(self.path("src", "a", "f.txt")), os.lstat(self.path("src", "a", "f.txt"))
        db.execute("INSERT OR REPLACE INTO folders VALUES (1, 'a')")
        db.execute("INSERT INTO files VALUES (1, 'f.txt', ?, ?, ?, ?)",
                   tuple(ident or (None, None)) + (st.st_size, st.st_mtime_ns))
        db.commit()
        db.close()
        os.rename(self.path("src", "a"), self.path("src", "b"))
        second = self.snap(1)
        self.assertSame(second)
        self.assertEqual((second.copied, moved(second)), (1, 0))

    def test_an_old_file_found_different_is_read_once(self):
        """Found from outside: the same old file, linked into the three
        snapshots asked, was read again for each of them."""
        self.put("x.bin", b"A" * 4000, NS)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)  # else written as the run started: compared in the next
        for minute in range(3):
            self.snap(minute)
        self.put("y.bin", b"B" * 4000, NS)  # same size and time, other content
        ops = FakeOps()
        last = self.snap(3, ops)
        self.assertSame(last)
        self.assertEqual((last.copied, last.linked, moved(last)), (1, 1, 0))
        self.assertEqual(sorted(ops.reads), ["x.bin", "y.bin", "y.bin"])  # one comparison, then the copy

    @unittest.skipIf(os.name == "nt", "the inode's change time (st_ctime) is POSIX's; ln: no inode numbers on Windows")
    def test_a_hard_linked_file_written_in_place_with_its_time_put_back(self):
        """Found from outside: a file with two names, written in place with
        its size and time put back, took its old copy by identity."""
        self.put("h", b"AAAA", NS)
        os.link(self.path("src", "h"), self.path("src", "h2"))
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)  # else written as the run started: compared in the next
        self.snap(0)
        self.snap(1)
        self.put("h", b"ZZZZ", NS)
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, third.linked, moved(third)), (1, 1, 0))

    @unittest.skipIf(os.name == "nt", "the inode's change time (st_ctime) is POSIX's")
    def test_written_in_place_while_left_out_of_a_run(self):
        """Found from outside: written in place (time put back) and then left
        out of one run, the file was linked from the snapshot before, whose
        run the previous one's start does not date."""
        self.put("sub/f", b"AAAA", NS)
        self.put("keep", b"stays", NS)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)
        self.snap(0)
        self.put("sub/f", b"ZZZZ", NS)
        time.sleep(2 * lookup.CTIME_MARGIN_NS / 1e9)  # written well before the next run began
        engine.make_snapshot(make_task(self.src, self.dest, exclude=["sub"]), T0 + 60, UTC, ops=FakeOps())
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, third.linked, moved(third)), (1, 1, 0))

    def test_workers_carry_too(self):
        for i in range(40):
            self.put("f%d/%02d" % (i % 4, i), os.urandom(100), NS + i)
        self.snap(0, workers=3)
        self.snap(1, workers=3)
        os.rename(self.path("src", "f1"), self.path("src", "g1"))
        third = self.snap(2, workers=3)
        self.assertSame(third)
        self.assertEqual((third.copied, third.linked, moved(third)), (0, 30, 10))

    def test_an_index_of_the_first_format_is_read_and_replaced(self):
        import sqlite3
        self.put("a/f.txt", b"content", NS)
        self.put("a/g.txt", b"other", NS + 1)
        first = self.snap(0)
        os.remove(first.snapshot + ".index")
        db = sqlite3.connect(first.snapshot + ".index")  # as the first indexes were written
        db.execute("CREATE TABLE meta (key TEXT, value INTEGER)")
        db.execute("CREATE TABLE folders (id INTEGER PRIMARY KEY, path)")
        db.execute(rows.FILES)
        db.executemany("INSERT INTO folders VALUES (?, ?)", [(0, ""), (1, "a")])
        for name in ("f.txt", "g.txt"):
            path = self.path("src", "a", name)
            ident, st = identity_of(path) or (None, None), os.lstat(path)
            db.execute("INSERT INTO files VALUES (1, ?, ?, ?, ?, ?)", (name,) + tuple(ident) + (st.st_size, st.st_mtime_ns))
        db.execute("INSERT INTO meta SELECT 'newest', MAX(mtime) FROM files")
        db.commit()
        db.close()
        self.snap(1)  # unchanged: nothing to carry from that format, so recorded anew
        os.rename(self.path("src", "a"), self.path("src", "b"))
        third = self.snap(2)
        self.assertSame(third)
        self.assertEqual((third.copied, moved(third)), (0, 2))


class RowsTest(unittest.TestCase):
    def test_packed_rows_come_back_also_from_a_machine_of_the_other_byte_order(self):
        import array
        import sys
        odd = "b\udce9" if os.name != "nt" else "b\ud800"  # a name that is not valid UTF-8 / UTF-16
        swapped = "big" if sys.byteorder == "little" else "little"
        for numbers, files in (
                ([7, 2, 3, 4, 7, 9, 5, -6], [("a", 7, 2, 3, 4), (odd, 7, 9, 5, -6)]),  # one volume: kept once
                ([1, 2, 3, 4, 0, 0, 5, -6], [("a", 1, 2, 3, 4), (odd, None, None, 5, -6)])):
            count, dev, names, packed = rows.pack([f[0] for f in files], numbers)
            self.assertEqual(len(packed), 8 * (3 if dev is not None else 4) * 2)
            self.assertEqual(rows.unpack(count, dev, names, packed), files)
            other = array.array("q", packed)
            other.byteswap()
            self.assertEqual(rows.unpack(count, dev, names, other.tobytes(), swapped), files)

    def test_a_damaged_row_finds_nothing(self):
        import zlib
        count, dev, names, numbers = rows.pack(["a", "b"], [1, 2, 3, 4, 1, 6, 7, 8])
        for bad in ((3, dev, names, numbers), (count, dev, names, numbers[:-1]),
                    (count, dev, zlib.compress(b"a\0b\0c"), numbers), (count, None, names, numbers),
                    (count, dev, "text", numbers), (None, dev, names, numbers), (count, dev, b"\xff\xfe", numbers),
                    (count, "1", names, numbers), (rows.MAX_FILES + 1, dev, names, numbers),
                    (count, dev, zlib.compress(b"a" * (2 * rows.MAX_NAME) + b"\0b"), numbers)):  # a zlib bomb
            self.assertEqual(rows.unpack(*bad), [], bad[:2])


class IndexPathTest(TempDirTestCase):
    def test_an_index_in_a_folder_whose_name_holds_uri_characters_is_read(self):
        """The index's newest time is read through an SQLite URI: a folder
        named with "%", "?", "#" or a space still reaches the file."""
        import sqlite3
        for name in ("plain", "a b", "50%25 off", "what?", "#1", "%", "x?mode=rw#y"):
            if os.name == "nt" and "?" in name:  # not a name Windows allows
                continue
            with self.subTest(name=name):
                folder = self.path(name)
                os.makedirs(folder)
                path = os.path.join(folder, "S.index")
                db = sqlite3.connect(path)
                db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
                db.execute("INSERT INTO meta VALUES ('newest', 1234567890)")
                db.commit()
                db.close()
                self.assertEqual(lookup._meta(path), {"newest": 1234567890})


if __name__ == "__main__":
    unittest.main()
