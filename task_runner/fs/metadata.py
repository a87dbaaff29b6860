"""What a destination keeps of a file besides its data (owner, permission
bits, modification times and their resolution), found once per run, and
setting those on what a writer made.

A share logged in as an ordinary user refuses owners but keeps times; FAT32
refuses permissions and keeps times to 2 s. Each kind is probed on its own
in the new snapshot (a hidden ``.mtime-probe`` file, removed at once), said
once per run, never tried again per file, and left out of the unchanged
test (fileio.unchanged), so an incremental run there still links. Each
step on a file stands alone: an owner that cannot be set costs neither
its times nor its mode.
"""

import collections
import os
import stat
import threading

from . import osutil
from .fileio import FD_METADATA, OPS, kept_mode

PROBE_NAME = ".mtime-probe"
# Candidate resolutions of a destination's modification times, finest
# first: 1 us covers NTFS (100 ns); 10 ms exFAT; 1 s many network shares;
# 2 s FAT32.
_RESOLUTIONS_NS = (1000, 10 ** 7, 10 ** 9, 2 * 10 ** 9)
_PROBE_TIMES = (1500000001 * 10 ** 9 + 999999999, 1500000003 * 10 ** 9 + 1)
_PROBE_MODES = (0o640, 0o604)
_LINK_TIME = 1500000007 * 10 ** 9
_OTHER_OWNERS = ((65534, 65534), (65533, 65533))

# owner: owners are set (root, and the destination takes them); mode:
# permission bits are set; times: modification times are set, kept to
# window_ns (0: exactly); new_owner: the (uid, gid) a new file gets there
# (None: unknown); links: a symbolic link's own times and owner can be set
# (on sshfs, setting them sets its target's instead).
Keeps = collections.namedtuple("Keeps", "owner mode times window_ns new_owner links")

_WHAT = {"owner": "owners and groups", "mode": "permission bits", "times": "modification times"}
_ONE = {"owner": "owner and group", "mode": "permission bits", "times": "modification time"}
_CONSEQUENCE = {
    "owner": "files belong to the account that writes them, and the next run compares files without owners",
    "mode": "files get its default permissions, and the next run compares files without them",
    "times": "unchanged files cannot be recognised, so every run copies every file",
}


def probe(folder, ops=OPS, as_root=False):
    """(Keeps, {kind: why not}) for the file system holding ``folder``,
    from a probe file made there. When no probe file can be made, all is
    assumed kept (the run fails on its first file anyway)."""
    path = os.path.join(folder, PROBE_NAME)
    refused = {}
    try:
        fd = ops.open_write(path, 0o600)
    except OSError:
        return Keeps(as_root, True, True, 0, None, True), refused
    try:
        try:
            st = os.fstat(fd)
            new_owner = (st.st_uid, st.st_gid)
            owner = as_root and _probe_owner(fd, path, new_owner, ops, refused)
            mode = _probe_mode(fd, path, ops, refused)
        finally:
            ops.close(fd)
        window = _probe_times(path, ops, refused)
        links = window is None or _probe_link(path, ops)
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
    return Keeps(owner, mode, window is not None, window or 0, new_owner, links), refused


def _probe_owner(fd, path, new_owner, ops, refused):
    other = _OTHER_OWNERS[new_owner == _OTHER_OWNERS[0]]
    try:
        ops.fchown(fd, *other)
        st = os.stat(path)
    except OSError as exc:
        refused["owner"] = exc.strerror or str(exc)
        return False
    if (st.st_uid, st.st_gid) != other:
        refused["owner"] = "an owner set is read back as another"
        return False
    return True


def _probe_mode(fd, path, ops, refused):
    if not FD_METADATA:
        return True  # Windows: only the read-only bit, set by path as always
    try:
        for mode in _PROBE_MODES:
            ops.fchmod(fd, mode)
            if stat.S_IMODE(os.stat(path).st_mode) != mode:
                refused["mode"] = "permission bits set are read back as others"
                return False
    except OSError as exc:
        refused["mode"] = exc.strerror or str(exc)
        return False
    return True


def _probe_times(path, ops, refused):
    """How finely times are kept, in nanoseconds (0: exactly); None when
    they cannot be set. Two times are written and read back; the largest
    error picks the resolution."""
    worst = 0
    try:
        for wanted in _PROBE_TIMES:
            ops.utime(path, ns=(wanted, wanted))
            worst = max(worst, abs(os.stat(path).st_mtime_ns - wanted))
    except OSError as exc:
        refused["times"] = exc.strerror or str(exc)
        return None
    if worst == 0:
        return 0
    for resolution in _RESOLUTIONS_NS:
        if worst < resolution:
            return resolution
    return worst + 1


def _probe_link(path, ops):
    """False when setting a symbolic link's own times sets its target's
    (sshfs: SFTP's setstat follows links): the times of ``path`` (set by
    _probe_times) change when a link to it is given others. ``path`` is
    renamed before it is read back, so that no cached times are read; it
    is gone afterwards."""
    if os.utime not in os.supports_follow_symlinks:
        return True  # never set on a link here anyway
    link, moved = path + ".link", path + ".moved"
    try:
        ops.symlink(os.path.basename(path), link)
    except (OSError, NotImplementedError):
        return True  # no links made here (Windows without the right): nothing to protect
    try:
        before = os.stat(path).st_mtime_ns
        ops.utime(link, ns=(_LINK_TIME, _LINK_TIME), follow_symlinks=False)
        os.rename(path, moved)
        return os.stat(moved).st_mtime_ns == before
    except OSError:
        return True  # refused on the link itself: its target is safe
    finally:
        for name in (link, moved):
            try:
                os.remove(name)
            except OSError:
                pass


def refusals(refused):
    """One warning per kind the destination does not keep."""
    return ["this destination does not keep %s (%s): %s" % (_WHAT[kind], refused[kind], _CONSEQUENCE[kind])
            for kind in ("owner", "mode", "times") if kind in refused]


class MetadataSetter(object):
    """Sets what the destination keeps (``keeps``) on a file, folder or
    link just made, each kind on its own; a kind that fails on one file
    is warned about once per run through ``warn(text)``. Safe to share
    between threads."""

    def __init__(self, keeps, ops, warn):
        self.keeps = keeps
        self.ops = ops
        self.warn = warn
        umask = osutil.current_umask()
        self.created = lambda mode: mode & 0o777 & ~umask  # what open(..., mode) gives
        self._warned = set()
        self._lock = threading.Lock()

    def mode_of(self, st):
        return kept_mode(st.st_mode, self.keeps.owner)

    def _needs_owner(self, st):
        return self.keeps.owner and (st.st_uid, st.st_gid) != self.keeps.new_owner

    def on_fd(self, fd, st, rel, mode):
        """POSIX: owner, mode (``mode``: mode_of(st)) and times through the
        open file: no path lookups, no owner call when the file has its
        owner already, and a chmod only when creating the file did not
        already give the right mode. chown first: it clears set-ID bits.
        (The copy of every file passes here: each step is written out.)"""
        keeps, ops = self.keeps, self.ops
        if keeps.owner and (st.st_uid, st.st_gid) != keeps.new_owner:
            try:
                ops.fchown(fd, st.st_uid, st.st_gid)
            except OSError as exc:
                self._failed("owner", rel, exc)
        if keeps.mode and mode != self.created(mode):
            try:
                ops.fchmod(fd, mode)
            except OSError as exc:
                self._failed("mode", rel, exc)
        if keeps.times:
            try:
                ops.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            except OSError as exc:
                self._failed("times", rel, exc)

    def on_path(self, path, st, rel, follow=True):
        """Owner, times and permission bits of a folder (or, with
        ``follow`` False, a symbolic link) made at ``path``."""
        keeps, ops = self.keeps, self.ops
        if not (follow or keeps.links):
            return  # it would change the link's target instead
        if self._needs_owner(st):  # first: it clears set-ID bits
            self._step("owner", rel, ops.chown, path, st.st_uid, st.st_gid, follow_symlinks=follow)
        if keeps.times and (follow or os.utime in os.supports_follow_symlinks):
            self._step("times", rel, ops.utime, path, ns=(st.st_atime_ns, st.st_mtime_ns),
                       follow_symlinks=follow)
        if keeps.mode and follow:
            # Last: on Windows a read-only file's times could not be set after.
            self._step("mode", rel, ops.chmod, path, self.mode_of(st))

    def _step(self, kind, rel, func, *args, **kw):
        try:
            func(*args, **kw)
        except OSError as exc:
            self._failed(kind, rel, exc)

    def _failed(self, kind, rel, exc):
        with self._lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        self.warn("%s: its %s could not be set (%s); the same may hold for other files "
                  "of this run" % (rel or ".", _ONE[kind], exc.strerror or exc))
