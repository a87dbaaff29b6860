"""Every OS-specific call of the project, each behind one small function.

Windows comes first: each function says what it does there and why.
"""

import errno
import functools
import os
import signal
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


def example_path(windows, posix):
    """A path for an example in a message or --help: ``windows`` on Windows
    (``D:/Restored``), ``posix`` elsewhere (``~/Restored``), so no example
    shows a path this system would not take."""
    return windows if WINDOWS else posix


def name_fold(insensitive=None):
    """How names in a snapshot compare: a function from a name to the key
    that two names compare equal by. Windows (NTFS, exFAT, FAT) and macOS
    (APFS and HFS+ as formatted by default) compare case-insensitively; Linux
    compares exactly. ``insensitive`` True or False overrides (tests reach
    the case-insensitive branch on Linux with it). The one place that
    decides: the restore selection, ``versions``, the page and the guided
    restore find a stored name through it (catalog.stored_rel)."""
    if insensitive is None:
        insensitive = WINDOWS or sys.platform == "darwin"
    return (lambda name: name.lower()) if insensitive else (lambda name: name)


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
    "permission denied". POSIX: os.open, with O_NONBLOCK (nothing to a
    regular file; a pipe another account put in its place does not hang
    the backup: the caller checks what it opened).
    """
    if not WINDOWS:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
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


@functools.lru_cache(maxsize=None)
def _syncfs():
    """libc's syncfs(fd), or None where there is none (not Linux, no libc)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:  # the C library the interpreter is linked with: no ctypes.util.find_library (it runs ldconfig)
        func = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        try:
            import ctypes.util
            func = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).syncfs
        except (OSError, AttributeError):
            return None
    func.argtypes = [ctypes.c_int]
    func.restype = ctypes.c_int
    return func


def flush_filesystem(path):
    """Ask the OS to write every cached file of the file system holding
    ``path`` to disk before a snapshot is published, so a power cut cannot
    leave a complete-looking snapshot with empty files.

    Linux: syncfs() on that file system only (os.sync() flushes every disk
    of the machine and can wait seconds for unrelated writes). Other POSIX:
    os.sync(). Windows has no cheap equivalent (FlushFileBuffers is per
    file), and NTFS writes back within seconds; there we rely on that."""
    if WINDOWS:
        return
    func = _syncfs()
    if func is not None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            fd = None
        if fd is not None:
            try:
                if func(fd) == 0:
                    return
            finally:
                os.close(fd)
    if hasattr(os, "sync"):
        os.sync()


def is_reparse_point(entry):
    """True for a Windows junction or other reparse point (never descended
    into: a junction can point at its own parent). Always False on POSIX,
    where symbolic links are told by ``stat.S_ISLNK``."""
    if not WINDOWS:
        return False
    try:
        attrs = entry.stat(follow_symlinks=False).st_file_attributes
    except (OSError, AttributeError):
        return False
    return bool(attrs & _FILE_ATTRIBUTE_REPARSE_POINT)


def is_reparse_stat(st):
    """True when ``st`` (an lstat) is of a Windows reparse point: a junction,
    a symbolic link, a mount point. Always False on POSIX (see S_ISLNK)."""
    return WINDOWS and bool(getattr(st, "st_file_attributes", 0) & _FILE_ATTRIBUTE_REPARSE_POINT)


def stop_signals():
    """The signals that mean "stop": Ctrl+C and SIGTERM everywhere, Ctrl+Break
    on Windows (SIGBREAK), SIGHUP on POSIX (the terminal closed)."""
    names = ["SIGINT", "SIGTERM", "SIGBREAK"] if WINDOWS else ["SIGINT", "SIGTERM", "SIGHUP"]
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


def pin_folder(path, fd=None):
    """(descriptor, path to use) for folder ``path`` (open as ``fd`` when
    given): on Linux the folder opened and a path through its descriptor
    (/proc/PID/fd/N, usable by a program this one starts), which a folder
    moved away and a link put in its place cannot redirect; elsewhere (None,
    ``path``): Windows cannot open a folder so. Give the descriptor to
    pinned_folder_now at the end."""
    if WINDOWS or not os.path.isdir("/proc/self/fd"):
        return None, path
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW) if fd is None else os.dup(fd)
    return fd, "/proc/%d/fd/%d" % (os.getpid(), fd)


def pinned_folder_now(fd, path):
    """Where the folder pinned by pin_folder is now (``path`` when it was not
    pinned); closes the descriptor."""
    if fd is None:
        return path
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    finally:
        os.close(fd)


def ctrl_c_raises():
    """Make Ctrl+C raise KeyboardInterrupt in the main thread, as it does at
    a normal start. A process started with it ignored (a background job of
    a shell, and every process that one starts) keeps it ignored, so a
    person answering questions at its terminal could not stop it. Windows:
    the console's Ctrl+C arrives as SIGINT too."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, OSError):  # not the main thread
        pass


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


def name_to_bytes(name):
    """The bytes of a file name for an archive entry, exactly as the file
    system holds it: UTF-8, with the raw bytes of a name that is not valid
    UTF-8 (POSIX) or the lone surrogates of a Windows name kept."""
    return name.encode("utf-8", "surrogatepass" if WINDOWS else "surrogateescape")


def name_from_bytes(raw):
    """The inverse of name_to_bytes: the name to create on this system."""
    return raw.decode("utf-8", "surrogatepass" if WINDOWS else "surrogateescape")


def link_is_directory(st):
    """Whether a symbolic link (its lstat result) is a Windows directory
    link, which must be recreated as one. Read from the link itself, never
    its target: a target can be missing or a loop. POSIX: always False
    (the kind of link does not exist there)."""
    return bool(getattr(st, "st_file_attributes", 0) & 0x10)  # FILE_ATTRIBUTE_DIRECTORY


def can_keep_owner():
    """True when this process may give files any owner (root on POSIX).
    Windows: False; files belong to whoever writes them."""
    return not WINDOWS and hasattr(os, "geteuid") and os.geteuid() == 0


def current_umask():
    """The process's umask without changing it (Linux reads /proc; elsewhere
    it is set and put back at once). Windows: 0."""
    if WINDOWS:
        return 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def data_extents(fd, size):
    """The (offset, length) ranges of ``fd`` that hold data, for copying a
    sparse file without writing its holes. Linux and other systems with
    SEEK_DATA: asked of the file system; elsewhere (Windows) one range, the
    whole file."""
    seek_data = getattr(os, "SEEK_DATA", None)
    if seek_data is None or WINDOWS:
        return [(0, size)]
    extents = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no more data: the rest is a hole
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            extents.append((start, end - start))
            pos = end
    except OSError:
        return [(0, size)]  # the file system cannot tell: copy it all
    return extents


# ioprio_set's system call number on each Linux architecture (asm/unistd.h).
