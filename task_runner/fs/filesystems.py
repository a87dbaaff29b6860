"""Which file system holds a path: a network one (how many workers a copy
gets), its type (whether its file ids can be trusted), a file's identity.
Each call has its Windows and POSIX branches."""

import os
import re

from .osutil import WINDOWS, is_inside

# File system types of /proc/self/mountinfo that reach another machine.
_NETWORK_FS = ("cifs", "smb3", "smbfs", "nfs", "nfs4", "9p", "afs", "ceph", "glusterfs", "lustre",
               "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.davfs", "davfs", "fuse.glusterfs")
_DRIVE_REMOTE = 4


def network_filesystem(path, mountinfo="/proc/self/mountinfo"):
    r"""What kind of network file system holds ``path`` (its nearest existing
    folder): a name for the log ("cifs", "nfs4", "fuse.sshfs", "a UNC path",
    "a network drive"), or None for a local disk or when it cannot be told.
    Windows: a UNC path (\\server\share) or a drive whose type is
    DRIVE_REMOTE (a mapped network drive). Linux: the type of the mount
    holding it, from ``mountinfo``. Elsewhere: None."""
    full = os.path.abspath(path)
    if WINDOWS:
        if full.startswith("\\\\?\\UNC\\") or (full.startswith("\\\\") and not full.startswith("\\\\?\\")):
            return "a UNC path"
        drive = os.path.splitdrive(full[4:] if full.startswith("\\\\?\\") else full)[0]
        try:
            import ctypes
            if drive and ctypes.windll.kernel32.GetDriveTypeW(drive + "\\") == _DRIVE_REMOTE:
                return "a network drive"
        except (OSError, AttributeError):
            pass
        return None
    while not os.path.exists(full) and os.path.dirname(full) != full:
        full = os.path.dirname(full)
    try:
        with open(mountinfo, "rb") as f:
            kind = mount_type(os.path.realpath(full), f.read().decode("utf-8", "surrogateescape"))
    except OSError:
        return None
    return kind if kind in _NETWORK_FS else None


def filesystem_type(path, mountinfo="/proc/self/mountinfo"):
    """The lower-case type of the file system holding existing ``path``
    ("ext4", "vfat", "fuse.sshfs"; Windows: the volume's, "ntfs", "exfat"),
    or None when it cannot be told (macOS, an error)."""
    if WINDOWS:
        try:
            import ctypes
            k32 = ctypes.windll.kernel32
            volume = ctypes.create_unicode_buffer(1024)
            name = ctypes.create_unicode_buffer(64)
            if not k32.GetVolumePathNameW(os.path.abspath(path), volume, 1024):
                return None
            if not k32.GetVolumeInformationW(volume.value, None, 0, None, None, None, name, 64):
                return None
            return name.value.lower() or None
        except (OSError, AttributeError, ValueError):
            return None
    try:
        with open(mountinfo, "rb") as f:
            return mount_type(os.path.realpath(path), f.read().decode("utf-8", "surrogateescape"))
    except OSError:
        return None


def file_identity(entry, st):
    """(volume, file id) of the file the walk met as ``entry`` with lstat
    ``st``, or None. Windows: a listing gives no id (0), so the file's own
    lstat is asked (volume serial number, NTFS file index)."""
    if WINDOWS:
        try:
            st = os.lstat(entry.path)
        except OSError:
            return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def mount_type(path, mountinfo):
    """The file system type of the mount holding ``path`` (absolute, links
    resolved), from the text of a /proc/self/mountinfo; None when none does."""
    best, kind = "", None
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            fstype = fields[fields.index("-") + 1]
        except (ValueError, IndexError):
            continue
        if is_inside(path, point) and len(point) >= len(best):
            best, kind = point, fstype
    return kind
