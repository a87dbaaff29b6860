"""File I/O of a snapshot: the ``Ops`` seam, copying a file's data (holes
of sparse files kept), and what decides whether a previous copy can stand
for a source file.

Every writer (folder, restore) goes through ``Ops`` for the calls that
touch the destination, so tests inject faults (disk full, a vanished file,
a refused link or owner, a destination with coarse times, a slow disk)
without patching.
"""

import errno
import hashlib
import os
import stat
import sys
import time

from . import filesystems, osutil

CHUNK = 1024 * 1024
SENDFILE_CHUNK = 8 * CHUNK
# A file another program has locked (Windows sharing violation) is tried
# this many more times, this many seconds apart, before it is skipped.
LOCKED_RETRIES = 2
LOCKED_DELAY = 1.0
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_NOINHERIT = getattr(os, "O_NOINHERIT", 0) | getattr(os, "O_CLOEXEC", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY | _NOINHERIT
_SETID = stat.S_ISUID | stat.S_ISGID
FD_METADATA = not osutil.WINDOWS  # fchmod, fchown and futimens exist


# The resolutions file systems keep times at (NTFS 100 ns, microseconds,
# exFAT 10 ms, whole seconds, FAT 2 s).
_TIME_RESOLUTIONS_NS = (100, 1000, 10 ** 7, 10 ** 9, 2 * 10 ** 9)


def same_mtime(a_ns, b_ns):
    """Whether two modification times are one time kept at two resolutions:
    equal, or one of them a whole number of a coarser resolution and the
    other within it (a copy on FAT or exFAT). Two fine times that differ are
    different, however close: a slack of 2 s for every file took a file
    changed a second later, at the same size, for the same."""
    if a_ns == b_ns:
        return True
    return any(abs(a_ns - b_ns) < r and (a_ns % r == 0 or b_ns % r == 0) for r in _TIME_RESOLUTIONS_NS)


def stream_digest(f, algorithm):
    """The hashlib object of ``algorithm`` ("sha256", "md5") fed with what
    is left to read in the open binary file ``f``."""
    digest = hashlib.new(algorithm)
    for block in iter(lambda: f.read(CHUNK), b""):
        digest.update(block)
    return digest


class Ops(object):
    """Every file operation the engine performs on the disk, in one place:
    tests subclass it to inject faults (disk full, a vanished file, a
    refused link, a destination with coarse times) without patching."""

    open_read = staticmethod(osutil.open_for_backup)

    @staticmethod
    def is_listed_file(fd, st):
        """True when open ``fd`` is a regular file and the one the walk
        listed with lstat ``st`` (same device and inode, where the listing
        gives an inode: not Windows')."""
        got = os.fstat(fd)
        return stat.S_ISREG(got.st_mode) and (not st.st_ino or (got.st_dev, got.st_ino) == (st.st_dev, st.st_ino))

    def open_write(self, path, mode=0o666):
        # O_EXCL: a new file, never an existing one written in place.
        return os.open(path, _WRITE_FLAGS, mode)

    read = staticmethod(os.read)
    write = staticmethod(os.write)
    close = staticmethod(os.close)
    # Linux copies in the kernel; elsewhere (Windows, macOS) read/write.
    sendfile = staticmethod(os.sendfile) if sys.platform.startswith("linux") else None
    link = staticmethod(os.link)
    mkdir = staticmethod(os.mkdir)
    symlink = staticmethod(os.symlink)
    sleep = staticmethod(time.sleep)
    utime = staticmethod(os.utime)  # (path or fd, ns=(atime, mtime), follow_symlinks=...)
    chmod = staticmethod(os.chmod)
    # POSIX only (None on Windows, where files belong to whoever writes them).
    chown = staticmethod(os.chown) if hasattr(os, "chown") else None  # (path, uid, gid, follow_symlinks=...)
    fchown = staticmethod(os.fchown) if hasattr(os, "fchown") else None
    fchmod = staticmethod(os.fchmod) if hasattr(os, "fchmod") else None
    # The type of the file system holding a source folder: whether its file
    # ids can be trusted to find moved files (engine/index.py).
    filesystem_type = staticmethod(filesystems.filesystem_type)
    file_identity = staticmethod(filesystems.file_identity)  # (entry, lstat) -> (volume, id) or None


OPS = Ops()


def kept_mode(mode, owners):
    """The permission bits a snapshot gives a file of mode ``mode``: all of
    them when the owner is kept too (``owners``), else without set-user-ID
    and set-group-ID."""
    bits = stat.S_IMODE(mode)
    return bits if owners else bits & ~_SETID


def unchanged(old_st, st, window_ns=0, owners=False, modes=True):
    """True when the previous snapshot's file (``old_st``, an lstat) can
    stand for the source file ``st``: a regular file of the same size, a
    modification time within ``window_ns`` (0: to the nanosecond; None:
    the destination keeps no times, so nothing can be told unchanged),
    the permission bits the snapshot would give it (unless the destination
    keeps none: ``modes`` False) and, when ``owners`` are kept, the same
    owner and group. When in doubt, copy."""
    if window_ns is None or not stat.S_ISREG(old_st.st_mode) or old_st.st_size != st.st_size:
        return False
    if abs(old_st.st_mtime_ns - st.st_mtime_ns) >= max(window_ns, 1):
        return False
    if modes and stat.S_IMODE(old_st.st_mode) != kept_mode(st.st_mode, owners):
        return False
    return not owners or (old_st.st_uid == st.st_uid and old_st.st_gid == st.st_gid)


class DataCopier(object):
    """Copies a file's data to an open descriptor through ``ops``, from
    another descriptor (``copy``) or a stream (``copy_stream``), calling
    ``check_stop`` before each chunk: the one copy loop of the program
    (backup and restore)."""

    def __init__(self, ops, check_stop):
        self.ops = ops
        self.check_stop = check_stop

    def copy(self, fd_in, fd_out, st):
        """Copy ``st.st_size`` bytes of fd_in to fd_out, leaving holes of a
        sparse file as holes. Returns (bytes copied, error or None, "read"
        or "write": which side failed)."""
        size = st.st_size
        if size == 0:
            return 0, None, None
        if getattr(st, "st_blocks", None) is not None and st.st_blocks * 512 < size:
            return self._copy_sparse(fd_in, fd_out, size)
        return self._copy_range(fd_in, fd_out, 0, size)

    def _copy_sparse(self, fd_in, fd_out, size):
        total = 0
        for start, length in osutil.data_extents(fd_in, size):
            try:
                os.lseek(fd_out, start, os.SEEK_SET)
            except OSError as exc:
                return total, exc, "write"
            copied, error, side = self._copy_range(fd_in, fd_out, start, length)
            total += copied
            if error is not None or copied < length:
                return total, error, side
        try:
            os.ftruncate(fd_out, size)  # a hole at the end
        except OSError as exc:
            return total, exc, "write"
        return size, None, None

    def _copy_range(self, fd_in, fd_out, start, length):
        """Copy ``length`` bytes from offset ``start`` of fd_in to fd_out's
        position. A file is copied at the size the walk saw: one that grows
        meanwhile has a new time too, so the next run copies it again."""
        ops = self.ops
        copied = 0
        if ops.sendfile is not None:
            try:
                while copied < length:
                    self.check_stop()
                    sent = ops.sendfile(fd_out, fd_in, start + copied,
                                        min(SENDFILE_CHUNK, length - copied))
                    if sent == 0:
                        break  # the file shrank
                    copied += sent
                return copied, None, None
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", -1)):
                    return copied, exc, "write"
                # Anything else (not supported here, a read error): the
                # read/write loop below tells read errors from write errors.
        try:
            os.lseek(fd_in, start + copied, os.SEEK_SET)
        except OSError as exc:
            return copied, exc, "read"
        more, error, side = self._pump(lambda n: ops.read(fd_in, n), fd_out, length - copied)
        return copied + more, error, side

    def copy_stream(self, read, fd_out, size):
        """Copy ``size`` bytes of ``read(n)`` (a file object's read, such
        as a ZIP entry's) to fd_out; returns what ``copy`` returns. Fewer
        when the stream ends early: the caller decides what that means."""
        return self._pump(read, fd_out, size)

    def _pump(self, read, fd_out, length):
        """The read/write loop: ``length`` bytes of ``read(n)`` to fd_out."""
        copied = 0
        while copied < length:
            self.check_stop()
            try:
                buf = read(min(CHUNK, length - copied))
            except OSError as exc:
                return copied, exc, "read"
            if not buf:
                break
            view = memoryview(buf)
            while view:
                try:
                    n = self.ops.write(fd_out, view)
                except OSError as exc:
                    return copied, exc, "write"
                view = view[n:]
            copied += len(buf)
        return copied, None, None


def copy_bytes(src, dst):
    """The bytes of file ``src`` into ``dst``, for the engine's own small
    files (not shutil.copyfile: Windows Python 3.12+ copies with CopyFile2,
    which Wine 8 lacks, and the whole Windows lane was aborted)."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            g.write(block)
