"""A folder of a restore's target, opened without following links.

Every write of a restore goes through a ``Folder``: it is reached from the
target's root one name at a time, and a name that is a symbolic link (or,
on Windows, a junction or other reparse point) is never passed through:
``sub`` raises ``LinkInTheWay`` and the caller decides (keep it aside,
refuse, or report the entry).

* POSIX (Linux, macOS): a Folder holds an open descriptor, and every
  create, rename, link, chown, chmod and utime is made relative to it
  (``dir_fd=``), the way GNU tar and Go's ``os.Root`` do. A link swapped in
  for a folder after it was opened cannot redirect a write.
* Windows: no ``dir_fd``. Each name is checked with ``lstat`` on the way
  (reparse points refused) and the write uses the checked path; a swap in
  the instant between the check and the write is not prevented there.
"""

import errno
import logging
import os
import re
import stat

from . import locking, osutil
from .reading import ReadFolder, is_link, shared_depth

logger = logging.getLogger(__name__)

FD_WALK = (not osutil.WINDOWS and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")
           and {os.open, os.stat, os.mkdir, os.rename, os.link, os.symlink} <= os.supports_dir_fd)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC
_NEW_FILE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
             | _CLOEXEC)
_LINK_META = os.utime in os.supports_follow_symlinks
STAGING_PREFIX = ".restore-staging-"
STAGING_MARK = ".restore-staging"
_STAGING_RE = re.compile(r"^\.restore-staging-[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(?:_[0-9]+)?$")


class LinkInTheWay(OSError):
    """A symbolic link or reparse point stands where a folder is needed."""

    def __init__(self, path):
        super(LinkInTheWay, self).__init__(errno.ELOOP, "a symbolic link is in the way", path)


class Folder(ReadFolder):
    """One folder of the target; see the module's docstring. What it reads
    (names, lstat, readlink) is its read-only twin's (reading.py)."""

    @classmethod
    def open_root(cls, path):
        """The target itself (resolved by the caller, so following it is intended)."""
        if not FD_WALK:
            if not os.path.isdir(path):
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", path)
            return cls(path)
        return cls(path, os.open(path, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC))

    def again(self):
        """This folder once more, to be closed apart (the same open folder,
        never looked up again by its path)."""
        return Folder(self.path, os.dup(self.fd) if self.fd is not None else None)

    def remove_tree(self, name):
        """Delete the folder ``name`` and all it holds, never following a
        link (a link inside is removed as a link)."""
        folder = self.sub(name)
        try:
            for inner in folder.names():
                st = folder.lstat(inner)
                if st is not None and stat.S_ISDIR(st.st_mode) and not is_link(st):
                    folder.remove_tree(inner)
                else:
                    folder.remove(inner)
        finally:
            folder.close()
        path, fd = self._at(name)
        os.rmdir(path, dir_fd=fd)

    def sub(self, name):
        """The folder ``name`` inside this one. LinkInTheWay for a link,
        NotADirectoryError for anything else that is not a folder,
        FileNotFoundError when there is nothing."""
        if self.fd is not None:
            try:
                return Folder(self.join(name), os.open(name, DIR_FLAGS, dir_fd=self.fd))
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
            st = self.lstat(name)
            if st is None:
                raise FileNotFoundError(errno.ENOENT, "no such folder", self.join(name))
            if is_link(st):
                raise LinkInTheWay(self.join(name))
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", self.join(name))
        st = os.lstat(self.join(name))
        if is_link(st):
            raise LinkInTheWay(self.join(name))
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", self.join(name))
        return Folder(self.join(name))

    def mkdir(self, name, mode=0o700):
        path, fd = self._at(name)
        os.mkdir(path, mode, dir_fd=fd)

    def create(self, name):
        """A new file ``name`` open for writing (never an existing one, never through a link)."""
        path, fd = self._at(name)
        return os.open(path, _NEW_FILE, 0o600, dir_fd=fd)

    def symlink(self, target, name):
        path, fd = self._at(name)
        os.symlink(target, path, dir_fd=fd)

    def hardlink(self, src, src_name, name):
        """A hard link ``name`` here to ``src_name`` in Folder ``src``."""
        a, a_fd = src._at(src_name)
        b, b_fd = self._at(name)
        os.link(a, b, src_dir_fd=a_fd, dst_dir_fd=b_fd, follow_symlinks=False)

    def move(self, name, dst, dst_name):
        """Rename ``name`` to ``dst_name`` in Folder ``dst``, replacing a
        file or link there (never a folder)."""
        a, a_fd = self._at(name)
        b, b_fd = dst._at(dst_name)
        if osutil.WINDOWS:
            osutil.replace_file(a, b)
        else:
            os.rename(a, b, src_dir_fd=a_fd, dst_dir_fd=b_fd)

    def remove(self, name):
        path, fd = self._at(name)
        if osutil.WINDOWS:
            os.chmod(path, stat.S_IWRITE | stat.S_IREAD)  # a read-only file cannot be deleted there
        os.unlink(path, dir_fd=fd)

    def close_file(self, fd, name, meta, owners):
        """Give the new file ``name`` (open as ``fd``) the owner, mode and
        time of ``meta`` (a snapshot Entry), and close it. Each step stands
        alone: one the file system refuses does not cost the others."""
        if self.fd is None:  # Windows: times before the read-only flag, by path once closed
            os.close(fd)
            _try(os.utime, self.join(name), ns=(meta.mtime_ns, meta.mtime_ns))
            _try(os.chmod, self.join(name), meta.mode)
            return
        try:
            if owners and meta.uid is not None:
                _try(os.fchown, fd, meta.uid, meta.gid)  # first: it clears set-ID bits
            _try(os.fchmod, fd, meta.mode)
            _try(os.utime, fd, ns=(meta.mtime_ns, meta.mtime_ns))
        finally:
            os.close(fd)

    def set_own_metadata(self, meta, owners):
        """This folder's owner, mode and time, from ``meta``."""
        if self.fd is None:
            _try(os.utime, self.path, ns=(meta.mtime_ns, meta.mtime_ns))
            _try(os.chmod, self.path, meta.mode)
            return
        if owners and meta.uid is not None:
            _try(os.fchown, self.fd, meta.uid, meta.gid)
        _try(os.fchmod, self.fd, meta.mode)
        _try(os.utime, self.fd, ns=(meta.mtime_ns, meta.mtime_ns))

    def set_link_metadata(self, name, meta, owners):
        """The owner and time of the link ``name`` itself, where the OS can."""
        path, fd = self._at(name)
        if owners and meta.uid is not None and hasattr(os, "lchown"):
            _try(os.chown, path, meta.uid, meta.gid, dir_fd=fd, follow_symlinks=False)
        if _LINK_META:
            _try(os.utime, path, ns=(meta.mtime_ns, meta.mtime_ns), dir_fd=fd, follow_symlinks=False)


def _try(func, *args, **kw):
    """Metadata a file system refuses (FAT, a share) is not an error of the restore."""
    try:
        func(*args, **kw)
    except OSError:
        pass


class Tree(object):
    """The target of a restore: the folders from its root down to the one
    in use are kept open (the next entry of the same folder opens
    nothing), folders are made where missing, and a staging folder holds
    what is written until it is renamed into place.

    ``blocked(parent, rel, name)`` is called where something that is not a
    folder (a link, a file) stands where a folder is needed; it clears the
    way or raises. With ``dry_run`` nothing is made: a folder that does not
    exist is None. ``taken(name)`` says a staging name is not free (the
    snapshot holds it); ``made(rel)`` hears of each folder made on the way."""

    def __init__(self, target, stamp, blocked, taken, made=None, dry_run=False, log=logger):
        self.target, self.path = target, target.path  # a restore_target.Target, opened once
        self.stamp, self.blocked, self.taken = stamp, blocked, taken
        self.dry_run, self.log, self.made = dry_run, log, made
        self.root = self._staging = self._staging_name = self._mark = None
        self._chain = []  # [(name, Folder)] below the root
        self._cleared = set()  # (dry run) what blocked a folder, counted once

    @property
    def made_root(self):
        return self.target.made

    def open_root(self):
        """The target as a Folder; made now if missing (None in a dry run)."""
        if self.root is None:
            self.root = self.target.open(self.dry_run)
        return self.root

    def folder(self, rel_dir):
        """The Folder ``rel_dir`` (os.sep-separated), made where missing."""
        parts = rel_dir.split(os.sep) if rel_dir else []
        keep = shared_depth(parts, self._chain)
        self.close_chain(keep)
        folder = self._chain[-1][1] if self._chain else self.open_root()
        for i in range(keep, len(parts)):
            if folder is None:
                return None
            folder = self._sub(folder, os.sep.join(parts[:i + 1]), parts[i])
            if folder is not None:
                self._chain.append((parts[i], folder))
        return folder

    def _sub(self, parent, rel, name):
        try:
            return parent.sub(name)
        except FileNotFoundError:
            pass
        except (LinkInTheWay, NotADirectoryError):
            if rel not in self._cleared:
                self.blocked(parent, rel, name)
                if self.dry_run:
                    self._cleared.add(rel)
        if self.dry_run:
            return None
        parent.mkdir(name, 0o777)
        if self.made is not None:
            self.made(rel)
        return parent.sub(name)

    def cleared(self, rel):
        """(A dry run) what stood at ``rel`` was counted as cleared away."""
        if self.dry_run:
            self._cleared.add(rel)

    def walk_to(self, rel_dir):
        """The existing Folder ``rel_dir``, apart from the open chain (the
        caller closes it), reached from the root opened at the start (never
        by its path again: the target may have been swapped for a link
        meanwhile); None when it is not a folder reached without a link."""
        if self.root is None:
            return None
        folder = self.root.again()
        for name in rel_dir.split(os.sep) if rel_dir else []:
            try:
                inner = folder.sub(name)
            except OSError:
                inner = None
            folder.close()
            if inner is None:
                return None
            folder = inner
        return folder

    def close_chain(self, keep=0):
        for _, folder in self._chain[keep:]:
            folder.close()
        del self._chain[keep:]

    def staging(self):
        """The hidden folder (``.restore-staging-<time>``, with a mark file)
        where files and links are made before they are renamed into place."""
        if self._staging is None:
            root = self.open_root()
            name, n = STAGING_PREFIX + self.stamp, 2
            while root.lstat(name) is not None or self.taken(name):
                name, n = "%s%s_%d" % (STAGING_PREFIX, self.stamp, n), n + 1
            root.mkdir(name, 0o700)
            self._staging, self._staging_name = root.sub(name), name
            # The mark stays open and locked while this restore runs: another
            # restore into the same folder leaves a staging folder in use alone.
            self._mark = self._staging.create(STAGING_MARK)
            locking.try_lock(self._mark)
        return self._staging

    def remove_leftovers(self):
        """Remove the staging folders a killed restore left: ours by name
        and mark, and not in use (their mark not locked by a running restore)."""
        if self.dry_run or not self.target.exists():
            return
        root = self.open_root()
        for name in root.names():
            if _STAGING_RE.match(name) and abandoned(root, name, STAGING_MARK):
                try:
                    root.remove_tree(name)
                    self.log.info("removed %s, left by an interrupted restore", root.join(name))
                except OSError as exc:
                    self.log.warning("could not remove %s: %s", root.join(name), exc)

    def end_staging(self):
        """Remove the staging folder (before the target's own time is set)."""
        if self._staging is not None:
            self._staging.close()
            os.close(self._mark)
            self._staging = None
            try:
                self.root.remove_tree(self._staging_name)
            except OSError as exc:
                self.log.warning("could not remove %s: %s", self.root.join(self._staging_name), exc)

    def close(self):
        """Close every folder, remove the staging folder, and the target
        itself when this restore made it and wrote nothing into it."""
        self.close_chain()
        self.end_staging()
        self.target.remove_if_unused()  # the caller closes the target


def abandoned(root, name, mark_name):
    """Whether folder ``name`` of the open folder ``root`` is a real folder
    (never a link) holding a mark file ``mark_name`` that no running process
    holds locked: the leftover of a killed one, safe to remove."""
    try:
        folder = root.sub(name)
    except OSError:
        return False
    try:
        path, fd = folder._at(mark_name)
        mark = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC, dir_fd=fd)
    except OSError:
        return False
    finally:
        folder.close()
    try:
        return locking.try_lock(mark)  # (released as it is closed)
    finally:
        os.close(mark)
