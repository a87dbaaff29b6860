"""The walk of a source tree, and the tally of what a run did.

``Walk`` streams the tree as events (one open folder listing per level,
never a list of every file), never follows a symbolic link or a junction,
and applies the excludes before it descends. ``Stats`` counts files and
bytes and collects the per-file problems (skipped files, warnings) that a
run reports; every path it records is made printable first, so a name that
is not valid UTF-8 can never break the log, the history or the console.
"""

import os
import stat
import threading

from .. import console
from ..fs import osutil
from ..errors import BackupError

MAX_LISTED = 20
# The skipped paths kept for the snapshot's incomplete record (snapshots/__init__.py);
# beyond this many the record says "more", and retention keeps every older
# snapshot until a complete run.
MAX_RECORDED = 100000


def reason(exc):
    """Why a source file could not be read, in plain words."""
    if isinstance(exc, FileNotFoundError):
        return "vanished before it could be copied"
    if osutil.is_sharing_violation(exc):
        return "locked by another program"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


class Stats(object):
    """What a run did and what it skipped, shared by the walk and writers
    (and a writer's worker threads: every change is made under a lock;
    readers such as the progress line read the numbers as they are)."""

    def __init__(self, log):
        self.log = log
        self.files = self.copied = self.linked = 0
        self.moved = 0  # hard-linked from another path of the previous snapshot
        self.symlinks = 0  # symbolic links recreated (files counts them too)
        self.bytes = self.bytes_copied = 0
        self.errors, self.warnings = [], []
        self.error_count = 0
        self.seen = 0  # entries of src the walk met (not excluded), read or not
        self.skipped_paths = []  # "/"-separated, for the incomplete record
        self._lock = threading.Lock()

    def add_copy(self, size):
        """A file of ``size`` bytes copied."""
        with self._lock:
            self.files += 1
            self.copied += 1
            self.bytes += size
            self.bytes_copied += size

    def add_link(self, size):
        """A file of ``size`` bytes hard-linked (to the previous snapshot or
        to another name of it)."""
        with self._lock:
            self.files += 1
            self.linked += 1
            self.bytes += size

    def add_move(self, size):
        """A file of ``size`` bytes hard-linked from where the previous
        snapshot had it under another path (moved, renamed or copied)."""
        with self._lock:
            self.files += 1
            self.moved += 1
            self.bytes += size

    def add_symlink(self):
        with self._lock:
            self.files += 1
            self.symlinks += 1

    def skip(self, rel, why):
        text = console.printable("%s: %s" % (rel, why))
        with self._lock:
            self.error_count += 1
            if len(self.errors) < MAX_LISTED:
                self.errors.append(text)
            if len(self.skipped_paths) <= MAX_RECORDED:
                self.skipped_paths.append(rel.replace(os.sep, "/"))
        self.log.warning("skipped %s", text)

    def warn(self, text):
        text = console.printable(text)
        with self._lock:
            if len(self.warnings) < MAX_LISTED:
                self.warnings.append(text)
        self.log.warning("%s", text)


class Walk(object):
    """Streams the source tree as events for a writer, in an order that lets
    a folder's times be set after its contents: ("dir", ...), then its
    entries, then ("end", ...)."""

    def __init__(self, root, matcher, stats, check_stop):
        self.root = root
        self.matcher = matcher
        self.stats = stats
        self.check_stop = check_stop
        self._refused = False

    def refuse(self):
        """Do not descend into the folder just yielded (it could not be made)."""
        self._refused = True

    def _listing(self, path, rel):
        try:
            return os.scandir(path)
        except OSError as exc:
            if not rel:  # nothing of src could be read: the run fails, nothing is published
                raise BackupError("source folder %s cannot be read: %s: give the account that runs the "
                                  "backup read access to it" % (self.root, reason(exc)))
            self.stats.skip(rel, "folder cannot be read: %s" % reason(exc))
            return None

    def events(self):
        sep = os.sep
        matcher = self.matcher if self.matcher else None
        reparse_points = osutil.WINDOWS  # junctions exist only there
        check_stop = self.check_stop
        stats = self.stats
        stack = [("", self._listing(self.root, ""), None)]
        try:
            while stack:
                rel_dir, listing, dir_st = stack[-1]
                try:
                    entry = next(listing, None) if listing is not None else None
                except OSError as exc:
                    self.stats.skip(rel_dir or ".", "folder listing failed part-way: %s" % reason(exc))
                    entry = None
                if entry is None:
                    stack.pop()
                    if listing is not None:
                        listing.close()
                    if rel_dir:
                        yield "end", rel_dir, None, dir_st
                    continue
                check_stop()
                rel = rel_dir + sep + entry.name if rel_dir else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    stats.seen += 1
                    stats.skip(rel, reason(exc))
                    continue
                mode = st.st_mode
                is_dir = stat.S_ISDIR(mode)
                if matcher is not None and matcher.excluded(rel.replace(sep, "/"), entry.name, is_dir):
                    continue
                stats.seen += 1  # only the walk's thread counts entries
                if stat.S_ISLNK(mode):
                    yield "link", rel, entry, st
                elif reparse_points and osutil.is_reparse_point(entry):
                    self.stats.warn("%s: junction or other reparse point, not followed" % rel)
                elif is_dir:
                    yield "dir", rel, entry, st
                    if self._refused:
                        self._refused = False
                    else:
                        stack.append((rel, self._listing(entry.path, rel), st))
                elif stat.S_ISREG(mode):
                    yield "file", rel, entry, st
                else:
                    self.stats.warn("%s: special file (FIFO, socket or device), not copied" % rel)
        finally:
            for _, listing, _ in stack:
                if listing is not None:
                    listing.close()

