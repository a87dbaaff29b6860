"""Finding a file of the previous snapshot that can stand for a source
file found at no unchanged path: moved or renamed (the same file id),
copied or restored (the same size, time and contents). The record it asks
is index.py's; whether ids can be trusted depends on the file system.
"""

import os

from .lookup import PreviousIndex

LOOK_BACK = 3  # snapshots whose indexes are asked: the previous one and the two before it

# Linux mount types (and Windows volume names, lower case) whose file ids
# stay with a file for its life. FAT and exFAT make ids up from where the
# entry sits; network and FUSE file systems may number files per session.
_STABLE = ("ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs", "reiserfs", "nilfs2",
           "bcachefs", "tmpfs", "apfs", "hfs", "hfsplus", "ntfs", "refs")


def stable_ids(fs_type):
    """True when files of a file system of type ``fs_type`` (as
    filesystems.filesystem_type names it; None: unknown) keep their ids while
    they live, so an id seen again is the same file. When in doubt, False."""
    return fs_type is not None and fs_type.lower() in _STABLE


_HALF = 1 << 63


def _signed(n):
    """``n`` as SQLite's signed 64-bit integer, or None when it does not fit
    (a 128-bit ReFS id: such files are found by size, time and content)."""
    if n < 0 or n >= 1 << 64:
        return None
    return n - (1 << 64) if n >= 1 << 63 else n


class PreviousIndexes(object):
    """The indexes of the newest LOOK_BACK folder snapshots (``paths``,
    newest first), asked in that order, with PreviousIndex's lookups: a
    file that comes back after being gone from the previous snapshot (one
    restored from an older one) is found in the one that still has it.
    ``root`` is the previous snapshot's. None from ``open`` when none has
    an index."""

    def __init__(self, indexes, root):
        self._all = indexes
        self.root = root
        # POSIX: a file whose st_ctime is not before this changed after the previous snapshot's run
        # began, so its size and time there do not vouch for it (None: unknown; lookup.CTIME_MARGIN_NS).
        self.since = next((i.since for i in indexes if i.root == root), None)

    @classmethod
    def open(cls, paths):
        found = [i for i in (PreviousIndex.open(p) for p in paths[:LOOK_BACK]) if i is not None]
        return cls(found, paths[0]) if found else None

    def may_hold(self, st):
        return any(i.may_hold(st) for i in self._all)

    def by_identity(self, ident, st, rel=None):
        """(path, the PreviousIndex that recorded it) of each match; each
        snapshot's copy at ``rel`` first, when given (PreviousIndex.by_identity)."""
        for index in self._all:
            if index.may_hold(st):
                for path in index.by_identity(ident, st, None if rel is None else index.root + os.sep + rel):
                    yield path, index

    def by_size_time(self, st):
        for index in self._all:
            if index.may_hold(st):
                for path in index.by_size_time(st):
                    yield path

    def at_own_path(self, path, rel):
        """Whether ``path`` (found by a lookup) is file ``rel`` of one of
        the snapshots asked: linked from where it was, not moved (a file
        that the previous snapshot lacks, as a partial run's may)."""
        return any(path == index.root + os.sep + rel for index in self._all)

    def close(self):
        for index in self._all:
            index.close()


class Identities(object):
    """The identity key of each source file, or None where its file system
    does not keep ids stable (asked once per volume, through
    ``ops.filesystem_type(folder)``; ids from ``ops.file_identity``: tests
    replace both)."""

    def __init__(self, ops):
        self._type = ops.filesystem_type
        self._identity = ops.file_identity
        self._stable = {}  # volume -> bool

    def key(self, entry, st):
        found = self._identity(entry, st)
        if found is None:
            return None
        stable = self._stable.get(found[0])
        if stable is None:
            stable = self._stable[found[0]] = stable_ids(self._type(os.path.dirname(entry.path)))
        if not stable:
            return None
        if 0 <= found[0] < _HALF and 0 <= found[1] < _HALF:
            return found  # nearly always: no conversion
        dev, ino = _signed(found[0]), _signed(found[1])
        return None if dev is None or ino is None else (dev, ino)


def find_elsewhere(index, ops, entry, st, ident, usable, rel, own_looks_unchanged=False):
    """The path in a previous snapshot (``index``: PreviousIndexes) of a
    file that can stand for source file ``entry`` (lstat ``st``, path
    ``rel``) though it is not linked from its own path in the previous
    snapshot, or None:

    * one recorded with the same identity ``ident`` (None: not trusted
      here) and size and time; its content is compared first when the time
      is in whole milliseconds (set by a tool: it can tie by chance), and
      when the file's inode changed after that snapshot's run began
      (POSIX st_ctime) while that snapshot's copy is at its own path, or
      the previous snapshot has one there that looks unchanged
      (``own_looks_unchanged``): a file written in place with its size and
      time put back, or swapped with another of the same size and time.
      When ``own_looks_unchanged``, a match at ``rel`` is taken first (a
      hard-linked file that stayed put is linked, not moved);
    * else one recorded with the same size and time whose content is equal.

    ``usable(path)`` checks the file there as an unchanged file at its own
    path is checked: its lstat, or None. An old file found different is
    read once, whichever snapshots' names lead to it."""
    if not index.may_hold(st):
        return None
    different = set()  # (volume, id) of old files whose content differs

    def equal(path, old):
        key = (old.st_dev, old.st_ino)
        if key in different:
            return False
        if same_content(ops, entry.path, path, st.st_size):
            return True
        if old.st_ino:
            different.add(key)
        return False
    if ident is not None:
        # (NTFS keeps 100 ns: two times within one such step tie there too,
        # which a file written anew does not meet; comparing every moved
        # file's content on Windows would cost a read of both.)
        tied = st.st_mtime_ns % 1000000 == 0
        for path, found_in in index.by_identity(ident, st, rel if own_looks_unchanged else None):
            old = usable(path) if path is not None else None
            changed = found_in.since is not None and st.st_ctime_ns >= found_in.since
            confirm = tied or changed and (own_looks_unchanged or path == found_in.root + os.sep + rel)
            if old is not None and (not confirm or equal(path, old)):
                return path
    if st.st_size == 0:
        return None  # an empty file costs no data: copied
    for path in index.by_size_time(st):
        old = usable(path) if path is not None else None
        if old is not None and equal(path, old):
            return path
    return None


def same_content(ops, path_a, path_b, size):
    """True when the files at ``path_a`` and ``path_b`` both hold exactly
    ``size`` bytes, equal; False on any difference or error."""
    fds = []
    try:
        for path in (path_a, path_b):
            fds.append(ops.open_read(path))
        left = size
        while left > 0:
            n = min(1024 * 1024, left)
            a, b = os.read(fds[0], n), os.read(fds[1], n)
            if not a or a != b:
                return False
            left -= len(a)
        return not os.read(fds[0], 1) and not os.read(fds[1], 1)
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)
