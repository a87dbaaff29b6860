"""Which symbolic links on a path only root or this account can have made.

A path the program writes into as root (a backup's ``dest``, a restore's
``--to``) may pass through folders other accounts can write. A link in
such a folder may have been put there by one of them, to send the writes
elsewhere (into their own folder, or over a system folder). A link is
trusted only when no other account can have put it there: it and the
folder holding it belong to root or to this account, and nobody else may
write in that folder (in a sticky folder such as /tmp, a link of this
account's or of the folder's owner; for an account other than root, a
folder its group may write counts as its own). POSIX only: Windows has no such
links in ordinary use, and its folders are reached by checked paths.
"""

import os
import stat

from . import osutil

MAX_LINKS = 40  # as the kernel's own limit on links in one path


def trusted(folder_st, link_st):
    """True when no account but root and this one can have put the link
    ``link_st`` (its lstat) in the folder ``folder_st`` (its stat)."""
    me = os.geteuid()
    if link_st.st_uid not in (0, me) or folder_st.st_uid not in (0, me):
        return False
    # Others may write there: only the sticky bit keeps their links out. For an ordinary account
    # a folder of its own that its group may write is its own business (a user private group,
    # as many systems give each account); for root, the group's members are other accounts.
    if folder_st.st_mode & (0o022 if me == 0 else 0o002):
        return bool(folder_st.st_mode & stat.S_ISVTX) and link_st.st_uid in (me, folder_st.st_uid)
    return True


def untrusted_link(path):
    """The first symbolic link on the way to ``path`` (absolute, or from the
    current folder) that another account could have put there, or None;
    "too many links" for a loop. Only what exists is looked at: the rest
    of the path is made by the caller. Windows: None."""
    if osutil.WINDOWS:
        return None
    pending = [p for p in os.path.join(os.getcwd(), path).split(os.sep) if p]
    here, hops = "/", 0
    while pending:
        name = pending.pop(0)
        if name in (".", ".."):
            here = here if name == "." else os.path.dirname(here)
            continue
        full = os.path.join(here, name)
        try:
            st = os.lstat(full)
        except OSError:
            return None
        if not stat.S_ISLNK(st.st_mode):
            here = full
            continue
        hops += 1
        if hops > MAX_LINKS:
            return "too many links (a loop?) at %s" % full
        if not trusted(os.stat(here), st):
            return full
        target = os.readlink(full)
        if os.path.isabs(target):
            here = "/"
        pending[:0] = [p for p in target.split(os.sep) if p]
    return None
