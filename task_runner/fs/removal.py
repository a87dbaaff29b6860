"""Deleting a folder tree of a snapshot (or a leftover) without ever
changing anything outside it, though its files may be hard links shared
with the snapshots that are kept.

A refused deletion is made possible only inside the dying tree: on Linux
its folders are made writable (never a file's own mode, which its other
links share); on Windows, where a hard-linked file's read-only flag is
shared by all its links, the flag is lifted to delete it and set again on
the kept links (``siblings``) afterwards.

On a network file system every deletion is a round trip: there the files
of different folders are deleted at once by the pool's workers (pool.py),
and each folder after its contents, bottom-up (``_remove_parallel``).
"""

import functools
import os
import shutil
import stat
import sys

from .filesystems import network_filesystem
from .osutil import WINDOWS, is_reparse_stat
from .pool import Pool, workers_for

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


def remove_tree(path, siblings=(), workers=None):
    """Delete a folder tree this program made, read-only files and folders
    included, never following symbolic links out of it and never changing
    anything outside it (see _Remover). ``siblings``: other snapshot folders
    that may share files with it through hard links (Windows). ``workers``
    (None: several where ``path`` is on a network file system, else one)."""
    handler = _Remover(path, siblings)
    if workers is None:
        workers = workers_for("auto", network_filesystem(path))[0]
    if workers > 1:
        _remove_parallel(path, handler, workers)
    else:
        _rmtree(path, handler)


def _remove_parallel(root, handler, workers):
    """remove_tree with ``workers`` threads: this thread lists the folders
    (never entering a link or junction: those are removed as entries) and
    hands their files and links to the pool, batched by folder; then the
    folders are removed, deepest first. A refusal goes to ``handler`` as in
    shutil.rmtree."""
    pool = Pool(workers)
    folders = []
    try:
        stack = [root]
        while stack:
            folder = stack.pop()
            folders.append(folder)
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
            except OSError as exc:
                handler(os.scandir, folder, exc)  # made readable and removed whole, or raises
                continue
            if entries and not WINDOWS:
                _make_searchable(folder)  # now, not by workers racing (their files' deletion needs it)
            for entry in entries:
                if _is_folder(entry):
                    stack.append(entry.path)
                else:
                    pool.submit(folder, functools.partial(_remove_entry, entry.path, handler))
        pool.finish()
    except BaseException:
        pool.abort()
        raise
    for folder in reversed(folders):  # each after the folders inside it
        try:
            os.rmdir(folder)
        except OSError as exc:
            handler(os.rmdir, folder, exc)


def _is_folder(entry):
    """A real folder to enter: never a symbolic link, junction or other
    reparse point. Read from the listing, without a call per entry."""
    if not WINDOWS:
        return entry.is_dir(follow_symlinks=False)
    st = entry.stat(follow_symlinks=False)
    return stat.S_ISDIR(st.st_mode) and not is_reparse_stat(st)


def _remove_entry(path, handler):
    """A worker's job: delete a file or link (a link to a folder, a
    junction: by the handler, with rmdir, never what it points to)."""
    try:
        os.unlink(path)
    except OSError as exc:
        handler(os.unlink, path, exc)
