"""How the files unchanged since the previous remote snapshot reach the new
one without being sent again (for upload.py), in the first of these ways
the remote allows:

* "listed": it copies files on its own side and rclone can tell files
  apart there by time or hash (S3, B2, Google Drive, rclone's WebDAV, and
  a crypt remote over one of them): the files our two manifests show
  unchanged (path, size, time and MD5, which the local engine checked) are
  copied there from the previous snapshot, each one request asking
  nothing first (``--no-check-dest``, no HEAD of the copy); then the send
  compares sizes only (``--size-only``: no request a file for its time),
  which is right because every file in the new snapshot's folder is one
  this upload put there. Where the listing gives MD5s (S3, Drive), one
  listing of the previous remote snapshot comes first: a remote file whose
  MD5 or size differs, or that is gone, is named and sent. An unchanged
  re-run to S3 costs two requests a file (rclone's HEAD of the source and
  the copy) instead of three, and no file is read here
  (docs/DEVELOPMENT.md). A resumed upload keeps what its earlier try sent
  and compares it by time too (it may have been replaced since). Without
  the previous manifest's MD5s (none read, or written by an older
  version), or when the listing fails: ``--copy-dest`` (rclone compares
  size and time, to the remote's precision: a second on rclone's WebDAV;
  a file edited at the same size within it would travel as its old
  version, which our manifests see);
* "precopy": it copies files on its own side but keeps no times and
  reports no hash (WebDAV of vendor "other": Apache's mod_dav), where
  ``--copy-dest`` would take a file edited at the same size as unchanged:
  the files our manifests show unchanged are copied there before rclone
  sends the rest;
* "link": it is a local or mounted folder (rclone's local backend): the
  files are hard-linked there from the previous snapshot before rclone
  runs (prelink.py);
* "hardlink": SFTP (and a crypt remote over it) keeping times:
  ``--copy-dest`` with ``--sftp-copy-is-hardlink`` (the server links the
  file, OpenSSH's ``hardlink@openssh.com``), when a probe shows the server
  makes them (``rclone serve sftp`` does not: there rclone would download
  and re-send each file);
* else the snapshot is sent whole.
"""

import collections
import json
import os
import tempfile

from . import layout, prelink
from .rclone import explain

NO_MODTIME = 3153600000000000000  # rclone's fs.ModTimeNotSupported (100 years): the remote keeps no times

HARDLINK_COPY = "--sftp-copy-is-hardlink"
# A link the server made is the file itself: rclone's check after each copy would run an md5sum of
# the old and the new name on the server, reading both (an unchanged re-run of 508 files: 178 s
# against 104 s for the first upload). Files sent are then checked by size; verify --offsite and
# the manifest's MD5s check contents.
HARDLINK_OPTIONS = [HARDLINK_COPY, "--no-update-modtime", "--ignore-checksum"]
LINK_PROBE = ".task_runner-link-probe"  # no snapshot's name: listings leave it alone
# A copy asks nothing first (the new folder is this snapshot's) and reads nothing back (S3: no HEAD).
LISTED_COPY_OPTIONS = ["--no-check-dest", "--s3-no-head-object"]
LISTED_SEND_OPTIONS = ["--size-only"]

HOW = {"listed": " (unchanged files copied on the remote from %s)",
       "precopy": " (files unchanged by their size, time and MD5 copied on the remote from %s)",
       "link": " (unchanged files linked on the remote from %s)",
       "hardlink": " (unchanged files linked on the remote's server from %s)"}

Plan = collections.namedtuple("Plan", "how options root fallback lists_md5 resumed")
Plan.__new__.__defaults__ = (False, False)
Plan.__doc__ = """``how`` (a key of HOW, or None: sent whole), rclone's options for the send,
the local folder of a local remote (or None), the send's options when our
manifests cannot decide (``fallback``: ``--copy-dest``, or none), whether the
remote's listing gives MD5s, and whether the upload resumes an earlier try."""
Copied = collections.namedtuple("Copied", "linked damaged options")
Copied.__doc__ = """What copy_first did: prelink.Linked of what was copied or linked on the
remote, the paths found damaged in the previous remote snapshot (sent
instead), and the send's options from now on."""


def compares(info):
    """How rclone tells a remote file from a changed local one of the same
    size, from ``rclone backend features`` (``info``): "time" (the remote
    keeps modification times), "hash" (it reports a hash, which a local
    file always has) or None (sizes only: a WebDAV server of vendor
    "other", such as Apache's mod_dav). Unknown counts as None."""
    precision = info.get("Precision")
    if isinstance(precision, int) and not isinstance(precision, bool) and 0 < precision < NO_MODTIME:
        return "time"
    if info.get("Hashes"):
        return "hash"
    return None


def _lists_md5(info):
    hashes = info.get("Hashes")
    return isinstance(hashes, list) and "md5" in [str(h).lower() for h in hashes]


def plan(rc, remote, previous, info, stop_event=None, resumed=False):
    """How files unchanged since remote snapshot ``previous`` reach the new
    one (a Plan); ``resumed``: the new snapshot's folder holds what an
    earlier try sent. ``--copy-dest`` takes a file of ``previous`` that
    rclone finds equal by size and time (to the remote's precision: a
    second on rclone's WebDAV; a crypt remote compares no hash), so a file
    edited at the same size within that precision would travel as its old
    version: it is only the fallback where our manifests cannot decide."""
    if previous is None:
        return Plan(None, [], None, [], False)
    how = compares(info)
    copy_dest = ["--copy-dest", layout.join(remote, previous)] + (["--checksum"] if how == "hash" else [])
    features = info.get("Features", {})
    if how and features.get("Copy"):
        # Resumed: what the earlier try sent is compared by time too (it may have been replaced since).
        return Plan("listed", [] if resumed else LISTED_SEND_OPTIONS, None, copy_dest, _lists_md5(info), resumed)
    if prelink.local_root(info):
        return Plan("link", ["--no-update-modtime"], prelink.local_root(info), [])
    if how and rc.features(remote, [HARDLINK_COPY]).get("Copy") and _server_links(rc, remote, previous, stop_event):
        return Plan("hardlink", HARDLINK_OPTIONS + copy_dest, None, [])
    if features.get("Copy"):
        return Plan("precopy", [], None, [], False, resumed)
    return Plan(None, [], None, [])


def _server_links(rc, remote, previous, stop_event):
    """Whether the SFTP server makes hard links: rclone asked to copy the
    previous manifest that way counts a server-side copy. (Without
    ``hardlink@openssh.com`` rclone would download each file and send it
    back: twice the traffic of sending it.) The probe file is removed."""
    probe = layout.join(remote, LINK_PROBE)
    got = rc.run(["copyto", layout.join(remote, layout.manifest_name(previous)), probe] + HARDLINK_OPTIONS,
                 stop_event=stop_event, timeout=120, quiet=True)
    rc.run(["deletefile", probe], timeout=120, quiet=True)
    return got.code == 0 and int((got.stats or {}).get("serverSideCopies", 0)) > 0


def copy_first(rc, task, name, previous, reuse, old, new, stop_event, on_stats, log):
    """What ``reuse`` (a Plan) does before the send, with the manifests of
    the previous remote snapshot (``old``) and of the new one (``new``;
    either may be None): a Copied."""
    none = Copied(prelink.Linked(0, 0), (), reuse.options)
    if reuse.how == "link":
        return none._replace(linked=prelink.link_unchanged(reuse.root, previous, name, old, new, stop_event, log))
    if reuse.how not in ("listed", "precopy"):
        return none
    if old is None or new is None or not any(layout.has_md5(e) for e in old["entries"] if e["kind"] == "file"):
        return none._replace(options=reuse.fallback)  # (none read, or written before manifests had MD5s)
    listed = _listed_md5s(rc, layout.join(task.offsite.remote, previous), stop_event) if reuse.lists_md5 else None
    if reuse.lists_md5 and listed is None:
        return none._replace(options=reuse.fallback)
    whole, damaged = [], []
    for path, size, md5 in _unchanged(old, new):
        # Unlisted: taken as it is. An object listed without an MD5 (S3: one sent in parts): by its size.
        there_size, there_md5 = (size, "") if listed is None else listed.get(path, (None, ""))
        (damaged if there_size != size or there_md5 not in ("", md5) else whole).append((path, size, md5))
    options = LISTED_COPY_OPTIONS[1:] if reuse.resumed else LISTED_COPY_OPTIONS  # resumed: what is there is kept
    linked = _copy_unchanged(rc, task, name, previous, whole, options, stop_event, on_stats, log)
    return Copied(linked, tuple(p for p, _, _ in damaged), reuse.options)


def _unchanged(old, new):
    """[(path, size, md5)] of the files both manifests show unchanged
    (path, size, time and MD5: a manifest without MD5s gives none), one a
    line (a name holding a line break is sent)."""
    if old is None or new is None:
        return []
    md5s = {e["path"]: e.get("md5") for e in new["entries"] if e["kind"] == "file"}
    groups = prelink.unchanged(old, new, need_hash=True)
    files = [("/".join(parts + (name,)), size) for parts in sorted(groups) for name, size, _ in groups[parts]]
    return [(p, size, md5s[p]) for p, size in files if "\n" not in p and "\r" not in p]


def _listed_md5s(rc, folder, stop_event):
    """{path: (size, md5 or "")} of the files under remote ``folder``, from
    one listing (``--no-modtime --no-mimetype``: S3 would ask each file for
    them); None when it cannot be listed."""
    got = rc.run(["lsjson", "-R", "--files-only", "--hash", "--hash-type", "md5", "--no-modtime", "--no-mimetype",
                  folder], stop_event=stop_event, timeout=600, quiet=True)
    if got.code != 0:
        return None
    try:
        items = json.loads(got.data.decode("utf-8", "surrogateescape"))
        return {i["Path"]: (i.get("Size"), str((i.get("Hashes") or {}).get("md5") or "").lower()) for i in items}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _copy_unchanged(rc, task, name, previous, paths, options, stop_event, on_stats, log):
    """Copy ``paths`` ([(path, size, md5)]) from remote snapshot
    ``previous`` into the new one on the remote's side (``options``:
    rclone's); prelink.Linked of what was copied. A failure only means
    more is sent."""
    if not paths:
        return prelink.Linked(0, 0)
    fd, listing = tempfile.mkstemp(prefix="task_runner-unchanged-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write("".join(p + "\n" for p, _, _ in paths).encode("utf-8", "surrogateescape"))
        got = rc.run(["copy", layout.join(task.offsite.remote, previous), layout.join(task.offsite.remote, name),
                      "--files-from-raw", listing] + list(options), stop_event=stop_event, on_stats=on_stats,
                     timeout=None, quiet=True)  # its statistics too: the record shows progress while the remote copies
    finally:
        os.unlink(listing)
    stats = got.stats or {}
    if got.code != 0:
        log.info("offsite: not every unchanged file was copied on the remote (%s); rclone sends the rest",
                 explain(got.code, got.error))
    return prelink.Linked(int(stats.get("serverSideCopies", 0)), int(stats.get("serverSideCopyBytes", 0)))
