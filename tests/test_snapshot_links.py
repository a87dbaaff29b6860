"""Another account of the computer, writing inside its own copy in a
snapshot, puts links where its folders and files were while the snapshot
is read: nothing outside the snapshot is ever read, and what is restored
has the owner and mode of what was read (issue 28)."""

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import unittest

from task_runner.restore import restorer as restore, verify
from task_runner.snapshots import reader as snapshot_reader
from task_runner.fs import reading as snapshot_folder
from tests.helpers import TempDirTestCase, make_task
from tests.test_integrity import can_symlink
from tests.test_restore import T0, UTC

SNAP = "2026-11-27_10-00-00"
def read_text(path):
    with open(path) as f:
        return f.read()


ROOT_ONLY = os.name != "nt" and hasattr(os, "geteuid") and os.geteuid() == 0


class SwapTest(TempDirTestCase):
    """A folder swapped for a link (or a file for another) between the
    listing and the read, made deterministic by swapping at that moment."""

    def setUp(self):
        super(SwapTest, self).setUp()
        if not can_symlink(self.tmp):
            self.skipTest("this account cannot make symbolic links (Wine cannot at all: docs/DEVELOPMENT.md)")
        self.snap = self.path("dest", SNAP)
        self.write("dest/%s/alice/p/helper" % SNAP, "alice's own")
        self.write("secret/helper", "SECRET")
        self.write("secret/shadow", "SECRET")

    def swap_in_link(self):
        """alice/p becomes a link to the secret folder (its folder kept as p.x)."""
        p = os.path.join(self.snap, "alice", "p")
        os.rename(p, p + ".x")
        os.symlink(self.path("secret"), p, target_is_directory=True)

    def test_a_file_whose_folder_became_a_link_is_not_read(self):
        with snapshot_reader.SnapshotReader(self.snap) as reader:
            entry = [e for e in reader.entries() if e.rel == os.path.join("alice", "p", "helper")][0]
            self.swap_in_link()
            with self.assertRaises(snapshot_folder.Changed):
                with reader.open(entry) as f:
                    self.fail("read through the link: %r" % f.read())

    def test_a_file_replaced_by_another_is_not_read(self):
        with snapshot_reader.SnapshotReader(self.snap) as reader:
            entry = [e for e in reader.entries() if e.rel == os.path.join("alice", "p", "helper")][0]
            victim = os.path.join(self.snap, "alice", "p", "helper")
            os.unlink(victim)
            os.symlink(self.path("secret", "helper"), victim)
            with self.assertRaises(snapshot_folder.Changed):
                reader.open(entry)

    def test_the_walk_never_lists_through_a_folder_that_became_a_link(self):
        seen = []
        for entry in snapshot_reader.read_entries(self.snap):
            seen.append(entry)
            if entry.rel == os.path.join("alice", "p") and entry.kind == "dir":
                self.swap_in_link()  # after p was listed as a folder, before its contents
        rels = {e.rel: e for e in seen if e.kind != "error"}
        self.assertNotIn(os.path.join("alice", "p", "shadow"), rels)
        self.assertEqual(rels[os.path.join("alice", "p")].kind, "dir")
        errors = [e for e in seen if e.kind == "error"]
        self.assertEqual([e.rel for e in errors], [os.path.join("alice", "p")], seen)
        self.assertIn("changed while it was read", errors[0].target)

    def test_a_link_put_in_before_the_restore_comes_back_as_a_link(self):
        task = make_task(self.path("src"), self.path("dest"))
        # Swapped before the restore starts: the link is restored as a link, nothing below it.
        self.swap_in_link()
        got = restore.restore(task, SNAP, self.path("out"), clock=lambda: T0, zone=UTC)
        self.assertTrue(os.path.islink(self.path("out", "alice", "p")))
        self.assertEqual(read_text(self.path("out", "alice", "p.x", "helper")), "alice's own")
        self.assertFalse(os.path.exists(self.path("out", "secret")))
        self.assertEqual(got.error_count, 0, got.errors)

    def test_browsing_never_passes_a_link(self):
        self.swap_in_link()
        with snapshot_reader.SnapshotReader(self.snap) as reader:
            self.assertEqual(reader.children(os.path.join("alice", "p")), [])
            self.assertIsNone(reader.entry(os.path.join("alice", "p", "shadow")))
            self.assertEqual(reader.entry(os.path.join("alice", "p")).kind, "link")

    def test_verify_compares_through_the_reader(self):
        """verify never lists or reads what a link in the snapshot leads to."""
        self.write("src/alice/p/helper", "alice's own")
        task = make_task(self.path("src"), self.path("dest"))
        os.utime(self.path("src/alice/p/helper"), ns=(os.stat(self.snap + "/alice/p/helper").st_mtime_ns,) * 2)
        self.swap_in_link()
        got = verify.verify_task(task, deep=True, snapshot=self.snap)
        text = "\n".join(got.differences)
        self.assertNotIn("shadow", text)
        self.assertIn("changed: alice/p (a folder in the source)", text)
        self.assertIn("missing: alice/p/helper", text)

    def test_the_checked_path_branch_refuses_links_too(self):
        """Windows has no dir_fd: each name is checked on the way and the
        file opened is compared with the one listed (run here on a real link)."""
        top = snapshot_folder.ReadFolder(self.snap)  # fd None: the Windows branch
        p = top.sub("alice").sub("p")
        st = p.lstat("helper")
        self.swap_in_link()
        with self.assertRaises(snapshot_folder.Changed):
            top.sub("alice").sub("p")
        with self.assertRaises(snapshot_folder.Changed):  # the path now leads into the secret folder
            p.open_file("helper", (st.st_dev, st.st_ino))


class SourceSwapTest(TempDirTestCase):
    """The backup side of the same attack: a folder of the source swapped
    for a link to another user's private folder after the walk listed it
    (found from outside: root's backup copied the other user's file into
    the swapper's folder, in folder and ZIP snapshots)."""

    def test_a_file_reached_through_a_link_swapped_in_is_not_copied(self):
        if not can_symlink(self.tmp):
            self.skipTest("no symbolic links here (Wine)")
        from task_runner import engine
        from task_runner.fs.fileio import Ops
        self.write("src/alice/d2/notes.txt", "alice's")
        self.write("secret/notes.txt", "SECRET!")  # the same size
        outer = self

        class Swapping(Ops):
            def open_read(self, path):
                if path.endswith("notes.txt") and not os.path.islink(outer.path("src", "alice", "d2")):
                    os.rename(outer.path("src", "alice", "d2"), outer.path("src", "alice", "d2.x"))
                    os.symlink(outer.path("secret"), outer.path("src", "alice", "d2"))
                return Ops.open_read(path)
        for fmt in ("folder", "zip"):
            with self.subTest(fmt=fmt):
                if os.path.islink(self.path("src", "alice", "d2")):
                    os.unlink(self.path("src", "alice", "d2"))
                    os.rename(self.path("src", "alice", "d2.x"), self.path("src", "alice", "d2"))
                task = make_task(self.path("src"), self.path("dest-" + fmt), format=fmt)
                result = engine.make_snapshot(task, T0, UTC, ops=Swapping())
                self.assertIn("changed while it was read", " ".join(result.errors))
                with snapshot_reader.SnapshotReader(result.snapshot) as reader:
                    for entry in reader.entries():
                        if entry.kind == "file":
                            with reader.open(entry) as f:
                                self.assertNotIn(b"SECRET", f.read(), entry.rel)


@unittest.skipUnless(ROOT_ONLY, "needs root: another account swaps links while root restores")
class AnotherAccountRacesTest(TempDirTestCase):
    """The attack as it was measured: an unprivileged account exchanges its
    folder and a link to a root-only folder in a loop while root restores."""

    SWAPPER = textwrap.dedent("""
        import ctypes, os, sys, time
        os.setgid(65534); os.setuid(65534)
        libc = ctypes.CDLL(None, use_errno=True)
        a, b = sys.argv[1].encode(), sys.argv[2].encode()
        end = time.time() + float(sys.argv[3])
        exchange = getattr(libc, "renameat2", None)
        while time.time() < end:
            if exchange is not None and exchange(-100, a, -100, b, 2) == 0:  # RENAME_EXCHANGE
                continue
            try:
                os.rename(a, a + b".tmp"); os.rename(b, a); os.rename(a + b".tmp", b)
            except OSError:
                pass
    """)

    def test_no_root_file_and_no_secret_comes_out(self):
        if not can_symlink(self.tmp):
            self.skipTest("no symbolic links here")
        os.chmod(self.tmp, 0o755)
        secret = self.path("secret")
        self.write("secret/helper", "SECRET")
        self.write("secret/shadow", "SECRET")
        os.chmod(self.path("secret/helper"), 0o4755)
        os.chmod(self.path("secret/shadow"), 0o600)
        os.chmod(secret, 0o755)
        alice = self.path("dest", SNAP, "alice")
        self.write("dest/%s/alice/p/helper" % SNAP, "alice's code")
        self.write("dest/%s/alice/p/shadow" % SNAP, "alice's notes")
        os.symlink(secret, os.path.join(alice, "p.x"), target_is_directory=True)
        for folder, dirs, files in os.walk(alice):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.lchown(name, 65534, 65534)
        os.chmod(self.path("dest"), 0o755)
        os.chmod(self.path("dest", SNAP), 0o755)
        task = make_task(self.path("src"), self.path("dest"))
        swapper = subprocess.Popen([sys.executable, "-c", self.SWAPPER, os.path.join(alice, "p"),
                                    os.path.join(alice, "p.x"), "4"])
        self.addCleanup(swapper.wait)
        self.addCleanup(swapper.kill)
        time.sleep(0.2)
        end, rounds = time.time() + 3, 0
        while time.time() < end and swapper.poll() is None:
            out = self.path("out%d" % rounds)
            restore.restore(task, SNAP, out, wanted=["alice"], clock=lambda: T0, zone=UTC)
            self.assert_nothing_of_roots(out)
            shutil.rmtree(out)
            rounds += 1
        self.assertGreater(rounds, 0)
        self.assertEqual(sorted(os.listdir(secret)), ["helper", "shadow"])
        with open(os.path.join(secret, "shadow")) as f:
            self.assertEqual(f.read(), "SECRET")

    def assert_nothing_of_roots(self, out):
        for folder, dirs, files in os.walk(out):
            for name in files:
                full = os.path.join(folder, name)
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    continue
                self.assertFalse(st.st_mode & (stat.S_ISUID | stat.S_ISGID) and st.st_uid == 0,
                                 "%s came out set-ID root" % full)
                self.assertNotEqual(st.st_uid, 0, "%s came out owned by root" % full)
                with open(full) as f:
                    self.assertNotIn("SECRET", f.read(), full)


if __name__ == "__main__":
    unittest.main()
