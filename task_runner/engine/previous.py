"""Reading the previous snapshot: where it holds the folder the walk is in,
and the dry run, which only compares.

Where it saves calls, each folder of the previous snapshot is listed once
(one ``scandir``) when the walk enters its counterpart: a file that is not
there costs nothing more, a subfolder is told from a symbolic link by the
listing's file type, and where the platform gives a file's fields with the
listing (Windows) looking a file up costs no call at all. On a network
share that is one round trip per folder instead of one per file (sshfs
answers the lstat of a listed file from what the listing brought). On a
local POSIX disk a listing gives no fields, so each file is looked up with
its own lstat, which costs less than holding the listing.
"""

import os
import stat

from ..fs import filesystems, osutil
from ..fs.fileio import unchanged
from .moved import Identities, find_elsewhere

# A folder listing kept while the walk is in the folder: about 200 bytes a
# name. Beyond this many names, each file is looked up with its own lstat.
MAX_NAMES = 100000


def lists_folders(path):
    """Whether looking files up in the previous snapshot at ``path`` goes
    through folder listings: on Windows (a listing gives every field) and
    on a network file system (one round trip per folder, not per file)."""
    return osutil.WINDOWS or filesystems.network_filesystem(path) is not None


def _listing(path, max_names):
    """(path, {name: DirEntry}) of a folder of the previous snapshot; the
    dict is None when the folder is too large to hold (or ``max_names`` is
    0: never listed); None when it cannot be listed."""
    if not max_names:
        return path, None
    try:
        with os.scandir(path) as it:
            names = {}
            for entry in it:
                names[entry.name] = entry
                if len(names) > max_names:
                    return path, None
            return path, names
    except OSError:
        return None


class PreviousTree(object):
    """Where the previous snapshot holds the folder the walk is in.

    Followed one real folder at a time (the listing's file type, never
    through a symbolic link), so a lookup can never leave the previous
    snapshot: a folder that was a symbolic link there has no counterpart,
    and its files are copied.
    """

    def __init__(self, root, max_names=None):
        if max_names is None:
            max_names = MAX_NAMES if root is not None and lists_folders(root) else 0
        self._max = max_names
        # The counterpart of each open folder (see _listing), or None (root None: no snapshot).
        self._stack = [_listing(root, max_names) if root is not None else None]

    def enter(self, name):
        parent = self._stack[-1]
        here = None
        if parent is not None:
            path, names = parent
            try:
                if names is None:
                    real = stat.S_ISDIR(os.lstat(path + os.sep + name).st_mode)
                else:
                    entry = names.get(name)
                    real = entry is not None and entry.is_dir(follow_symlinks=False)
                if real:
                    here = _listing(path + os.sep + name, self._max)
            except OSError:
                pass
        self._stack.append(here)

    def leave(self):
        self._stack.pop()

    def here(self):
        """The current folder's counterpart (for lookup_in), or None."""
        return self._stack[-1]

    def lookup(self, name):
        """(path, lstat) of ``name`` in the current folder's counterpart, or None."""
        return lookup_in(self._stack[-1], name)


def lookup_in(folder, name):
    """(path, lstat) of ``name`` in ``folder`` (a PreviousTree.here()), or
    None. Safe in any thread: each name is looked up once per run."""
    if folder is None:
        return None
    path, names = folder
    try:
        if names is None:
            return path + os.sep + name, os.lstat(path + os.sep + name)
        entry = names.get(name)
        return None if entry is None else (entry.path, entry.stat(follow_symlinks=False))
    except OSError:
        return None


class DryRunWriter(object):
    """Counts what a run would copy and link; writes nothing. Compares as
    the folder writer does, to the nanosecond (it cannot probe the
    destination without writing to it)."""

    def __init__(self, stats, previous, listing=None, ops=None, previous_index=None):
        self.stats = stats
        self.previous = PreviousTree(previous)
        self.owners = osutil.can_keep_owner()
        self.listing = listing  # listing(action, rel) for --dry-run --files
        self.ops = ops
        self.previous_index = previous_index  # moved files, as a run finds them (index.py)
        self._ids = Identities(ops) if previous_index is not None else None

    def dir(self, rel, entry, st):
        self.previous.enter(entry.name)
        return True

    def end(self, rel, st):
        self.previous.leave()

    def file(self, rel, entry, st):
        found = self.previous.lookup(entry.name)
        own = found is not None and unchanged(found[1], st, 0, self.owners)
        since = self.previous_index.since if self.previous_index is not None else None
        changed = own and since is not None and st.st_ctime_ns >= since  # as the folder writer decides
        action = "link" if own and not changed else self._elsewhere(rel, entry, st, own)
        {"link": self.stats.add_link, "move": self.stats.add_move, "copy": self.stats.add_copy}[action](st.st_size)
        if self.listing is not None:
            self.listing(action, rel)

    def _elsewhere(self, rel, entry, st, own_looks_unchanged):
        """"move" or "link" (from an older snapshot, at its own path) when
        a lookup finds the file in a snapshot, else "copy"."""
        if self.previous_index is None:
            return "copy"

        def usable(path):
            try:
                old = os.lstat(path)
            except OSError:
                return None
            return old if unchanged(old, st, 0, self.owners) else None
        path = find_elsewhere(self.previous_index, self.ops, entry, st, self._ids.key(entry, st), usable, rel,
                              own_looks_unchanged)
        if path is None:
            return "copy"
        return "link" if self.previous_index.at_own_path(path, rel) else "move"

    def link(self, rel, entry, st):
        self.stats.add_symlink()
        if self.listing is not None:
            self.listing("symlink", rel)
