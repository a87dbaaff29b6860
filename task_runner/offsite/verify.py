"""verify --offsite: the newest complete remote snapshot against the local
snapshot of the same name (its manifest's entries against the local ones)
and the remote's files against the manifest's sizes and MD5s (as the
remote reports them, or downloaded and hashed by rclone: nothing stored)."""

import json
import os

from ..errors import UsageError
from . import layout
from .rclone import RcloneError, explain
from .remote import DAMAGED, complete_snapshots, read_manifest


def _remote_files(rc, task, name):
    """{path: size} of the files the remote holds for snapshot ``name``."""
    if name.endswith(".zip"):
        args = ["lsjson", layout.join(task.offsite.remote, name)]
    else:
        args = ["lsjson", "-R", "--files-only", "--no-modtime", "--no-mimetype",
                layout.join(task.offsite.remote, name)]
    result = rc.run(args, timeout=3600)
    if result.code != 0:
        raise RcloneError("cannot list %s on the remote: %s" % (name, explain(result.code, result.error)))
    try:
        items = json.loads(result.output)
    except ValueError:
        raise RcloneError("rclone lsjson gave no JSON")
    return {(name if name.endswith(".zip") else i.get("Path")): i.get("Size") for i in items}


def _remote_md5s(rc, task, name, download):
    """{path: md5} of the files of remote snapshot ``name``: as the remote
    reports them, or (``download``) hashed by rclone as it downloads each
    one (nothing is written here). A file the remote has no hash for is
    left out."""
    args = ["md5sum", layout.join(task.offsite.remote, name)] + (["--download"] if download else [])
    result = rc.run(args, timeout=None if download else 3600)
    if result.code != 0 and not (download and result.damaged):
        raise RcloneError("cannot %s the files of %s on the remote: %s" % (
            "download and hash" if download else "read the hashes of", name, explain(result.code, result.error)))
    out = {}
    for line in result.output.split("\n"):
        digest, sep, path = line.partition("  ")
        if sep and len(digest) == 32 and path:
            out[path] = digest.lower()
    out.update((path, DAMAGED) for path in result.damaged)  # downloaded, and not what the remote says it is
    return out


def _hashes_checked(rc, task, doc, deep):
    """How the remote's contents can be checked against manifest ``doc``:
    (a phrase for the user, whether rclone downloads, or None for sizes only)."""
    files = [doc] if doc["kind"] == "zip" else [e for e in doc["entries"] if e["kind"] == "file"]
    if not all(layout.has_md5(e) for e in files):
        return "sizes compared (this manifest was written before manifests recorded MD5s)", None
    if deep:
        return "each file downloaded and its MD5 compared", True
    if "md5" in (rc.describe(task.offsite.remote).get("Hashes") or []):
        return ("sizes and the MD5s the remote reports compared (a cloud may report the MD5 it recorded at "
                "upload, not one of the data it holds now: --deep downloads each file and compares its MD5)", False)
    return ("sizes compared: the remote gives no hashes; --deep downloads each file and compares its MD5",
            None)


def verify_remote(rc, task, deep=False):
    """Compare the newest complete remote snapshot with the local snapshot
    of the same name: its manifest against the local entries (path, kind,
    size, mode, time, link target; with ``deep`` the MD5s too, read from
    the local files), and the remote's files against the manifest's sizes
    and MD5s (as the remote reports them; with ``deep``, downloaded and
    hashed by rclone, nothing stored). Returns (name, differences, what
    was compared, whether a local snapshot of that name was there to
    compare with: without one only the remote's files are checked)."""
    complete = complete_snapshots(rc, task)
    if not complete:
        raise UsageError("%s has no complete snapshot on the remote yet" % task.name)
    name = complete[-1]
    doc = read_manifest(rc, task, name)
    local = os.path.join(task.dest, name)
    differences = []
    has_local = os.path.lexists(local)
    if has_local:
        mine = layout.build(task.name, local, None, hashes=deep)
        differences += _compare_entries(mine, doc)
        if doc["kind"] == "zip":
            differences += _compare_zip(mine, doc, name)
    sizes = _remote_files(rc, task, name)
    files = {name: {"size": doc["bytes"], "md5": doc.get("md5")}} if name.endswith(".zip") else {
        e["path"]: e for e in doc["entries"] if e["kind"] == "file"}
    checked, download = _hashes_checked(rc, task, doc, deep)
    md5s = {} if download is None else _remote_md5s(rc, task, name, download)
    for path, item in sorted(files.items()):
        if path not in sizes:
            differences.append("missing on the remote: %s" % path)
        elif sizes[path] != item["size"]:
            differences.append("another size on the remote: %s (%s, the manifest says %d)"
                               % (path, sizes[path], item["size"]))
        elif download is not None and md5s.get(path, item["md5"]) != item["md5"]:
            differences.append("other contents on the remote: %s (%s)" % (path, DAMAGED if md5s[path] == DAMAGED
                                                                                 else "MD5 %s, the manifest says %s"
                                                                                 % (md5s[path], item["md5"])))
        elif download and path not in md5s:
            differences.append("not downloaded from the remote: %s" % path)
    return name, differences, checked, has_local


def _compare_zip(local_doc, remote_doc, name):
    """The differences between the local ZIP snapshot ``name`` and what the
    remote's manifest says of it: its size, its MD5 (where both have one)."""
    changed = [what for what, key in (("size", "bytes"), ("md5 (contents)", "md5"))
               if local_doc.get(key) is not None and remote_doc.get(key) is not None
               and local_doc[key] != remote_doc[key]]
    return ["the local %s and the remote's manifest of it differ: %s" % (name, ", ".join(changed))] if changed else []


def _compare_entries(local_doc, remote_doc):
    keys = ("kind", "size", "mode", "mtime_ns", "target")
    mine = {e["path"]: e for e in local_doc["entries"]}
    theirs = {e["path"]: e for e in remote_doc["entries"]}
    out = ["not in the remote manifest: %s" % p for p in sorted(set(mine) - set(theirs))]
    out += ["only in the remote manifest: %s" % p for p in sorted(set(theirs) - set(mine))]
    for path in sorted(set(mine) & set(theirs)):
        changed = [k for k in keys if mine[path].get(k) != theirs[path].get(k)]
        if layout.has_md5(mine[path]) and layout.has_md5(theirs[path]) and mine[path]["md5"] != theirs[path]["md5"]:
            changed.append("md5 (contents)")
        if changed:
            out.append("%s differs: %s" % (path, ", ".join(changed)))
    return out
