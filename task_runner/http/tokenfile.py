"""The HTTP server's own token, when config.json sets none: made at the
first start, kept in ``http_token.txt`` beside config.json, readable by the
server's own account only (POSIX: mode 0600, created with O_EXCL and
O_NOFOLLOW; Windows: an owner-only ACL set with icacls before the token is
written). A file found there that another account owns or could read is
refused, never used: its token may be known to others.
"""

import os
import secrets
import stat
import subprocess

from ..fs import osutil, private_folder
from ..errors import ConfigError

TOKEN_FILE = "http_token.txt"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def token_path(config):
    return os.path.join(config.folder, TOKEN_FILE)


def load_or_create(path, min_length):
    """(token, created): the token of the file at ``path``, made first
    (256 random bits) when there is none."""
    try:
        return _read(path, min_length), False
    except FileNotFoundError:
        pass
    except OSError as exc:  # a link (O_NOFOLLOW), no permission...
        raise ConfigError("cannot read the token file %s: %s: delete it (a new one is made at the next "
                          "start)" % (path, exc.strerror or exc), None)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o600)
    except FileExistsError:  # another server made it meanwhile
        return _read(path, min_length), False
    except OSError as exc:
        raise ConfigError("cannot create the token file %s: %s: set http.token in config.json instead, "
                          "or let this account write in that folder" % (path, exc.strerror or exc), None)
    try:
        try:
            owner_only(fd, path)
            os.write(fd, token.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except (OSError, ConfigError):
        os.remove(path)
        raise
    return token, True


def owner_only(fd, path, windows=osutil.WINDOWS, run=subprocess.call):
    """Let only this account read the file open as ``fd`` at ``path``
    (Windows: inheritance removed, full control for this account alone)."""
    if windows:
        code = run(["icacls", path, "/inheritance:r", "/grant:r", "%s:F" % private_folder.account(), "/Q"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if code != 0:
            raise ConfigError("cannot make the token file %s private (icacls exited with code %d): set "
                              "http.token in config.json instead" % (path, code), None)
    else:
        os.fchmod(fd, 0o600)


def _read(path, min_length):
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY)
    try:
        st = os.fstat(fd)
        if not osutil.WINDOWS:
            _check_private(path, st)
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    token = data.decode("ascii", "replace").strip()
    if len(token) < min_length or any(not "!" <= c <= "~" for c in token):
        raise ConfigError("the token file %s does not hold a token of %d or more visible characters: delete it "
                          "(a new one is made at the next start)" % (path, min_length), None)
    return token


def _check_private(path, st):
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a file"
    elif st.st_uid != os.geteuid():
        problem = "belongs to another account"
    elif st.st_mode & 0o077:
        problem = "can be read by other accounts (mode %04o)" % (st.st_mode & 0o7777)
    elif st.st_nlink != 1:
        problem = "has other names (hard links) that others may have made"
    else:
        return
    raise ConfigError("the token file %s %s, so others may know its token: delete it (a new one is made at the "
                      "next start)" % (path, problem), None)
