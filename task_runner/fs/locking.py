"""Cross-process file locks: fcntl.flock on POSIX, msvcrt.locking on Windows.

A lock is held by an open file handle, so the OS releases it when the
process dies, however it dies: a crashed run never leaves a stale lock.
Two FileLock objects for the same path conflict even inside one process
(flock locks belong to the open file, msvcrt locks to the handle), which is
what lets threads of the HTTP server and the daemon use the same locks.
"""

import errno
import json
import os
import time

from ..errors import AlreadyRunning, BackupError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


LOCK_DIR = ".locks"  # beside config.json's history: every lock of the programs


def lock_dir_beside(path):
    """The folder of the locks for the file ``path`` and its neighbours."""
    return os.path.join(os.path.dirname(path), LOCK_DIR)


def lock_path_for(path):
    """The lock file that guards the file ``path`` (the history, the log)."""
    return os.path.join(lock_dir_beside(path), os.path.basename(path) + ".lock")


def try_lock(fd):
    """Take the lock on ``fd`` without waiting; True when it was taken."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except (BlockingIOError, PermissionError):
            return False
    try:
        # Lock the first byte (msvcrt locks from the current position).
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class FileLock(object):
    """An exclusive lock on ``path`` shared by every process on the machine.

    ``acquire(timeout=0)`` tries once; ``timeout=None`` waits for ever.
    A lock file in use is never deleted (deleting it would let two processes
    lock two different files of the same name): only ``remove_unused``
    deletes one, and only after taking it.
    """

    poll_interval = 0.05

    def __init__(self, path):
        self.path = path
        self._fd = None

    def acquire(self, timeout=0):
        if self._fd is not None:
            raise RuntimeError("lock %s is already held by this object" % self.path)
        folder = os.path.dirname(self.path)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
        # Only this account may open it (and so lock it): another account of the computer could
        # otherwise hold a task's lock, or the history's, and stop every backup (found from outside).
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise BackupError("the lock file %s is a symbolic link (put there by another account?): nothing is "
                              "ever locked through a link; delete it, and keep the folder of the history "
                              "writable by this account only" % self.path)
        _keep_private(fd)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if try_lock(fd):
                self._fd = fd
                return True
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(self.poll_interval)

    def release(self):
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self):
        if not self.acquire(timeout=0):
            raise AlreadyRunning("%s is locked by another process" % self.path)
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def is_free(self):
        """True when nobody holds the lock right now (takes and drops it)."""
        if self.acquire(timeout=0):
            self.release()
            return True
        return False


def _keep_private(fd):
    """A lock file made before locks were private (0644) becomes 0600, when it is ours."""
    if os.name == "nt":
        return
    st = os.fstat(fd)
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.fchmod(fd, 0o600)


def info_path(lock_path):
    return lock_path[:-len(".lock")] + ".json" if lock_path.endswith(".lock") else lock_path + ".json"


def write_holder(lock, data):
    """Say who holds ``lock`` (program, process id, since when) in a small
    JSON file beside it, for --status. Written whole or not at all."""
    path = info_path(lock.path)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass


def holder(lock_path):
    """What write_holder said, when the lock is held right now; else None."""
    if FileLock(lock_path).is_free():
        return None
    try:
        with open(info_path(lock_path), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {}
    return data if isinstance(data, dict) else {}


def remove_unused(lock_path):
    """Delete a lock file nobody holds (a task that was removed from the
    config). Taken first, so a lock in use is never deleted."""
    lock = FileLock(lock_path)
    if not lock.acquire(timeout=0):
        return False
    try:
        if os.name != "nt":
            os.remove(lock_path)  # POSIX: while still held
    except OSError:
        pass
    finally:
        lock.release()
    if os.name == "nt":
        try:
            os.remove(lock_path)  # Windows cannot delete an open file
        except OSError:
            pass
    return True
