"""Where a backup can come from or go to, for the page's folder chooser:
the computer's drives (with free space and their kind) and the folders in
one folder. ``drives`` is the one OS-specific call, with both branches."""

import os
import shutil

from . import filesystems, osutil

MAX_FOLDERS = 2000
# Removable media are mounted here by desktop Linux (udisks) and by hand.
_MEDIA_ROOTS = ("/media", "/run/media", "/mnt")
_DRIVE_REMOVABLE, _DRIVE_FIXED, _DRIVE_REMOTE, _DRIVE_CDROM = 2, 3, 4, 5


def drives(home=None):
    """The places to start browsing from: [{"path", "label", "kind",
    "free", "total"}], the user's home first. ``kind`` is "home", "fixed",
    "removable", "network" or "cd"; ``free``/``total`` are bytes, or None
    when the drive cannot be read (an empty card reader)."""
    home = home or os.path.expanduser("~")
    out = [_place(home, "Your folder (%s)" % home, "home")]
    if osutil.WINDOWS:
        import ctypes
        kernel32 = ctypes.windll.kernel32
        mask = kernel32.GetLogicalDrives()
        for i in range(26):
            if mask & (1 << i):
                root = "%s:\\" % chr(ord("A") + i)
                kind = {_DRIVE_REMOVABLE: "removable", _DRIVE_REMOTE: "network",
                        _DRIVE_CDROM: "cd"}.get(kernel32.GetDriveTypeW(root), "fixed")
                out.append(_place(root, root[:2], kind))
        return out
    out.append(_place("/", "/ (the whole computer)", "fixed"))
    for root in _MEDIA_ROOTS:
        for path in _subfolders(root, depth=2 if root == "/run/media" else 1):
            if os.path.ismount(path):
                out.append(_place(path, path, "network" if filesystems.network_filesystem(path) else "removable"))
    return out


def _subfolders(root, depth):
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    paths = [os.path.join(root, n) for n in names if os.path.isdir(os.path.join(root, n))]
    if depth <= 1:
        return paths
    return [p for sub in paths for p in _subfolders(sub, depth - 1)]


def _place(path, label, kind):
    try:
        usage = shutil.disk_usage(path)
        free, total = usage.free, usage.total
    except OSError:
        free = total = None
    return {"path": path, "label": label, "kind": kind, "free": free, "total": total}


def folders(path):
    """The folders in ``path`` (an absolute path): (path, parent or None,
    [{"name", "path"}] sorted by name, whether the list was cut at
    MAX_FOLDERS). Hidden folders (a leading "." or "$") are left out.
    OSError when ``path`` cannot be listed."""
    path = os.path.normpath(path)
    entries = []
    with os.scandir(path) as it:
        for entry in it:
            if entry.name.startswith((".", "$")):
                continue
            try:
                if entry.is_dir():
                    entries.append(entry.name)
            except OSError:
                continue
    entries.sort(key=lambda n: (n.casefold(), n))
    parent = os.path.dirname(path)
    return (path, None if parent == path else parent,
            [{"name": n, "path": os.path.join(path, n)} for n in entries[:MAX_FOLDERS]],
            len(entries) > MAX_FOLDERS)
