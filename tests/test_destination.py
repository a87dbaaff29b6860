"""What a destination keeps (owner, mode, times), found once per run, and
what each file then costs there: a share whose account is not root keeps
times, so it links unchanged files; root never sets an owner a new file
already has."""

import collections
import errno
import os
import stat
import unittest

from task_runner import engine, writers
from tests.helpers import NOBODY, UTC, TempDirTestCase, make_task, ts

T0 = ts("2026-11-27T10:00:00+00:00")
OLD = ts("2020-05-17T08:30:00+00:00")
POSIX = os.name != "nt"
ROOT_USER = POSIX and os.geteuid() == 0


class CountingOps(writers.Ops):
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
