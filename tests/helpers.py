"""Shared test helpers: temporary folders, configs, a fake clock, TZ."""

import json
import os
import pickle
import shutil
import tempfile
import time
import traceback
import unittest

from task_runner.fs import osutil
from task_runner.config import TASK_KEYS, Task, load_config
from task_runner.clock import FixedZone, parse_iso

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UTC = FixedZone(0)
NOBODY = 65534  # the unprivileged user and group of Debian and most Linux systems


def ts(text):
    """Epoch seconds for an ISO time with offset ('2026-11-01T23:56:00+00:00')."""
    return parse_iso(text)


def make_task(src, dest, **values):
    """A Task with every key at its config default, overridden by ``values``."""
    fields = {k.attr or name: k.default for name, k in TASK_KEYS.items()}
    fields.update(name="T", src=src, dest=dest)
    fields.update(values)
    return Task(**fields)


def slow_file(path, size):
    """A file of ``size`` zero bytes that takes the engine long enough to
    copy to be caught mid-copy, at no cost to make. Where it can, its space
    is allocated (posix_fallocate): the engine keeps the holes of a sparse
    file, so a sparse one would be copied at once. Elsewhere (Windows, a
    file system without fallocate) it is sparse, which Windows copies whole."""
    with open(path, "wb") as f:
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(f.fileno(), 0, size)
                return
            except OSError:
                pass
        f.truncate(size)


class TempDirTestCase(unittest.TestCase):
    """Gives each test a real temporary folder, removed afterwards."""

    def setUp(self):
        super(TempDirTestCase, self).setUp()
        self.tmp = tempfile.mkdtemp(prefix="task_runner_test_")
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for root, dirs, files in os.walk(self.tmp):
            for name in dirs + files:
                try:
                    os.chmod(os.path.join(root, name), 0o700)
                except OSError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def as_unprivileged(self, func, *args):
        """Run ``func(*args)`` as an ordinary user and return its result.

        Permission handling only shows without root: when the suite runs as
        root (as CI does), ``func`` runs in a forked child that has become
        ``nobody`` (uid/gid 65534), after the test's folder was given to that
        user; otherwise (and on Windows) it runs here. The child's exception
        fails the test with its traceback."""
        if os.name == "nt" or os.geteuid() != 0:
            return func(*args)
        # What the library loads lazily is loaded now: the user nobody may
        # not read the interpreter's own library under /root.
        osutil.flush_filesystem(self.tmp)
        for folder, dirs, files in os.walk(self.tmp):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.lchown(name, NOBODY, NOBODY)
        kind, value = as_nobody(func, *args)
        if kind != "ok":
            self.fail("as an unprivileged user:\n" + value)
        return value

    def write(self, rel, data="x", mtime=None):
        full = self.path(rel)
        folder = os.path.dirname(full)
        if not os.path.isdir(folder):
            os.makedirs(folder)
        with open(full, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        if mtime is not None:
            os.utime(full, (mtime, mtime))
        return full

    def write_config(self, data, name="config.json"):
        path = self.path(name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(data if isinstance(data, str) else json.dumps(data, indent=1))
        return path

    def make_config(self, tasks=None, **top):
        """A valid config in self.tmp with one task T (src/ -> dest/)."""
        if tasks is None:
            tasks = [{"name": "T", "src": "src", "dest": "dest", "timestamp": "1 23:56",
                      "default": True}]
        for task in tasks:
            src = os.path.join(self.tmp, task["src"])
            if not os.path.isdir(src):
                os.makedirs(src)
        data = {"tasks": tasks}
        data.update(top)
        return load_config(self.write_config(data))


class FakeClock(object):
    """A clock the daemon reads and a wait that advances it.

    ``wait(timeout)`` moves time forward by ``timeout`` (plus any jump queued
    with ``jump_after_wait``) and stops the daemon once ``until`` is passed.
    """

    def __init__(self, start, until=None, stop_event=None):
        self.now = float(start)
        self.until = until
        self.stop_event = stop_event
        self.waits = []
        self._jumps = []

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds

    def jump_after_wait(self, seconds):
        self._jumps.append(seconds)

    def wait(self, timeout):
        self.waits.append(timeout)
        self.now += timeout
        if self._jumps:
            self.now += self._jumps.pop(0)
        if self.until is not None and self.now >= self.until and self.stop_event is not None:
            self.stop_event.set()
        return self.stop_event.is_set() if self.stop_event is not None else False


class TZMixin(object):
    """Run a test under a named TZ (POSIX only: time.tzset)."""

    def set_tz(self, name):
        if not hasattr(time, "tzset"):
            self.skipTest("time.tzset is POSIX-only; DST tables run on Linux")
        old = os.environ.get("TZ")

        def restore():
            if old is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old
            time.tzset()
        self.addCleanup(restore)
        os.environ["TZ"] = name
        time.tzset()
        if time.localtime(ts("2026-07-01T12:00:00+00:00")).tm_gmtoff == 0 and name != "UTC":
            self.skipTest("no tz database for %s on this machine" % name)


def as_nobody(func, *args):
    """``func(*args)`` in a forked child that has become the user nobody:
    ("ok", its result) or ("error", its traceback)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test runner
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            payload = ("ok", func(*args))
            code = 0
        except BaseException:
            payload = ("error", traceback.format_exc())
        try:
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(payload, out)
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def wait_for(predicate, timeout=30, interval=0.02):
    """Poll ``predicate`` until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def outside_program(test, names, why_missing):
    """The path of the first of ``names`` on PATH, for a test that needs a
    real outside program (chromium, promtool, rclone, sshfs...). When none
    is there the test skips with ``why_missing``, except under CI
    (CI=true) on POSIX, where .ci/run installs them: there it fails, so
    nothing skips unseen. (The Windows lane may skip.)"""
    for name in names:
        path = shutil.which(name) if name else None
        if path:
            return path
    program_missing(test, why_missing)


def program_missing(test, why):
    """Skip ``test`` for a missing outside program, or fail under CI on POSIX."""
    if os.environ.get("CI") == "true" and os.name != "nt":
        test.fail("%s (CI installs it: .ci/run)" % why)
    test.skipTest(why)


def copy_file(src, dst):
    """shutil.copy2 (bytes, times, mode) for ``copy_function=``, without
    CopyFile2: Windows Python 3.12+ calls it, and Wine 8 lacks it (the whole
    suite is aborted)."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write(f.read())
    shutil.copystat(src, dst)
    return dst
