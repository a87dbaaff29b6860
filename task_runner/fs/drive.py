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
import posixpath

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
    needs is missing (None when that folder is there). It always asks
    DRIVE_MISSING (the scheduler and the offsite watch look for it, and
    watch that folder: it runs as soon as the folder is there, whether a
    drive came back or the folder was made), then says what to do when the
    drive is there: where a Windows drive letter or share can be seen, it
    says so (the folder is what is missing, unless it is the wrong drive)."""
    path = ntpath if (osutil.WINDOWS if windows is None else windows) else posixpath
    parent = path.dirname(path.normpath(dest))
    if isdir(parent):
        return None
    root = _root(dest, path)
    hint = "If it is, make the folder %s, or choose another." % parent
    if root and isdir(root):
        hint = "The drive %s is there: if it is the backup drive, make the folder %s, or choose another." % (
            root, parent)
    return "%s %s cannot be created because %s does not exist: %s (%s)" % (what, dest, parent, DRIVE_MISSING, hint)


def drive_label(dest):
    """What to call the missing drive for people: its root (``E:\\``) when
    a Windows drive letter or share is missing as a whole, else the folder
    ``dest`` needs. (splitdrive gives '' on POSIX: one branch serves both.)"""
    root = _root(dest)
    if root and not os.path.isdir(root):
        return root
    return needed_folder(dest)


def _root(dest, path=os.path):
    """The root of ``dest``'s Windows drive letter or share (``E:\\``), or
    None (a POSIX path has none)."""
    drive = path.splitdrive(path.normpath(dest))[0]
    return drive + path.sep if drive else None
