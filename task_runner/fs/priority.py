"""Lowering the priority of the work that should not slow the computer
down: a thread (scheduled copies, uploads, the pool's workers) and a child
program (rclone). Each call has its Windows and its Linux branch.

Linux: nice 19 and the idle I/O class (ioprio_set) for one thread, through
libc's syscall. Windows: the thread's background mode (lower CPU, disk and
memory priority), and BELOW_NORMAL_PRIORITY_CLASS for a child.
"""

import contextlib
import functools
import logging
import os
import sys
import threading

from .osutil import WINDOWS

logger = logging.getLogger(__name__)

_IOPRIO_SET = {"x86_64": 251, "amd64": 251, "i386": 289, "i686": 289, "aarch64": 30, "arm64": 30,
               "armv7l": 314, "armv6l": 314, "ppc64le": 273, "ppc64": 273, "s390x": 282, "riscv64": 30}
_IOPRIO_GET = {"x86_64": 252, "amd64": 252, "i386": 290, "i686": 290, "aarch64": 31, "arm64": 31,
               "armv7l": 315, "armv6l": 315, "ppc64le": 274, "ppc64": 274, "s390x": 283, "riscv64": 31}
IOPRIO_CLASS_IDLE = 3
_THREAD_MODE_BACKGROUND_BEGIN = 0x00010000
_THREAD_MODE_BACKGROUND_END = 0x00020000


def thread_id():
    """This thread's id as the OS knows it (Linux: the tid for
    setpriority and ioprio_set; Windows: the thread id)."""
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    import ctypes  # Python 3.6/3.7 on Linux: gettid through syscall(186)
    return ctypes.CDLL(None, use_errno=True).syscall(186 if os.uname().machine in ("x86_64", "amd64") else 178)


def _libc_syscall(table):
    import ctypes
    number = table.get(os.uname().machine.lower())
    if number is None:
        return None
    return functools.partial(ctypes.CDLL(None, use_errno=True).syscall, number)


def io_priority(tid):
    """Linux: (class, data) of thread ``tid``'s I/O priority; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    call = _libc_syscall(_IOPRIO_GET)
    value = call(1, tid) if call is not None else -1  # IOPRIO_WHO_PROCESS: a thread id on Linux
    return None if value < 0 else (value >> 13, value & 0x1FFF)


@contextlib.contextmanager
def background_priority(log):
    """Lower the CPU and I/O priority of the calling thread only, for the
    duration of the block: a backup then gives way to what the user is
    doing. Use it in a thread that does nothing else (the copy thread).

    Linux: nice 19 for this thread (setpriority on its tid) and the idle I/O
    class (ioprio_set). A lowered nice value cannot be raised again without
    privileges, so the thread ends with the block. Windows:
    SetThreadPriority(THREAD_MODE_BACKGROUND_BEGIN), which lowers CPU, I/O
    and memory priority, ended with THREAD_MODE_BACKGROUND_END. Elsewhere,
    or where a call is refused: one DEBUG line (to ``log``, or this
    module's logger), and the copy runs as usual.
    """
    log = log or logger
    ended = None
    try:
        if WINDOWS:
            import ctypes
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            handle = kernel32.GetCurrentThread()
            if kernel32.SetThreadPriority(handle, _THREAD_MODE_BACKGROUND_BEGIN):
                ended = lambda: kernel32.SetThreadPriority(handle, _THREAD_MODE_BACKGROUND_END)
            else:
                log.debug("low priority is not available here (error %d)", ctypes.get_last_error())
        elif hasattr(os, "setpriority"):
            tid = thread_id() if sys.platform.startswith("linux") else 0
            os.setpriority(os.PRIO_PROCESS, tid, 19)
            call = _libc_syscall(_IOPRIO_SET) if sys.platform.startswith("linux") else None
            if call is None or call(1, tid, IOPRIO_CLASS_IDLE << 13) != 0:
                log.debug("idle I/O priority is not available here; CPU priority lowered only")
        else:
            log.debug("low priority is not available on this system")
    except (OSError, AttributeError, ValueError) as exc:
        log.debug("low priority is not available here: %s", exc)
    try:
        yield
    finally:
        if ended is not None:
            ended()


_BELOW_NORMAL_PRIORITY_CLASS = 0x00004000
_CREATE_NO_WINDOW = 0x08000000


def child_process_options(low_priority):
    """Keyword arguments for subprocess.Popen of a helper program (rclone).
    Windows: no console window of its own, and BELOW_NORMAL_PRIORITY_CLASS
    when ``low_priority`` (a thread's background mode is not inherited
    there). POSIX: nothing: a child inherits the nice value and I/O class
    of the thread that starts it, so it is started from a thread inside
    ``background_priority``."""
    if WINDOWS:
        return {"creationflags": _CREATE_NO_WINDOW | (_BELOW_NORMAL_PRIORITY_CLASS if low_priority else 0)}
    return {}
