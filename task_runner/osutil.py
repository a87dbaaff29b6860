"""Every OS-specific call of the project, each behind one small function.

Windows comes first: each function says what it does there and why.
"""

import errno
import functools
import os
import shutil
import signal
import stat
import sys
import time

WINDOWS = os.name == "nt"

# Windows error codes that mean "another program has this file open".
_WIN_SHARING_VIOLATION = 32
_WIN_LOCK_VIOLATION = 33
_FILE_ATTRIBUTE_REPARSE_POINT = 0x400
_INVALID_HANDLE = (1 << 64) - 1 if sys.maxsize > 2 ** 32 else (1 << 32) - 1


def path_key(path):
    """A form of ``path`` for comparing: absolute, normalised, and
    case-folded on Windows (where C:/Data and c:\\data are the same folder)."""
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


def is_inside(inner, outer):
    """True when ``inner`` is ``outer`` or a folder below it (both path_keys)."""
    if inner == outer:
        return True
    prefix = outer if outer.endswith(os.sep) else outer + os.sep
    return inner.startswith(prefix)


def is_sharing_violation(exc):
    """True when an OSError says another program holds the file (Windows)."""
    return getattr(exc, "winerror", None) in (_WIN_SHARING_VIOLATION, _WIN_LOCK_VIOLATION)


def replace_file(src, dst, attempts=20, delay=0.05):
    """os.replace, retried briefly on Windows.

    On Windows the replace fails with a sharing violation while another
    process has ``dst`` open (a reader of the history file, an antivirus
    scanner); that passes within milliseconds, so retry for about a second.
    On POSIX the first attempt is the only one.
    """
    for attempt in range(attempts):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if not WINDOWS or attempt == attempts - 1:
                raise
            time.sleep(delay)


def long_path(path):
    """``path`` in the form that lifts Windows' 260-character limit
    (``\\\\?\\C:\\...`` or ``\\\\?\\UNC\\server\\share\\...``); unchanged on POSIX.
    Every path the engine builds below it inherits the prefix."""
    if not WINDOWS or path.startswith("\\\\?\\"):
        return path
    path = os.path.abspath(path)
    if path.startswith("\\\\"):
        return "\\\\?\\UNC\\" + path[2:]
    return "\\\\?\\" + path


@functools.lru_cache(maxsize=None)
def _create_file_w():
    """kernel32.CreateFileW through ctypes. Not _winapi.CreateFile: before
    Python 3.13 that calls the ANSI CreateFileA, which fails on long
    (\\\\?\\) paths and on names outside the ANSI code page."""
    import ctypes
    from ctypes import wintypes
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    func = kernel32.CreateFileW
    func.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, ctypes.c_void_p,
                     wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE]
    func.restype = wintypes.HANDLE
    return func, kernel32.CloseHandle, ctypes.get_last_error, ctypes.FormatError


def open_for_backup(path):
    """A read-only file descriptor for copying ``path``.

    Windows: opened with CreateFileW, sharing read, write and delete, so the
    backup never gets in the way of the program using the file, and so a
    file another program holds exclusively fails with a real sharing
    violation (winerror 32), which os.open would report as a plain
    "permission denied". POSIX: os.open.
    """
    if not WINDOWS:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    import msvcrt
    create, close, last_error, describe = _create_file_w()
    share = 0x1 | 0x2 | 0x4  # FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
    handle = create(path, 0x80000000, share, None, 3, 0x08000000, None)  # GENERIC_READ, OPEN_EXISTING,
    if handle is None or handle == _INVALID_HANDLE:                        # FILE_FLAG_SEQUENTIAL_SCAN
        code = last_error()
        raise OSError(None, describe(code).strip(), path, code)  # winerror picks the subclass
    try:
        return msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)
    except OSError:
        close(handle)
        raise


def fsync_dir(path):
    """Make a rename inside ``path`` durable. POSIX only: Windows cannot open
    a folder for fsync, and NTFS journals the rename itself."""
    if WINDOWS:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def flush_filesystems():
    """Ask the OS to write every cached file to disk before a snapshot is
    published, so a power cut cannot leave a complete-looking snapshot with
    empty files. POSIX: one os.sync(). Windows has no cheap equivalent, and
    NTFS writes back within seconds; there we rely on that."""
    if hasattr(os, "sync") and not WINDOWS:
        os.sync()


def is_reparse_point(entry):
    """True for a Windows junction or other reparse point (never descended
    into: a junction can point at its own parent). Always False on POSIX,
    where symbolic links are handled by ``is_symlink``."""
    if not WINDOWS:
        return False
    try:
        attrs = entry.stat(follow_symlinks=False).st_file_attributes
    except (OSError, AttributeError):
        return False
    return bool(attrs & _FILE_ATTRIBUTE_REPARSE_POINT)


def _retry_removal(func, path, _exc):
    # Windows: a read-only file or folder cannot be deleted; clear the flag
    # and try again. A symbolic link to a folder must be removed with rmdir.
    try:
        os.chmod(path, stat.S_IWRITE | stat.S_IREAD | stat.S_IEXEC)
    except OSError:
        pass
    if func in (os.unlink, os.remove) and os.path.isdir(path):
        os.rmdir(path)
    else:
        func(path)


def remove_tree(path):
    """Delete a folder tree this program made, read-only files included.
    Never follows symbolic links out of the tree."""
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_retry_removal)
    else:
        shutil.rmtree(path, onerror=lambda f, p, e: _retry_removal(f, p, e[1]))


def stop_signals():
    """The signals that mean "stop": Ctrl+C and SIGTERM everywhere, Ctrl+Break
    on Windows (SIGBREAK), SIGHUP on POSIX (the terminal closed)."""
    names = ["SIGINT", "SIGTERM", "SIGBREAK"] if WINDOWS else ["SIGINT", "SIGTERM", "SIGHUP"]
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


def install_stop_handlers(on_stop):
    """Call ``on_stop(signum)`` when a stop signal arrives. Only works in the
    main thread, which is where the entry scripts call it."""
    for sig in stop_signals():
        try:
            signal.signal(sig, lambda signum, frame: on_stop(signum))
        except (ValueError, OSError):  # not the main thread, or not allowed
            pass


def disk_error_is_fatal(exc):
    """True when an error writing to the destination means no further file
    can be written either: disk full, quota, read-only or vanished device."""
    fatal = {errno.ENOSPC, errno.EROFS, errno.EIO, errno.ENODEV, errno.ENXIO}
    for name in ("EDQUOT", "ESTALE"):
        if hasattr(errno, name):
            fatal.add(getattr(errno, name))
    return getattr(exc, "errno", None) in fatal


def print_safe(text, stream=None):
    """Print to stdout (or ``stream``) unless there is no console: under
    pythonw sys.stdout and sys.stderr are None."""
    stream = sys.stdout if stream is None else stream
    if stream is None:
        return
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError, UnicodeEncodeError):
        try:
            stream.write(text.encode("ascii", "replace").decode("ascii") + "\n")
        except Exception:
            pass
