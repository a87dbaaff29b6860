"""A folder of a folder snapshot, reached and read without following links.

A snapshot keeps the owners of its files, so an account whose files were
backed up may write inside its own copy (when the backup folder lets it in)
and put a link where a folder or file was, at any moment. Every read of a
folder snapshot goes through a ``ReadFolder``, the read-only twin of
safedir's ``Folder``:

* POSIX: the snapshot's top is opened once with ``O_NOFOLLOW``, each folder
  relative to its parent's descriptor with ``O_DIRECTORY | O_NOFOLLOW``,
  each file relative to its folder with ``O_NOFOLLOW`` (and ``O_NONBLOCK``:
  a pipe put in its place does not hang the reader). Names are listed and
  stat'ed relative to the open folder. A file's owner, mode, size and time
  come from ``fstat`` of the descriptor that is read.
* Windows: no ``dir_fd``. Each name on the way is checked with ``lstat``
  and a reparse point (a link, a junction) is refused; a file opened is
  checked with ``fstat`` against the identity it was listed with.

What changed under the reader (a folder that became a link, a file that is
another file now) raises ``Changed``: an error of that entry alone.
"""

import errno
import os
import stat

from . import osutil

FD_READ = (not osutil.WINDOWS and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")
           and {os.open, os.stat} <= os.supports_dir_fd and os.listdir in os.supports_fd)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC
_FILE_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_BINARY", 0) | _CLOEXEC)


class Changed(OSError):
    """An entry is not what the snapshot's listing said: a link or another
    file was put in its place while it was read."""

    def __init__(self, path, what):
        super(Changed, self).__init__(errno.ELOOP, "%s (changed while it was read: a link or another file "
                                                    "was put in its place)" % what, path)


def is_link(st):
    """A symbolic link, or on Windows any reparse point (a junction)."""
    return stat.S_ISLNK(st.st_mode) or osutil.is_reparse_stat(st)


def same_file(st, identity):
    """True when ``st`` is of the file listed as ``identity`` ((dev, ino);
    None or a zero inode: nothing to compare, as on some file systems)."""
    return identity is None or not identity[1] or not st.st_ino or (st.st_dev, st.st_ino) == identity


class ReadFolder(object):
    """One folder of a snapshot, open for reading; see the module's docstring."""

    def __init__(self, path, fd=None):
        self.path, self.fd = path, fd

    @classmethod
    def open_top(cls, path):
        """The snapshot's own folder (never through a link)."""
        if not FD_READ:
            st = os.lstat(path)
            if is_link(st) or not stat.S_ISDIR(st.st_mode):
                raise Changed(path, "not a folder")
            return cls(path)
        return cls(path, _open_dir(path, None))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _at(self, name):
        return (name, self.fd) if self.fd is not None else (os.path.join(self.path, name), None)

    def join(self, name):
        return os.path.join(self.path, name)

    def stat(self):
        """This folder's own stat (fstat of its descriptor where there is one)."""
        return os.fstat(self.fd) if self.fd is not None else os.lstat(self.path)

    def names(self):
        return os.listdir(self.fd if self.fd is not None else self.path)

    def lstat(self, name):
        """lstat of ``name`` (never following it); None when it is gone."""
        path, fd = self._at(name)
        try:
            return os.stat(path, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def readlink(self, name):
        path, fd = self._at(name)
        return os.readlink(path, dir_fd=fd)

    def sub(self, name, identity=None):
        """The folder ``name`` inside this one, opened without following a
        link; ``Changed`` when it is not a folder, or not the one listed as
        ``identity`` ((dev, ino))."""
        if self.fd is not None:
            try:
                fd = _open_dir(name, self.fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise Changed(self.join(name), "not a folder")
                raise
            folder = ReadFolder(self.join(name), fd)
        else:
            st = os.lstat(self.join(name))
            if is_link(st) or not stat.S_ISDIR(st.st_mode):
                raise Changed(self.join(name), "not a folder")
            folder = ReadFolder(self.join(name))
        if identity is not None and not same_file(folder.stat(), identity):
            folder.close()
            raise Changed(self.join(name), "not the folder listed")
        return folder

    def open_file(self, name, identity=None):
        """(descriptor, fstat) of the regular file ``name``, opened without
        following a link; ``Changed`` when it is not a regular file or not
        the one listed as ``identity``. The caller closes the descriptor."""
        path, fd = self._at(name)
        try:
            new = os.open(path, _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO):
                raise Changed(self.join(name), "not a file")
            raise
        try:
            st = os.fstat(new)
            if not stat.S_ISREG(st.st_mode) or not same_file(st, identity):  # (O_NONBLOCK: no effect on a file)
                raise Changed(self.join(name), "not the file listed")
        except BaseException:
            os.close(new)
            raise
        return new, st


def _open_dir(path, dir_fd):
    return os.open(path, _DIR_FLAGS, dir_fd=dir_fd)


def shared_depth(parts, chain):
    """How many of the names ``parts`` (a path's folders, top first) the
    open ``chain`` [(name, folder)] already holds from the top: those stay
    open, the rest of the chain is closed."""
    depth = 0
    while depth < min(len(parts), len(chain)) and chain[depth][0] == parts[depth]:
        depth += 1
    return depth


class Chain(object):
    """The folders from a snapshot's top down to the one last used, kept
    open so that the next file of the same folder opens only itself. One
    chain per thread (a descriptor is not shared between walks)."""

    def __init__(self, top):
        self.top = top
        self._open = []  # [(name, ReadFolder)] below the top
        self._last = ("", top)  # the folder asked for last: the next file is most often there too

    def folder(self, rel_dir):
        """The ReadFolder ``rel_dir`` (os.sep-separated, "" for the top)."""
        if rel_dir == self._last[0]:
            return self._last[1]
        found = self._walk(rel_dir)
        self._last = (rel_dir, found)
        return found

    def _walk(self, rel_dir):
        parts = rel_dir.split(os.sep) if rel_dir else []
        keep = shared_depth(parts, self._open)
        self.close(keep)
        folder = self._open[-1][1] if self._open else self.top
        for part in parts[keep:]:
            folder = folder.sub(part)
            self._open.append((part, folder))
        return folder

    def close(self, keep=0):
        for _, folder in self._open[keep:]:
            folder.close()
        del self._open[keep:]
        self._last = ("", self.top)
