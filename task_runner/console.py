"""The console: what a person reads and types there, made safe.

Every name or message shown (console, log, history, HTTP answers) goes
through ``printable``, so no file name, task name or client can rewrite a
terminal or forge a line. The two calls that differ on Windows (is there
a console to type into; show a folder) are here with both branches.
"""

import os
import shutil
import sys
import time

from .fs.osutil import WINDOWS


def printable(text):
    """``text`` (a name, or a message holding one) that can always be
    written as UTF-8 and shown safely (log, history, console, HTTP): a name
    that is not valid UTF-8 on Linux reaches Python with surrogate escapes
    (os.fsdecode), and a Windows name can hold a lone surrogate; each such
    character becomes a visible escape (\\xff, \\ud800), and so does every
    control character (ESC, a newline: \\x1b, \\x0a), so no name can
    rewrite a terminal or forge a line. Other text is returned as it is."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append("\\x%02x" % (code - 0xDC00))
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_escaped(code))
    return "".join(out)


def command(program, *args):
    """How a user runs ``program`` with ``args`` on this system, for a
    message: backup_now.bat "MD1" on Windows, python3 backup_now.py "MD1"
    elsewhere; a word a shell would change inside double quotes is quoted
    so that it can be pasted as it is (POSIX: in single quotes; Windows:
    \" for a quote, as Python reads its command line)."""
    quoted = " ".join(_quoted(a) for a in args)
    if WINDOWS:
        return ("%s.bat %s" % (program, quoted)).strip()
    return ("python3 %s.py %s" % (program, quoted)).strip()


def _quoted(word):
    if WINDOWS:
        return '"%s"' % word.replace('"', '\\"')
    if any(c in word for c in '"\\$`!'):
        return "'%s'" % word.replace("'", "'\"'\"'")
    return '"%s"' % word


def stdin_is_terminal():
    """True when a person can type answers: a terminal on POSIX, a console
    on Windows. (On Windows isatty() is also true for the NUL device, so
    the console is asked with GetConsoleMode.)"""
    stream = sys.stdin
    if stream is None:
        return False
    try:
        if not stream.isatty():
            return False
        if not WINDOWS:
            return True
        import ctypes
        import msvcrt
        mode = ctypes.c_uint32()
        handle = msvcrt.get_osfhandle(stream.fileno())
        return bool(ctypes.WinDLL("kernel32").GetConsoleMode(ctypes.c_void_p(handle), ctypes.byref(mode)))
    except (OSError, ValueError, AttributeError):
        return False


def open_in_file_manager(path):
    """Show folder ``path`` to the user: Explorer on Windows. Elsewhere
    nothing (a server may have no desktop); the path is printed anyway."""
    if WINDOWS and hasattr(os, "startfile"):
        try:
            os.startfile(path)
        except OSError:
            pass


def open_in_browser(url):
    """Open ``url`` in the user's web browser (webbrowser: the default
    browser on Windows through os.startfile, $BROWSER or xdg-open
    elsewhere); False when none could be started (the URL is printed anyway)."""
    import webbrowser
    try:
        return bool(webbrowser.open(url))
    except Exception:  # webbrowser raises whatever its launcher raised
        return False


def _escaped(code):
    return "\\x%02x" % code if code < 0x100 else ("\\u%04x" % code if code < 0x10000 else "\\U%08x" % code)


def print_safe(text, stream=None):
    """Print to stdout (or ``stream``) unless there is no console: under
    pythonw sys.stdout and sys.stderr are None. Each line is printed as
    ``printable`` shows it (a tab as spaces), so a name in it cannot
    rewrite the terminal."""
    stream = sys.stdout if stream is None else stream
    if stream is None:
        return
    text = "\n".join(printable(line.replace("\t", "    ")) for line in text.split("\n"))
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError, UnicodeEncodeError):
        try:
            stream.write(text.encode("ascii", "replace").decode("ascii") + "\n")
        except Exception:
            pass


def open_secret_link(link, keep_seconds=120):
    """Open the sign-in ``link`` in the browser without putting it on a
    command line, which every account can read (``ps``): the browser is
    given a page of ours, readable by this account only, that goes on to
    the link; it is deleted after ``keep_seconds``. In a thread of its
    own: a browser that stays in the foreground does not hold the server."""
    import html
    import pathlib
    import shutil
    import tempfile
    import threading
    folder = tempfile.mkdtemp(prefix="task_runner-signin-")  # 0700
    page = os.path.join(folder, "signin.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write('<!doctype html><meta http-equiv="refresh" content="0;url=%s"><a href="%s">Sign in</a>\n'
                % (html.escape(link, quote=True), html.escape(link, quote=True)))

    def remove():
        shutil.rmtree(folder, ignore_errors=True)
    threading.Thread(target=open_in_browser, args=(pathlib.Path(page).as_uri(),), daemon=True).start()
    timer = threading.Timer(keep_seconds, remove)
    timer.daemon = True
    timer.start()


def plural(n, word):
    """"1 file", "2 files"."""
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def human_bytes(n):
    """A size as people read it: "1 byte", "512 bytes", "3.2 MiB"."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, "byte" if n == 1 else unit)) if unit == "bytes" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def how_made(copied, linked, moved=0, symlinks=0):
    """"15 copied, 1165 linked, 20 moved, 1 symbolic link": how a run's
    files were made (moved and links only when there are some), which add
    up to its count of files. Every line that shows a run's counts says it so."""
    return "%d copied, %d linked%s%s" % (copied or 0, linked or 0, ", %d moved" % moved if moved else "",
                                         ", %s" % plural(symlinks, "symbolic link") if symlinks else "")


def progress_text(stats, elapsed, rel):
    """The live line's words. The rate is that of the bytes copied, and is
    said beside them: the bytes of linked files cost no copying, so beside
    all the bytes done it would read as a stalled transfer."""
    rate = human_bytes(stats.bytes_copied / elapsed)
    if stats.bytes_copied >= stats.bytes:
        amount = "%s at %s/s" % (human_bytes(stats.bytes), rate)
    else:
        amount = "%s (%s copied at %s/s)" % (human_bytes(stats.bytes), human_bytes(stats.bytes_copied), rate)
    return "%s (%s), %s, %d:%02d  %s" % (
        plural(stats.files, "file"), how_made(stats.copied, stats.linked, getattr(stats, "moved", 0)), amount,
        elapsed // 60, elapsed % 60, rel)


class ProgressLine(object):
    """One live line on a terminal: files and bytes done, copied vs linked,
    rate, elapsed time and the current path; redrawn at most 5 times a
    second. Use only when ``stream.isatty()``."""

    interval = 0.2

    def __init__(self, stream, clock=time.monotonic, words=progress_text):
        self.stream = stream
        self.clock = clock
        self.words = words  # (stats, elapsed seconds, current path) -> the line
        self.started = clock()
        self._last = 0.0
        self._shown = 0

    def __call__(self, stats, rel):
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        self.show(self.words(stats, max(now - self.started, 1e-6), rel))

    def show(self, text):
        """Draw ``text`` over the line, shortened to the terminal's width."""
        width = shutil.get_terminal_size((80, 20)).columns - 1
        if len(text) > width:
            text = text[:width - 3] + "..."
        self._write("\r" + text.ljust(self._shown))
        self._shown = len(text)

    def clear(self):
        if self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError, UnicodeEncodeError):
            pass
