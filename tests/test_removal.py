"""Deleting a snapshot tree (removal.remove_tree) with one worker and with
several (as on a network share): everything inside goes, read-only
folders and files included; a link inside is removed, never what it points
to; a file shared with a kept snapshot keeps its mode."""

import os
import stat
import threading
import unittest

from task_runner.fs import removal
from tests.helpers import TempDirTestCase

POSIX = os.name != "nt"


class RemoveTreeTest(TempDirTestCase):
    def build(self, name):
        """A tree ``name`` of 4 folders of 30 files, nested, with a link to
        a file and one to a folder outside it, and a file shared (a hard
        link) with the kept folder; read-only files and folders."""
        for d in range(4):
            for f in range(30):
                self.write("%s/d%d/deeper/f%d" % (name, d, f) if f % 2 else "%s/d%d/f%d" % (name, d, f), "x" * f)
        self.write("outside/file", "keep me")
        self.write("outside/folder/inner", "keep me too")
        self.write("kept/d1/shared", "shared")  # a kept snapshot: the same layout
        os.chmod(self.path("kept/d1/shared"), 0o444)
        os.link(self.path("kept/d1/shared"), self.path(name, "d1", "shared"))
        if POSIX:
            os.symlink(self.path("outside/file"), self.path(name, "d0", "to-file"))
            os.symlink(self.path("outside/folder"), self.path(name, "d2", "deeper", "to-folder"))
        for f in range(0, 30, 3):
            os.chmod(self.path(name, "d3", "f%d" % f if f % 2 == 0 else "deeper/f%d" % f), 0o444)
        if POSIX:
            os.chmod(self.path(name, "d3", "deeper"), 0o555)
            os.chmod(self.path(name, "d3"), 0o555)

    def remove(self, name, workers):
        removal.remove_tree(self.path(name), [self.path("kept")], workers=workers)

    def test_one_or_several_workers_remove_all_and_nothing_outside(self):
        for workers in (1, 4):
            with self.subTest(workers=workers):
                name = "tree%d" % workers
                self.build(name)
                self.as_unprivileged(self.remove, name, workers)
                self.assertFalse(os.path.lexists(self.path(name)))
                self.assertEqual(self.read("outside/file"), "keep me")
                self.assertEqual(self.read("outside/folder/inner"), "keep me too")
                self.assertEqual(stat.S_IMODE(os.stat(self.path("kept/d1/shared")).st_mode), 0o444)
                self.assertEqual(self.read("kept/d1/shared"), "shared")
                self.assertEqual([t.name for t in threading.enumerate() if t.name.startswith("copy-")], [])

    @unittest.skipUnless(POSIX, "folder permissions are POSIX")
    def test_several_workers_remove_a_folder_nobody_can_read(self):
        self.build("tree")
        os.chmod(self.path("tree", "d0"), 0)
        self.as_unprivileged(self.remove, "tree", 4)
        self.assertFalse(os.path.lexists(self.path("tree")))

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()


if __name__ == "__main__":
    unittest.main()
