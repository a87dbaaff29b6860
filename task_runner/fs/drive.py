"""The backup drive's return: which folder a destination needs, and the
one ``stat`` that tells whether it is there.

The engine refuses to make a destination whose parent is missing (an
unplugged drive must fail the run, not fill the system disk), so the drive
is back exactly when that parent exists again: ``E:\\Backups`` for
``E:\\Backups\\Documents``, ``/media/usb/Backups`` for a mounted disk,
``\\\\nas\\share\\Backups`` for a network share.
"""

import os


def needed_folder(dest):
    """The folder that must exist for a run to make ``dest`` (its parent)."""
    return os.path.dirname(os.path.normpath(dest))


def is_back(dest):
    """True when the folder ``dest`` needs is there (one stat)."""
    return os.path.isdir(needed_folder(dest))


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
