"""The folder a restore writes into (``--to``), opened once.

A restore run as root may write into a folder whose parents another
account can change (``--to /home/alice/out``, the "Restored <time>" folder
beside ``src``, or ``src`` itself). Were ``--to`` checked by its path and
opened again later, that account could swap it for a link to a folder of
root's between the two. So ``open_target`` walks to it once:

* POSIX: from ``/``, one name at a time, each folder opened relative to the
  one before with ``O_DIRECTORY | O_NOFOLLOW``. A symbolic link on the way
  is followed only when no other account can have put it there: the link
  belongs to root or to this account, and so does the folder holding it,
  which nobody else may write to (in a sticky folder such as /tmp, a link
  of this account's or the folder owner's). Any other link is refused,
  naming it. The last name is made with ``mkdir`` relative to its parent
  (mode 0700: private until the restore gives it its final mode) and
  opened with ``O_NOFOLLOW``; every check (a folder, empty, not inside the
  backup folder: compared by device and inode, from the opened folder up
  to ``/``) is made on what was opened.
* Windows: no descriptors for folders. The path is resolved and checked,
  and each folder is reached by path later (safedir's Windows branch).
"""

import os
import stat

from ..fs import links, osutil, safedir
from ..errors import BackupError, UsageError
from ..clock import LOCAL, local_datetime



class Target(object):
    """The target folder of a restore: ``path`` (absolute, for messages),
    the open ``parent`` folder and the ``name`` in it (None when there is no
    parent to make it in), and ``root`` (a safedir.Folder) once it exists."""

    def __init__(self, path, parent, name, root):
        self.path, self.parent, self.name, self.root = path, parent, name, root
        self.made = False

    def exists(self):
        return self.root is not None

    def open(self, dry_run=False):
        """The target as a safedir.Folder, made now (private, 0700) when
        missing; None in a dry run that would make it."""
        if self.root is None:
            if dry_run:
                return None
            try:
                if self.parent is not None:
                    self.parent.mkdir(self.name, 0o700)
                    self.root = self.parent.sub(self.name)
                else:
                    os.mkdir(self.path, 0o700)
                    self.root = safedir.Folder(self.path)
            except FileExistsError:
                raise BackupError("--to %s was made by another program meanwhile: nothing was restored; "
                                  "run the restore again" % self.path)
            except (safedir.LinkInTheWay, NotADirectoryError, FileNotFoundError):
                raise BackupError("--to %s was changed meanwhile (it became a link, or was moved): nothing was "
                                  "restored" % self.path)
            self.made = True
        return self.root

    def finish(self, top, owners, whole):
        """Give the target the owner, mode and time of the snapshot's top
        (``top()``: its Entry, or None when the snapshot does not keep it)
        when this restore made it (until now private, 0700), or when a
        whole snapshot was restored into it with overwrite (back in place).
        An existing folder is otherwise left as it is; a made one whose
        snapshot keeps no top stays private."""
        if self.root is not None and (self.made or whole):
            entry = top()
            if entry is not None:
                self.root.set_own_metadata(entry, owners)

    def remove_if_unused(self):
        """Remove the target when this restore made it and left it empty."""
        if not self.made or self.root is None or self.root.names():
            return
        try:
            if self.parent is not None:
                os.rmdir(self.name, dir_fd=self.parent.fd)
            else:
                os.rmdir(self.path)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for folder in (self.root, self.parent):
            if folder is not None:
                folder.close()
        self.root = self.parent = None


def open_target(task, target, overwrite, leftover=None, must_create=False):
    """The Target for ``target`` (see the module's docstring), checked: it
    is a folder or can be made, it is empty unless ``overwrite`` (names for
    which ``leftover(name)`` is true, what a killed restore left, do not
    count), and it is not inside ``task.dest``; with ``must_create`` it is
    not there yet (a "new folder" that another account made in advance is
    never used). UsageError naming the problem otherwise."""
    if not safedir.FD_WALK:
        found = _by_path(task, target, overwrite, leftover)
    else:
        # Not normalised: "link/.." is the folder above where the link leads, as the kernel reads it.
        parent, name, root = _walk(target, os.path.join(os.getcwd(), target))
        where = (root or parent).path if name is None else parent.join(name)
        found = Target(os.path.normpath(where), parent, name, root)
        try:
            _check(found, task, target, overwrite, leftover)
        except BaseException:
            found.close()
            raise
    if must_create and found.exists():
        found.close()
        raise UsageError("%s is there already (made by another program or account meanwhile): nothing was "
                         "restored; start the restore again for a folder of its own" % target)
    return found


def _walk(target, path):
    """(parent Folder, last name, Folder or None) of ``path``, from ``/``."""
    pending = [p for p in path.split(os.sep) if p]
    folder, hops = safedir.Folder("/", os.open("/", safedir.DIR_FLAGS)), 0
    try:
        while pending:
            name = pending.pop(0)
            if name == ".":
                continue
            st = folder.lstat(name) if name != ".." else os.fstat(folder.fd)
            if st is not None and stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > links.MAX_LINKS or not links.trusted(os.fstat(folder.fd), st):
                    raise UsageError(_untrusted(target, folder.join(name), hops))
                link = folder.readlink(name)
                if os.path.isabs(link):
                    folder.close()
                    folder = safedir.Folder("/", os.open("/", safedir.DIR_FLAGS))
                pending[:0] = [p for p in link.split(os.sep) if p]
                continue
            if not pending:  # the target itself
                if st is None:
                    return folder, name, None
                if not stat.S_ISDIR(st.st_mode):
                    raise UsageError("--to %s exists and is not a folder" % target)
                return folder, name, folder.sub(name)
            if st is None:
                raise UsageError("--to %s cannot be created because %s does not exist" % (
                    target, os.path.normpath(folder.join(name))))
            if not stat.S_ISDIR(st.st_mode):
                raise UsageError("--to %s: %s is not a folder" % (target, os.path.normpath(folder.join(name))))
            inner = folder.sub(name) if name != ".." else safedir.Folder(
                os.path.dirname(folder.path), os.open("..", safedir.DIR_FLAGS, dir_fd=folder.fd))
            folder.close()
            folder = inner
        return None, None, folder  # "/" itself
    except (safedir.LinkInTheWay, NotADirectoryError, FileNotFoundError):  # changed since its lstat
        folder.close()
        raise UsageError("--to %s: a folder on the way was changed meanwhile (it became a link, or was moved): "
                         "nothing was restored; run the restore again" % target)
    except BaseException:
        folder.close()
        raise


def _check(found, task, target, overwrite, leftover):
    folder = found.root if found.root is not None else found.parent
    if _inside(folder, task.dest):
        raise UsageError(_inside_dest(target, task))
    if found.root is not None and not overwrite and _holds_files(found.root.names(), leftover):
        raise UsageError(_not_empty(target))


def _holds_files(names, leftover):
    return any(leftover is None or not leftover(name) for name in names)


def _inside(folder, dest):
    """True when the open ``folder`` is ``dest`` or inside it: its device
    and inode, then each of its parents', up to ``/``."""
    try:
        st = os.stat(dest)
    except OSError:
        return False
    mark = (st.st_dev, st.st_ino)
    fd = os.dup(folder.fd)
    try:
        for _ in range(4096):
            here = os.fstat(fd)
            if (here.st_dev, here.st_ino) == mark:
                return True
            up = os.open("..", safedir.DIR_FLAGS, dir_fd=fd)
            above = os.fstat(up)
            os.close(fd)
            fd = up
            if (above.st_dev, above.st_ino) == (here.st_dev, here.st_ino):
                return False  # "/" is its own parent
        return False
    finally:
        os.close(fd)


def _by_path(task, target, overwrite, leftover):
    """Windows: the target resolved and checked by path."""
    try:
        real = os.path.realpath(target)
    except (OSError, ValueError) as exc:
        raise UsageError("--to %s cannot be resolved: %s" % (target, getattr(exc, "strerror", None) or exc))
    dest = osutil.path_key(os.path.realpath(task.dest))
    if osutil.is_inside(osutil.path_key(real), dest):
        raise UsageError(_inside_dest(target, task))
    if os.path.exists(real) and not os.path.isdir(real):
        raise UsageError("--to %s exists and is not a folder" % target)
    if not overwrite and os.path.isdir(real) and _holds_files(os.listdir(real), leftover):
        raise UsageError(_not_empty(target))
    parent = os.path.dirname(real)
    if not os.path.isdir(real) and not os.path.isdir(parent):
        raise UsageError("--to %s cannot be created because %s does not exist" % (target, parent))
    found = Target(real, None, None, safedir.Folder(osutil.long_path(real)) if os.path.isdir(real) else None)
    return found


def _inside_dest(target, task):
    return "--to %s is inside the backup folder %s: restore somewhere else" % (target, task.dest)


def _not_empty(target):
    return ("--to %s is not empty: restore into a new or empty folder, or add --overwrite to replace what "
            "differs (the files there are kept beside the restored ones)" % target)


def _untrusted(target, link, hops):
    if hops > links.MAX_LINKS:
        return "--to %s: too many symbolic links on the way (a loop?)" % target
    return ("--to %s: %s is a symbolic link that another account could have put there: give the folder it "
            "leads to instead (a restore follows no link another account can change)" % (target, link))


def new_folder_beside(src, now, zone=LOCAL):
    """A free name for a new folder "Restored <time>" beside ``src`` (the
    page's and the guided restore's "new folder"; "_2", "_3"... when taken:
    another account may have made the names of the coming minutes)."""
    base = os.path.join(os.path.dirname(os.path.normpath(src)),
                        "Restored %s" % local_datetime(now, zone).strftime("%Y-%m-%d_%H-%M-%S"))
    path, n = base, 2
    while os.path.lexists(path):
        path, n = "%s_%d" % (base, n), n + 1
    return path
