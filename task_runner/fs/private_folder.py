"""The backup folder (``dest``) is private: only the account that runs the
backups may enter it.

Snapshots keep the owners and modes of what they copied (restores are
exact), so a user whose files were backed up owns their copy inside the
snapshot and, were ``dest`` open, could change it, or read another user's
copy where the mode allows. The closed door is ``dest`` itself, as in
rsnapshot (a ``snapshot_root`` only root can enter):

* POSIX: ``dest`` owned by the account running the backups, no permission
  for group or others (made 0700). Run as root, a ``dest`` that another
  account owns, or that is reached through a folder another account owns
  or may write, is refused (links.untrusted_link): that account could plant
  snapshots of its own there, or move the folder away.
* Windows: inheritance removed and full control for that account, SYSTEM
  and Administrators only (``icacls``, which every Windows has); the groups
  Everyone, Authenticated Users and Users are removed. Reading a folder's
  access list back needs the security API, so the folder is known to be
  private by a mark this program keeps once ``icacls`` did its work: a file
  in the programs' lock folder (``marks``, beside the history), named for
  the folder; without it (a folder never closed, or the mark deleted) the
  next backup does it again.
"""

import hashlib
import os

from . import filesystems, links, osutil

_BROAD_GROUPS = ("*S-1-1-0", "*S-1-5-11", "*S-1-5-32-545")  # Everyone, Authenticated Users, Users
_ALWAYS = ("*S-1-5-18", "*S-1-5-32-544")  # SYSTEM, Administrators


def account():
    """The account that runs this program, as the messages name it."""
    if osutil.WINDOWS:
        user = os.environ.get("USERNAME", "")
        domain = os.environ.get("USERDOMAIN", "")
        return "%s\\%s" % (domain, user) if domain and user else user or "this account"
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return "uid %d" % os.geteuid()


def _mark(path, marks):
    """The file in folder ``marks`` saying ``path`` was made private (Windows), or None."""
    if marks is None:
        return None
    key = osutil.path_key(os.path.abspath(path)).encode("utf-8", "surrogatepass")
    return os.path.join(marks, "private-%s" % hashlib.sha256(key).hexdigest()[:20])


def why_open(path, marks=None):
    """Why accounts other than this one may enter the folder ``path`` (a
    phrase), or None when it is private. OSError when it cannot be read.
    ``marks``: where the Windows marks are kept (see the module's docstring)."""
    if osutil.WINDOWS:
        mark = _mark(path, marks)
        return None if mark and os.path.isfile(mark) else "it has not been made private yet"
    st = os.stat(path)
    if st.st_uid != os.geteuid():
        return "it belongs to another account (uid %d)" % st.st_uid
    if st.st_mode & 0o077:
        return "its permissions are %04o" % (st.st_mode & 0o7777)
    return None


def make_private(path, marks=None, run=None):
    """Let only this account (on Windows also SYSTEM and Administrators)
    enter ``path``. OSError when that cannot be done, saying why. ``run``:
    how icacls is run (subprocess.call)."""
    if osutil.WINDOWS:
        import subprocess  # (Windows only: no program pays for it elsewhere)
        run = run or subprocess.call
        grant = [s + ":(OI)(CI)F" for s in _ALWAYS + (account(),)]
        for args in (["/inheritance:r", "/grant:r"] + grant, ["/remove:g"] + list(_BROAD_GROUPS)):
            code = run(["icacls", path] + args + ["/Q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
            if code != 0:
                raise OSError("icacls exited with code %d" % code)
        mark = _mark(path, marks)
        if mark is not None:
            if not os.path.isdir(marks):
                os.makedirs(marks)
            with open(mark, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write("%s was made private by the backup program (icacls): only %s, SYSTEM and Administrators "
                        "may enter it. Delete this file to have the next backup do it again.\n" % (path, account()))
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))  # (its links checked by the engine)
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():  # (as root the engine refuses such a folder: links.untrusted_link)
            raise OSError("it belongs to another account (uid %d): only that account can close it" % st.st_uid)
        os.fchmod(fd, st.st_mode & 0o700)  # nothing added: a folder made read-only stays so
    finally:
        os.close(fd)
    still = why_open(path)
    if still:  # a file system without owners or modes (FAT, exFAT, some shares) ignores chmod
        raise OSError("%s, and its file system keeps it so (a FAT or exFAT drive, or a share, has no "
                      "permissions of its own: mount it for one account only)" % still)


def keep_private(path, log, marks=None):
    """Make ``path`` private when it is open, saying so once in ``log`` (the
    next time it is private already); a warning when it cannot be."""
    try:
        why = why_open(path, marks)
        if why is None:
            return
        make_private(path, marks)
    except OSError as exc:
        log.warning("the backup folder %s can be entered by other accounts of this computer and could not be "
                    "made private: %s", path, getattr(exc, "strerror", None) or exc)
        return
    log.info("made the backup folder %s private: only %s can enter it now (it was open: %s)", path,
             account(), why)


def untrusted(path):
    """links.untrusted_link for a backup folder: its owners count unless it
    is on a network share, whose owners are the server's (a NAS logged in
    as its own account)."""
    return links.untrusted_link(path, owners=filesystems.network_filesystem(path) is None)


def untrusted_message(path, foreign):
    """Why backups do not go into ``path``: ``foreign`` (links.untrusted_link)."""
    return ("backups do not go into %s: on the way to it is %s, so another account could change or read them "
            "there; set dest to a folder only the account running the backups controls (as root: root's, in "
            "folders only root may write)" % (path, foreign))


def open_warning(path, marks=None):
    """[the sentence ``check`` and ``status`` show] when ``path`` is open, or
    reached through a link another account could have put there, else []."""
    foreign = untrusted(path)
    if foreign:
        return [untrusted_message(path, foreign) + " (backups fail until then)"]
    if not os.path.isdir(path):  # (made private when a backup makes it)
        return []
    try:
        why = why_open(path, marks)
    except OSError:
        return []
    if why is None:
        return []
    return ["the backup folder %s can be entered by other accounts of this computer (%s): the next backup makes "
            "it private to %s" % (path, why, account())]
