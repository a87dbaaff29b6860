"""The manifest of a task's last upload, kept on this computer.

The remote is untrusted: whoever can write there can change a snapshot's
manifest as well as its files. The next upload decides which files are
unchanged, and takes their MD5s, from the previous remote snapshot's
manifest; taken from the remote, a file replaced there together with its
manifest's MD5 would be copied forward into every new snapshot as if it
were ours, and a manifest whose MD5 alone was changed would pass its wrong
MD5 on (every restore then refusing the good file). So the manifest an
upload has just sent is also kept here, beside the history, in the
programs' own folder (``.locks``, files of this account only), one a task
and remote, replaced by each upload; the next upload uses it when it is
the previous remote snapshot's, and the remote's manifest otherwise (a
copy made from another computer, or before this record existed).
"""

import errno
import hashlib
import os
import re

from ..fs import osutil
from . import layout

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
MAX_BYTES = 512 * 1024 * 1024  # beyond any manifest (a million files take about 30 MB)


def path_for(folder, task_name, remote):
    """Where the record of ``task_name``'s uploads to ``remote`` is kept in
    ``folder`` (config.lock_dir), or None without a folder."""
    if folder is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", task_name)[:40]
    digest = hashlib.sha1(("%s\n%s" % (task_name, remote)).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return os.path.join(folder, "offsite-%s-%s.manifest.json.gz" % (slug, digest))


def load(path, name):
    """The checked manifest kept at ``path`` when it is that of snapshot
    ``name`` and this account's own file; else None (none kept, another
    snapshot's, damaged, a link, or another account's)."""
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not osutil.WINDOWS and (st.st_uid != os.geteuid() or st.st_mode & 0o022):
            return None
        data = f.read(MAX_BYTES + 1)
    try:
        return layout.loads(data, name) if len(data) <= MAX_BYTES else None
    except layout.ManifestError:  # (another snapshot's names itself: refused there)
        return None


def save(path, data, log):
    """Keep ``data`` (a manifest as uploaded) at ``path``, replacing the
    record before whole or not at all. A failure is only said: the next
    upload reads the remote's manifest, as before."""
    if path is None:
        return
    temp = path + ".new"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.remove(temp)  # a killed upload's (or a link: removed, never followed)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except OSError as exc:
        log.info("offsite: the manifest just uploaded could not be kept at %s (%s); the next upload reads the "
                 "remote's", path, exc)
