"""A remote that is a local folder: which folder it is (not another task's
copy under another spelling, nor a task's src or dest), and its unchanged
files hard-linked.

rclone's local backend (a folder, a USB disk, a mounted NAS share) has no
server-side copy, so ``--copy-dest`` cannot reuse the previous remote
snapshot there. When rclone says the remote is local (``rclone backend
features``: "IsLocal", and "Root", the folder itself), every file of the
new snapshot whose path, size and modification time equal the previous
complete remote snapshot's (their manifests say so, and the remote file
itself still has that size and time) is hard-linked from the previous
remote snapshot into the new one before ``rclone copy`` runs (and their
MD5s, when both manifests record them); rclone then
finds those files already there and sends only the rest.

Safe by construction:

* the folders of both snapshots are reached one name at a time without
  following links (safedir.Folder: descriptors on POSIX, checked names on
  Windows), so a link planted on the remote cannot redirect a link made
  here; only regular files are linked, and only paths present in the new
  local snapshot's own manifest;
* nothing ever writes into a remote file in place: rclone writes each file
  to a ``.partial`` name and renames it (the local backend's partial
  uploads), and runs with ``--no-update-modtime``, so a file shared by two
  snapshots is never changed through one of them; deleting a snapshot
  (retention) removes its names only, and the kept snapshot keeps the data;
* what is linked is idempotent: an upload cut short and tried again links
  what is missing and rclone sends what is still not there.

Linking is a saving, not a requirement: a file system that refuses hard
links (FAT, exFAT, some network shares), or any other error, ends it and
rclone sends the rest.
"""

import collections
import errno
import logging
import os
import stat

from ..config.values import remote_name
from ..fs import osutil
from ..fs.safedir import Folder, LinkInTheWay
from . import layout

logger = logging.getLogger(__name__)

Linked = collections.namedtuple("Linked", "files bytes")
MTIME_SLACK_NS = 10 ** 9  # a remote file system keeping coarser times than the snapshot's
FOLDER_MODE = 0o777  # as rclone makes them (the umask applies)
_PER_FILE = (errno.EMLINK, errno.EEXIST, errno.ENOENT)  # this file only; the next may link


def local_folder(root, windows=None):
    """The folder an rclone local remote's "Root" names, as this OS (or
    Windows when ``windows``) spells it (rclone writes ``//?/C:/x`` or
    ``//?/UNC/server/share`` on Windows)."""
    if osutil.WINDOWS if windows is None else windows:
        if root.startswith("//?/UNC/"):
            root = "//" + root[len("//?/UNC/"):]
        elif root.startswith("//?/"):
            root = root[len("//?/"):]
        return root.replace("/", "\\")
    return root


def local_root(info):
    """The folder of a local remote (rclone backend features), else None
    (also for a relative one: a hasher remote over "bk" says IsLocal with the
    Root "bk", which names no folder here)."""
    root = info.get("Root") if info.get("Features", {}).get("IsLocal") else None
    return root if root and os.path.isabs(local_folder(root)) else None


def relative_folder(kind, remote, info):
    """The folder a local remote ``remote`` (rclone type ``kind``; ``info``:
    its backend features) names by a relative path, which rclone takes
    from the folder the program was started in; else None. Seen in the
    remote's own path ("usb:offsite" of a local remote), or in rclone's
    Root (an alias onto one: rclone on Windows makes that one absolute, so
    there it is compared as such, with the cwd of this process)."""
    path = remote.partition(":")[2]
    if kind == "local" and not os.path.isabs(local_folder(path)):
        return path or "."
    root = info.get("Root")
    direct = str(info.get("String", "")).startswith("Local file system at ")  # (a wrapper's Root is its own)
    if kind != "alias" or not (info.get("Features", {}).get("IsLocal") and direct and isinstance(root, str)):
        return None
    return None if os.path.isabs(local_folder(root)) else root or "."


def local_folder_problem(rc, task, tasks, copies_of=None):
    """The problem (words after "TASK: offsite: ") when ``task``'s offsite remote is, in rclone's own view, a
    local folder that another task's remote also is (an alias, a second local
    remote: config.json's check sees only spellings), or that is, holds or
    lies inside a task's ``dest`` or ``src``: the uploads' clean-up and
    retention there would delete the other copies or the local backups, and
    a copy inside ``src`` would be backed up again. None when there is none.
    ``copies_of``: the tasks whose offsite copies are compared (default
    ``tasks``; check passes the earlier ones, to say each pair once).
    Asks rclone only about remotes of type local or alias (describing
    another kind may contact it: an SFTP server)."""
    types = rc.remote_types()

    def folder_of(remote):
        if types.get(remote_name(remote)) not in ("local", "alias"):
            return None
        root = local_root(rc.describe(remote))
        return local_folder(root) if root else None
    kind = types.get(remote_name(task.offsite.remote))
    relative = relative_folder(kind, task.offsite.remote, rc.describe(task.offsite.remote)) \
        if kind in ("local", "alias") else None
    folder = None if relative else folder_of(task.offsite.remote)
    said = "%s is the folder %s" % (rc.redact(task.offsite.remote), relative or folder)
    if relative:
        return ("%s, relative to the folder the program was started in: write its full path (such as "
                "D:/Backups/offsite or /mnt/usb/offsite)" % said)
    if folder is None:
        return None
    key = osutil.path_key(os.path.realpath(folder))
    for other in tasks:
        for what, path in (("dest", other.dest), ("src", other.src)):
            theirs = osutil.path_key(os.path.realpath(path))
            if osutil.is_inside(key, theirs) or osutil.is_inside(theirs, key):
                return ("%s, which is, holds or lies inside the %s of %s (%s): the offsite copy needs a folder of "
                        "its own, outside every task's src and dest (its clean-up there would delete backups)"
                        % (said, what, other.name, path))
        if other.name == task.name or other.offsite is None or (copies_of is not None and other not in copies_of):
            continue
        theirs = folder_of(other.offsite.remote)
        if theirs and osutil.path_key(os.path.realpath(theirs)) == key:
            return ("%s, as the offsite copy of %s is: give each task a remote folder of its own (retention on "
                    "it would delete the other's copies)" % (said, other.name))
    return None


def same_file(old, new, need_hash=False):
    """Whether manifest entries ``old`` and ``new`` are the same file:
    size and time equal, and their MD5s when both record one (``need_hash``:
    both must, for a remote whose own files cannot be compared at all)."""
    if (old["size"], old["mtime_ns"]) != (new["size"], new["mtime_ns"]):
        return False
    if layout.has_md5(old) and layout.has_md5(new):
        return old["md5"] == new["md5"]
    return not need_hash


def unchanged(old_doc, new_doc, need_hash=False):
    """{folder: [(name, size, mtime_ns)]} of the files of manifest
    ``new_doc`` that are the same file (``same_file``) as the one at their
    path in ``old_doc``; folder is a tuple of names, () for the snapshot's
    top. Only paths of ``new_doc`` (the local snapshot's own) are ever used."""
    old = {e["path"]: e for e in old_doc["entries"] if e["kind"] == "file"}
    out = collections.defaultdict(list)
    for e in new_doc["entries"]:
        o = old.get(e["path"])
        if e["kind"] == "file" and o is not None and o["kind"] == "file" and same_file(o, e, need_hash):
            parts = e["path"].split("/")
            out[tuple(parts[:-1])].append((parts[-1], e["size"], e["mtime_ns"]))
    return out


def _descend(top, parts, make):
    """The folder ``parts`` below Folder ``top`` (made when ``make``), to
    be closed by the caller; None when it is missing or a link or a file
    stands in the way."""
    folder = top.again()
    try:
        for part in parts:
            if make and folder.lstat(part) is None:
                folder.mkdir(part, FOLDER_MODE)
            inner = folder.sub(part)
            folder.close()
            folder = inner
    except (LinkInTheWay, NotADirectoryError, FileNotFoundError):
        folder.close()
        return None
    except BaseException:
        folder.close()
        raise
    return folder


def _same_file(st, size, mtime_ns):
    return (st is not None and stat.S_ISREG(st.st_mode) and st.st_size == size
            and abs(st.st_mtime_ns - mtime_ns) < MTIME_SLACK_NS)


def _link_folder(src, dst, files, stop_event):
    """Link ``files`` of Folder ``src`` into Folder ``dst``; Linked."""
    count = total = 0
    for name, size, mtime_ns in files:
        if stop_event is not None and stop_event.is_set():
            break
        if not _same_file(src.lstat(name), size, mtime_ns) or dst.lstat(name) is not None:
            continue
        try:
            dst.hardlink(src, name, name)
        except OSError as exc:
            if exc.errno in _PER_FILE:
                continue
            raise
        count, total = count + 1, total + size
    return Linked(count, total)


def link_unchanged(root, previous, name, old_doc, new_doc, stop_event=None, log=logger):
    """Hard-link into ``root``/``name`` the files of ``new_doc`` unchanged
    since remote snapshot ``previous`` (manifest ``old_doc``); Linked
    (nothing when either manifest is None). Never raises OSError: what
    could not be linked is left to rclone."""
    groups = unchanged(old_doc, new_doc) if old_doc is not None and new_doc is not None else None
    files = total = 0
    if not groups:
        return Linked(0, 0)
    base = src_top = dst_top = None
    try:
        base = Folder.open_root(local_folder(root))
        src_top = _descend(base, [previous], False)
        dst_top = _descend(base, [name], True)
        for parts in sorted(groups):
            if src_top is None or dst_top is None or (stop_event is not None and stop_event.is_set()):
                break
            src = _descend(src_top, parts, False)
            dst = _descend(dst_top, parts, True) if src is not None else None
            try:
                if src is not None and dst is not None:
                    done = _link_folder(src, dst, groups[parts], stop_event)
                    files, total = files + done.files, total + done.bytes
            finally:
                for folder in (src, dst):
                    if folder is not None:
                        folder.close()
    except OSError as exc:
        log.info("offsite: no more files linked from %s on the remote (%s); rclone sends the rest",
                 previous, exc.strerror or exc)
    finally:
        for folder in (dst_top, src_top, base):
            if folder is not None:
                folder.close()
    return Linked(files, total)


def clear_links(root, names, log=logger):
    """Remove every link (a Windows junction too) at ``names`` (a snapshot
    folder, its ZIP, its manifest) in the local remote ``root`` or below
    them, never what it leads to; returns how many. rclone writes a local
    remote by path and would follow one: a link planted where the next
    snapshot goes, or inside one an upload left half done, would send the
    upload elsewhere. The remote holds no link of ours (the manifest holds
    them), so one found there is somebody else's. (One planted while rclone
    runs is not caught: who can write into the remote folder can do that.)"""
    top = local_folder(root)
    removed = 0
    folders = []
    for name in names:
        path = os.path.join(top, name)
        removed += _unlink_if_link(path, log, folders)
    while folders:  # by hand: os.walk enters a Windows junction before Python 3.12
        try:
            with os.scandir(folders.pop()) as it:
                paths = [entry.path for entry in it]
        except OSError:
            continue
        for path in paths:
            removed += _unlink_if_link(path, log, folders)
    return removed


def _unlink_if_link(path, log, folders):
    """Remove ``path`` when it is a link (1), else 0; a real folder is
    added to ``folders`` to be looked into."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not (stat.S_ISLNK(st.st_mode) or osutil.is_reparse_stat(st)):
        if stat.S_ISDIR(st.st_mode):
            folders.append(path)
        return 0
    log.warning("offsite: removed %s from the remote: a link where the upload writes (the remote holds no "
                "link of ours) would have sent it elsewhere", path)
    try:
        os.unlink(path)
    except OSError:
        os.rmdir(path)  # a Windows junction or directory link: removed as an entry, not its target
    return 1
