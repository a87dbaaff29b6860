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


def untrusted_link(path, owners=True):
    """Why the way to ``path`` (absolute, or from the current folder) is
    not this account's to trust, as a phrase naming the place, or None: a
    symbolic link another account could have put there, a loop of links;
    and, run as root, a folder on the way (or ``path`` itself) that belongs
    to another account, or one that others may write in (not sticky), so
    that they could put another folder in its place (not with ``owners``
    False: on a network share the owners are the server's, such as the
    account a NAS is logged in as). Only what exists is looked at: the rest
    of the path is made by the caller. Windows: None."""
    if osutil.WINDOWS:
        return None
    pending = [p for p in os.path.join(os.getcwd(), path).split(os.sep) if p]
    here, hops, root = "/", 0, owners and os.geteuid() == 0
    while pending:
        name = pending.pop(0)
        if name in (".", ".."):
            here = here if name == "." else os.path.dirname(here)
            continue
        full = os.path.join(here, name)
        try:
            st, above = os.lstat(full), os.stat(here)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_LINKS:
                return "too many symbolic links (a loop?) at %s" % full
            if not trusted(above, st):
                return "%s, a symbolic link another account of this computer could have put there" % full
            target = os.readlink(full)
            here = "/" if os.path.isabs(target) else here
            pending[:0] = [p for p in target.split(os.sep) if p]
            continue
        if root and st.st_uid != 0:
            return "%s, which belongs to another account (uid %d)" % (full, st.st_uid)
        if root and above.st_mode & 0o022 and not above.st_mode & stat.S_ISVTX:
            return "%s, in a folder other accounts may write (%s)" % (full, here)
        here = full
    return None
