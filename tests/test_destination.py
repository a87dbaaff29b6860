"""What a destination keeps (owner, mode, times), found once per run, and
what each file then costs there: a share whose account is not root keeps
times, so it links unchanged files; root never sets an owner a new file
already has."""

import collections
import errno
import os
import stat
import unittest

from task_runner import engine
from task_runner.fs import fileio
from task_runner.engine import previous
from tests.helpers import NOBODY, UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
OLD = ts("2020-05-17T08:30:00+00:00")
POSIX = os.name != "nt"
ROOT_USER = POSIX and os.geteuid() == 0


class CountingOps(fileio.Ops):
    """Counts the metadata calls per kind (owner, mode, times) and refuses
    the kinds in ``refuse`` with EPERM, as a share does."""

    def __init__(self, refuse=()):
        self.calls = collections.Counter()
        self.owners = []  # (uid, gid) of each owner call
        self.refuse = set(refuse)

    def _call(self, kind, func, *args, **kw):
        self.calls[kind] += 1
        if kind in self.refuse:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return func(*args, **kw)

    def fchown(self, fd, uid, gid):
        self.owners.append((uid, gid))
        return self._call("owner", os.fchown, fd, uid, gid)

    def chown(self, path, uid, gid, follow_symlinks=True):
        self.owners.append((uid, gid))
        return self._call("owner", os.chown, path, uid, gid, follow_symlinks=follow_symlinks)

    def fchmod(self, fd, mode):
        return self._call("mode", os.fchmod, fd, mode)

    def chmod(self, path, mode):
        return self._call("mode", os.chmod, path, mode)

    def utime(self, target, ns, follow_symlinks=True):
        return self._call("times", os.utime, target, ns=ns, follow_symlinks=follow_symlinks)


class Base(TempDirTestCase):
    def setUp(self):
        super(Base, self).setUp()
        self.dest = self.path("dest")
        for i in range(6):
            self.write("src/d%d/f" % (i % 2) + str(i), "data %d" % i, mtime=OLD)

    def snap(self, ops, started=T0):
        task = make_task(self.path("src"), self.dest)
        return engine.make_snapshot(task, started, UTC, ops=ops)

    def files(self):
        for folder, _, names in os.walk(self.path("src")):
            for name in names:
                yield os.path.relpath(os.path.join(folder, name), self.path("src"))


@unittest.skipUnless(ROOT_USER, "setting owners needs root")
class OwnerCallsTest(Base):
    def test_no_owner_call_for_a_file_that_already_has_its_owner(self):
        os.chown(self.path("src/d1/f1"), NOBODY, NOBODY)
        ops = CountingOps()
        result = self.snap(ops)
        new_owner = (os.geteuid(), os.getegid())
        self.assertNotIn(new_owner, ops.owners)  # every file and folder here is root's but one
        st = os.stat(os.path.join(result.snapshot, "d1", "f1"))
        self.assertEqual((st.st_uid, st.st_gid), (NOBODY, NOBODY))
        self.assertEqual(result.warnings, [])


@unittest.skipUnless(POSIX, "owners and permission bits are POSIX")
class RefusingDestinationTest(Base):
    """Each metadata step stands alone: a kind the destination refuses is
    said once, and costs neither the other kinds nor the next run's links."""

    def two_runs(self, refuse):
        first = self.snap(CountingOps(refuse))
        ops = CountingOps(refuse)
        second = self.snap(ops, T0 + 60)
        return first, second, ops

    def assert_times_kept(self, snapshot):
        for rel in self.files():
            self.assertEqual(os.stat(os.path.join(snapshot, rel)).st_mtime_ns,
                             os.stat(self.path("src", rel)).st_mtime_ns, rel)

    @unittest.skipUnless(ROOT_USER, "only root sets owners")
    def test_a_share_that_refuses_owners_keeps_times_and_modes_and_links(self):
        for rel in self.files():
            os.chown(self.path("src", rel), NOBODY, NOBODY)  # not the owner a new file gets
            os.chmod(self.path("src", rel), 0o640)
        first, second, ops = self.two_runs(refuse=("owner",))
        self.assert_times_kept(first.snapshot)
        for rel in self.files():
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(first.snapshot, rel)).st_mode), 0o640)
        self.assertEqual(len(first.warnings), 1, first.warnings)
        self.assertIn("owner", first.warnings[0])
        self.assertNotIn("times", first.warnings[0])
        self.assertNotIn("permission", first.warnings[0])
        self.assertEqual((second.linked, second.copied, second.error_count), (6, 0, 0))
        self.assertLessEqual(ops.calls["owner"], 1)  # found out once, not tried per file

    def test_a_destination_that_refuses_modes_keeps_times_and_links(self):
        for rel in self.files():
            os.chmod(self.path("src", rel), 0o777)  # never what creating a file gives (umask)
        first, second, ops = self.two_runs(refuse=("mode",))
        self.assert_times_kept(first.snapshot)
        self.assertEqual(len(first.warnings), 1, first.warnings)
        self.assertIn("permission", first.warnings[0])
        self.assertNotIn("times", first.warnings[0])
        self.assertEqual((second.linked, second.copied), (6, 0))
        self.assertLessEqual(ops.calls["mode"], 2)

    def test_a_destination_that_refuses_times_says_so_and_copies(self):
        first, second, ops = self.two_runs(refuse=("times",))
        self.assertEqual(len(first.warnings), 1, first.warnings)
        self.assertIn("modification times", first.warnings[0])
        self.assertNotIn("owner", first.warnings[0])
        self.assertEqual((second.linked, second.copied, second.error_count), (0, 6, 0))
        self.assertLessEqual(ops.calls["times"], 1)


class FollowingOps(fileio.Ops):
    """sshfs: setting a symbolic link's own times sets its target's."""

    def utime(self, target, ns, follow_symlinks=True):
        return os.utime(target, ns=ns)


@unittest.skipUnless(POSIX and os.utime in os.supports_follow_symlinks, "link times are set on POSIX")
class LinkTimesTest(Base):
    def test_a_link_never_changes_its_targets_times(self):
        os.symlink("f1", self.path("src/d1/link"))
        os.utime(self.path("src/d1/link"), (OLD + 999, OLD + 999), follow_symlinks=False)
        result = self.snap(FollowingOps())
        self.assertEqual(os.stat(os.path.join(result.snapshot, "d1", "f1")).st_mtime_ns,
                         os.stat(self.path("src/d1/f1")).st_mtime_ns)
        self.assertEqual(os.readlink(os.path.join(result.snapshot, "d1", "link")), "f1")
        self.assertEqual(result.warnings, [])


class PreviousTreeTest(TempDirTestCase):
    def test_lookups_from_one_listing_per_folder_or_one_lstat_per_file(self):
        self.write("prev/a/f", "1234")
        self.write("prev/a/g", "5")
        os.makedirs(self.path("outside"))
        self.write("outside/f", "x")
        if POSIX:
            os.symlink(self.path("outside"), self.path("prev/link"))
        for max_names in (previous.MAX_NAMES, 1, 0):  # 1: every folder too large to hold; 0: never listed
            with self.subTest(max_names=max_names):
                tree = previous.PreviousTree(self.path("prev"), max_names)
                tree.enter("a")
                path, st = tree.lookup("f")
                self.assertEqual(path, self.path("prev", "a", "f"))
                self.assertEqual((st.st_size, st.st_mtime_ns), (4, os.lstat(path).st_mtime_ns))
                self.assertIsNone(tree.lookup("missing"))
                tree.enter("missing")
                self.assertIsNone(tree.here())
                self.assertIsNone(tree.lookup("f"))
                tree.leave()
                tree.leave()
                tree.enter("link")  # a link to a folder is never followed
                self.assertIsNone(tree.lookup("f"))
