"""Deleting a folder tree of a snapshot (or a leftover) without ever
changing anything outside it, though its files may be hard links shared
with the snapshots that are kept.

A refused deletion is made possible only inside the dying tree: on Linux
its folders are made writable (never a file's own mode, which its other
links share); on Windows, where a hard-linked file's read-only flag is
shared by all its links, the flag is lifted to delete it and set again on
the kept links (``siblings``) afterwards.
"""

import os
import shutil
import stat
import sys

from .osutil import WINDOWS

_FILE_ATTRIBUTE_READONLY = 0x1


def _windows_readonly(st):
    return bool(getattr(st, "st_file_attributes", 0) & _FILE_ATTRIBUTE_READONLY)


class _Remover(object):
    """The retry behind remove_tree: makes a refused deletion possible
    without ever changing anything outside the tree being deleted.

    POSIX: deleting an entry needs write permission on its *folder*, which
    belongs to the tree: make that folder writable (and readable and
    searchable, to list it). A file's own mode is never touched: a file of a
    snapshot is often a hard link shared with kept snapshots.

    Windows: a read-only *file* cannot be deleted, and the read-only
    attribute belongs to the file, so every hard link of it shares it. Clear
    it, delete this link, then set it again through the same name in each of
    ``siblings`` (the kept snapshots) that is still the same file.
    """

    def __init__(self, root, siblings):
        self.root = root
        self.siblings = siblings

    def __call__(self, func, path, exc):
        if not os.path.lexists(path):
            return  # already gone (removed by an earlier retry)
        if not WINDOWS:
            if func in (os.scandir, os.listdir, os.open):
                # The folder itself could not be opened or listed.
                if not _make_searchable(path):
                    raise exc
                _rmtree(path, self)
                return
            if not _make_searchable(os.path.dirname(path)):
                raise exc
            func(path)
            return
        try:
            st = os.lstat(path)
        except OSError:
            st = None
        shared = st is not None and _windows_readonly(st) and st.st_nlink > 1
        try:
            os.chmod(path, stat.S_IWRITE | stat.S_IREAD)
        except OSError:
            pass
        if func in (os.unlink, os.remove) and os.path.isdir(path):
            os.rmdir(path)  # a symbolic link to a folder is removed with rmdir
        else:
            func(path)
        if shared:
            self._restore_readonly(path, st)

    def _restore_readonly(self, path, st):
        rel = os.path.relpath(path, self.root)
        for sibling in self.siblings:
            other = os.path.join(sibling, rel)
            try:
                ost = os.lstat(other)
                if (ost.st_ino, ost.st_dev) == (st.st_ino, st.st_dev) and not _windows_readonly(ost):
                    os.chmod(other, stat.S_IREAD)
            except OSError:
                pass


def _make_searchable(folder):
    """Give the owner read, write and search permission on ``folder`` (of
    the tree being deleted). False when nothing could be changed."""
    try:
        mode = stat.S_IMODE(os.lstat(folder).st_mode)
        if mode & stat.S_IRWXU == stat.S_IRWXU:
            return False
        os.chmod(folder, mode | stat.S_IRWXU)
        return True
    except OSError:
        return False


def _rmtree(path, handler):
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=handler)
    else:
        shutil.rmtree(path, onerror=lambda f, p, e: handler(f, p, e[1]))


def remove_tree(path, siblings=()):
    """Delete a folder tree this program made, read-only files and folders
    included, never following symbolic links out of it and never changing
    anything outside it (see _Remover). ``siblings``: other snapshot folders
    that may share files with it through hard links (Windows)."""
    _rmtree(path, _Remover(path, siblings))
