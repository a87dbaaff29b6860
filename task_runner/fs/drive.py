"""The backup drive's return: which folder a destination needs, and the
one ``stat`` that tells whether it is there.

The engine refuses to make a destination whose parent is missing (an
unplugged drive must fail the run, not fill the system disk), so the drive
is back exactly when that parent exists again: ``E:\\Backups`` for
``E:\\Backups\\Documents``, ``/media/usb/Backups`` for a mounted disk,
``\\\\nas\\share\\Backups`` for a network share.
"""

import ntpath
import os

from ..errors import DRIVE_MISSING
from . import osutil


def needed_folder(dest):
    """The folder that must exist for a run to make ``dest`` (its parent)."""
    return os.path.dirname(os.path.normpath(dest))


def is_back(dest):
    """True when the folder ``dest`` needs is there (one stat)."""
    return os.path.isdir(needed_folder(dest))


def missing_problem(dest, what="destination", windows=None, isdir=os.path.isdir):
    """Why folder ``dest`` cannot be made, for people, when the folder it
    needs is missing (None when that folder is there). Where a Windows
    drive letter or share is there, only folders are missing: it says to
    make them. Elsewhere the drive may be away (a mount point stays when its
    drive is unplugged): it asks DRIVE_MISSING, which the scheduler and the
    offsite watch look for, and says what to do when the drive is there."""
    path = ntpath if (osutil.WINDOWS if windows is None else windows) else os.path
    parent = path.dirname(path.normpath(dest))
    if isdir(parent):
        return None
    drive = path.splitdrive(path.normpath(dest))[0]
    if drive and isdir(drive + path.sep):
        return ("%s %s cannot be created because the folder %s does not exist (the drive %s is there): make that "
                "folder, or choose another" % (what, dest, parent, drive + path.sep))
    return ("%s %s cannot be created because %s does not exist: %s (If it is, make that folder, or choose "
            "another.)" % (what, dest, parent, DRIVE_MISSING))


def drive_label(dest):
    """What to call the missing drive for people: its root (``E:\\``) when
    a Windows drive letter or share is missing as a whole, else the folder
    ``dest`` needs. (splitdrive gives '' on POSIX: one branch serves both.)"""
    drive = os.path.splitdrive(os.path.normpath(dest))[0]
    if drive:
        root = drive + os.sep
        if not os.path.isdir(root):
            return root
    return needed_folder(dest)
