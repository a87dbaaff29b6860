"""What a snapshot is on the remote, and its manifest.

For a snapshot NAME of the task (a folder, or NAME.zip), the remote path
of ``offsite`` holds:

* ``NAME/``: the snapshot's files, same names and contents (a folder
  snapshot); or ``NAME.zip``: the file itself (a ZIP snapshot);
* ``NAME.manifest.json.gz`` (``NAME.zip.manifest.json.gz``): uploaded
  LAST; JSON, gzip-compressed (an entry takes about 110 bytes as text, ~2.6%
  of a 4 KiB file; compressed it stays under 1% of such a tree). It
  records every entry of the snapshot: path, kind (file, dir, link), size,
  permission bits, modification time in nanoseconds, a link's target and
  a file's MD5 (``md5``, hex: the hash most remotes report through rclone;
  computed from the local snapshot while rclone sends it; manifests of
  versions before it have none). A ZIP snapshot's manifest has no entries
  (its members carry their own CRCs) and records the MD5 of the ZIP file.
  Object stores keep no folders, modes or links, and crypt hides names: a
  restore takes them from here. Every folder is an entry, so empty folders
  come back.

A remote snapshot without its manifest is incomplete (an upload cut short,
or a deletion under way): it is never listed, restored or counted, and is
removed once a newer snapshot is complete. Deleting a remote snapshot
removes its manifest first.
"""

import errno
import gzip
import io
import json
import os
import stat

from ..snapshots import reader as snapshot_reader
from .. import snapshots
from ..fs.fileio import stream_digest

MANIFEST_SUFFIX = ".manifest.json.gz"
MAX_MANIFEST = 1 << 30  # bytes once uncompressed: a bigger one is refused, never read into memory
FORMAT = "task_runner offsite manifest"
VERSION = 1
KINDS = ("file", "dir", "link")
_HEX = frozenset("0123456789abcdef")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message says why."""


def manifest_name(snapshot):
    return snapshot + MANIFEST_SUFFIX


def join(remote, *names):
    """``remote`` (``name:path``) with ``names`` below it."""
    base = remote.rstrip("/")
    sep = "" if base.endswith(":") else "/"
    return base + sep + "/".join(names)


def read_listing(lines):
    """(complete, incomplete) snapshot names from ``rclone lsf`` of the
    remote path (folders end with "/"), each oldest first. Names of any
    other pattern are not ours and are left alone."""
    present, manifests = set(), set()
    for line in lines:
        name = line.rstrip("\r\n")
        if name.endswith(MANIFEST_SUFFIX):
            manifests.add(name[:-len(MANIFEST_SUFFIX)])
            continue
        is_dir = name.endswith("/")
        name = name.rstrip("/")
        m = snapshots.SNAPSHOT_RE.match(name)
        if m and bool(m.group(3)) != is_dir:
            present.add(name)
    complete = sorted((n for n in manifests if snapshots.SNAPSHOT_RE.match(n)), key=snapshots.snapshot_sort_key)
    incomplete = sorted(present - manifests, key=snapshots.snapshot_sort_key)
    return complete, incomplete


def known_md5s(doc):
    """{path: (size, mtime_ns, md5)} of the files manifest ``doc`` (or
    None) records an MD5 for."""
    if doc is None:
        return {}
    return {e["path"]: (e["size"], e["mtime_ns"], e["md5"]) for e in doc["entries"]
            if e["kind"] == "file" and has_md5(e)}


def build(task_name, snapshot_path, created, hashes=True, known=None, previous_local=None):
    """The manifest (a dict) of the local snapshot at ``snapshot_path``;
    without ``hashes`` its files' MD5s are left out (nothing is read). A
    file takes the MD5 ``known`` (known_md5s of the previous remote
    manifest) gives for its path, size and time only when it is the very
    file the local snapshot ``previous_local`` of that name holds (the
    engine linked it: the same data); every other file is read. (Size and
    time alone were trusted once: a file edited in place with its time put
    back, copied whole by the engine, kept the old MD5 and the remote its
    old contents.)"""
    known = known or {}
    name = os.path.basename(snapshot_path)
    doc = {"format": FORMAT, "version": VERSION, "task": task_name, "snapshot": name, "created": created,
           "kind": "zip" if name.endswith(".zip") else "folder", "files": 0, "bytes": 0, "entries": []}
    if doc["kind"] == "zip":  # its members are checked by their CRCs; the file as a whole by its MD5
        st = os.stat(snapshot_path)
        doc.update(files=1, bytes=st.st_size)
        if hashes:
            doc["md5"] = file_md5(snapshot_path)
        return doc
    for entry in snapshot_reader.read_entries(snapshot_path):
        if entry.kind == "error":
            raise OSError(errno.EIO, "%s could not be read (%s)" % (entry.rel, entry.target), snapshot_path)
        if entry.kind == "other":  # never made by a backup: not sent
            continue
        item = {"path": entry.rel.replace(os.sep, "/"), "kind": entry.kind, "size": entry.size,
                "mode": entry.mode, "mtime_ns": entry.mtime_ns}
        if entry.kind == "link":
            item["target"] = entry.target
        if entry.kind == "file" and hashes:
            same = known.get(item["path"])
            item["md5"] = same[2] if same and same[:2] == (entry.size, entry.mtime_ns) and _one_file(
                previous_local, entry) else file_md5(entry.source)
        if entry.kind == "file":
            doc["files"] += 1
            doc["bytes"] += entry.size
        doc["entries"].append(item)
    return doc


def _one_file(previous_local, entry):
    """True when ``entry`` is the file (the same inode) that the local
    snapshot folder ``previous_local`` holds at its path."""
    if previous_local is None or entry.identity is None:
        return False
    try:
        st = os.lstat(os.path.join(previous_local, entry.rel))
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == entry.identity


def file_md5(path):
    """The MD5 (hex) of the file at ``path``, read without following a link
    (a file of our own snapshot)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        return stream_md5(f)


def stream_md5(f):
    """The MD5 (hex) of what is left to read in the open file ``f``."""
    return stream_digest(f, "md5").hexdigest()


def has_md5(item):
    """Whether a manifest entry records its file's MD5."""
    return isinstance(item.get("md5"), str)


def dumps(doc):
    """The manifest as gzip-compressed UTF-8 JSON, one entry a line (readable
    once decompressed: 7-Zip on Windows, gzip -d elsewhere)."""
    head = dict(doc)
    entries = head.pop("entries")
    text = json.dumps(head, ensure_ascii=True)[:-1] + ', "entries": [\n'
    text += ",\n".join(json.dumps(e, ensure_ascii=True, sort_keys=True) for e in entries)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write((text + "\n]}\n").encode("utf-8"))
    return out.getvalue()


def _is_int(value, low=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _entry_problem(item):
    if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
        return "an entry without a path"
    if item.get("kind") not in KINDS:
        return "%s: an unknown kind %r" % (item["path"], item.get("kind"))
    if not _is_int(item.get("size")) or not _is_int(item.get("mode")) or not _is_int(item.get("mtime_ns"), -2 ** 63):
        return "%s: size, mode or mtime_ns is not a whole number" % item["path"]
    if item["kind"] == "link" and not isinstance(item.get("target"), str):
        return "%s: a link without a target" % item["path"]
    if not _md5_or_none(item.get("md5")):
        return "%s: an md5 that is not 32 hex digits" % item["path"]
    return None


def _md5_or_none(value):
    return value is None or (isinstance(value, str) and len(value) == 32 and set(value.lower()) <= _HEX)


def loads(data, snapshot):
    """The manifest of remote snapshot ``snapshot`` from its bytes: a dict
    whose entries are checked (ManifestError when it cannot be used). A
    manifest comes from a remote others may write: each entry is checked
    here, and the restore checks every path again (restore._safe_rel)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            text = f.read(MAX_MANIFEST + 1)
    except (OSError, EOFError):
        raise ManifestError("the manifest of %s is not gzip data (damaged on the remote?)" % snapshot)
    if len(text) > MAX_MANIFEST:
        raise ManifestError("the manifest of %s is larger than 1 GiB once uncompressed: not read" % snapshot)
    try:
        doc = json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ManifestError("the manifest of %s is not valid JSON (damaged on the remote?)" % snapshot)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), list):
        raise ManifestError("the manifest of %s is not a manifest of this program" % snapshot)
    if doc.get("version") != VERSION:
        raise ManifestError("the manifest of %s has version %r; this program reads version %d: use a newer "
                            "version of the program" % (snapshot, doc.get("version"), VERSION))
    if isinstance(doc.get("snapshot"), str) and doc["snapshot"] != snapshot:
        raise ManifestError("the manifest of %s is that of the snapshot %s (copied or replaced on the remote?): "
                            "not used" % (snapshot, doc["snapshot"]))
    if not _md5_or_none(doc.get("md5")):  # (a ZIP snapshot's)
        raise ManifestError("the manifest of %s is damaged: an md5 that is not 32 hex digits" % snapshot)
    for item in doc["entries"]:
        problem = _entry_problem(item)
        if problem:
            raise ManifestError("the manifest of %s is damaged: %s" % (snapshot, problem))
    for item in [doc] + doc["entries"]:  # in small letters, as rclone gives them (capitals are the same MD5)
        if isinstance(item.get("md5"), str):
            item["md5"] = item["md5"].lower()
    return doc


def entries(doc, download_root):
    """The snapshot Entries of manifest ``doc``; a file's ``source`` is its
    path under ``download_root`` (where it was downloaded). Modes never
    carry set-ID or sticky bits."""
    for item in doc["entries"]:
        rel = item["path"].replace("/", os.sep)
        source = os.path.join(download_root, rel) if item["kind"] == "file" else None
        yield snapshot_reader.Entry(rel, item["kind"], stat.S_IMODE(item["mode"]) & 0o777, item["mtime_ns"],
                              item["size"] if item["kind"] == "file" else 0, item.get("target"),
                              None, None, None, source)

