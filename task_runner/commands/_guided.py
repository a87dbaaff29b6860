"""The guided restore (restore.bat, ``backup_now.py --restore
--interactive``): a short dialogue in plain words for people who never
type a command.

Each answer is checked when it is given and the question asked again with
the reason; no message names a command-line option. Ctrl+C or Ctrl+D
(end of input) at a question ends the dialogue at once and changes
nothing; the stop handler is installed only when the restore itself
starts, and Ctrl+C then stops it as the command does. The answer checks
(``yes_no``, ``choice``, ``name_problem``, ``target_problem``) are pure.
"""

import logging
import os
import re
import time

from ..snapshots import catalog, reader as snapshot_reader
from .. import console, errors, snapshots
from ..restore import restorer as restore, target as restore_target
from ..fs import osutil
from ..logs import task_log
from ..offsite import cli as offsite_cli
from ..errors import Interrupted, UsageError
from ..history import History
from ..console import human_bytes, plural
from ..runs.locks import task_lock

SHOWN = 40  # entries of a folder listed when browsing
_WINDOWS_BAD = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {"COM%d" % i for i in range(1, 10)} | {
    "LPT%d" % i for i in range(1, 10)}
_UNSET = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%|\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_ANSWERS = {"y", "yes", "n", "no"}
logger = logging.getLogger(__name__)


class _Quit(Exception):
    """Ctrl+C or end of input at a question."""


def yes_no(answer, default):
    """True, False, or None (ask again) for a yes/no answer; Enter is ``default``."""
    text = answer.strip().lower()
    if not text:
        return default
    return {"y": True, "yes": True, "n": False, "no": False}.get(text)


def folder_answer(answer, home, windows=osutil.WINDOWS):
    """The folder a typed answer means: ``(path, from_home, None)``, or
    ``(None, False, why)``. ``~`` is ``home`` and environment variables are
    expanded; a relative path is taken from ``home`` (``from_home``: say so),
    not from wherever the program runs. A bare y or n is an answer to
    another question, not a folder's name."""
    text = answer.strip().strip('"').strip()
    if not text:
        return None, False, "a folder is needed"
    if text.lower() in _ANSWERS:
        return None, False, "\"%s\" reads as an answer to a question, not as a folder's name" % text
    if text == "~" or text.startswith("~/") or text.startswith("~" + os.sep):
        text = home + text[1:]
    expanded = os.path.expandvars(text)
    unset = _UNSET.search(expanded)
    if unset:
        return None, False, "the environment variable %s is not set here: type the folder out in full" % (
            unset.group(1) or unset.group(2))
    if not windows and _DRIVE.match(expanded):
        return None, False, "%s is a Windows path: type a folder of this computer, such as %s" % (
            expanded, os.path.join(home, "Restored"))
    if os.path.isabs(expanded):
        return os.path.normpath(expanded), False, None
    return os.path.normpath(os.path.join(home, expanded)), True, None


def copy_time(name):
    """A snapshot (or remote snapshot) name as people read it: its date and
    time, and its number when the same second has several."""
    when = snapshots.name_time(name).strftime("%Y-%m-%d %H:%M:%S")
    m = snapshots.SNAPSHOT_RE.match(name)
    return when + (" (#%s)" % m.group(2) if m and m.group(2) else "")


def choice(answer, count, default=0):
    """The index 0..count-1 of a numbered answer (Enter: ``default``), or None."""
    text = answer.strip()
    if not text:
        return default
    if text.isdigit() and 1 <= int(text) <= count:
        return int(text) - 1
    return None


def name_problem(name, windows=osutil.WINDOWS):
    """Why a drive cannot hold a file or folder called ``name`` (None: it can)."""
    if not name or name in (".", ".."):
        return "a name is needed"
    if "\x00" in name:
        return "a name cannot hold that character"
    if windows:
        if _WINDOWS_BAD.search(name):
            return 'Windows names cannot hold any of < > : " / \\ | ? *'
        if name[-1] in ". ":
            return "Windows names cannot end with a dot or a space"
        if name.split(".")[0].upper() in _WINDOWS_RESERVED:
            return "%s is a name Windows keeps for itself" % name.split(".")[0]
    return None


def target_problem(task, path, replace):
    """Why the restore cannot go into folder ``path`` (None: it can). With
    ``replace`` (files back where they were) the folder may hold files."""
    real = os.path.realpath(path)
    if osutil.is_inside(osutil.path_key(real), osutil.path_key(os.path.realpath(task.dest))):
        return "that is inside the backup folder itself: choose another place"
    if os.path.lexists(real) and not os.path.isdir(real):
        return "that is a file, not a folder"
    if os.path.isdir(real):
        if not replace and os.listdir(real):
            return "that folder already has files in it: choose a new or empty folder"
        return None if os.access(real, os.W_OK) else "this account cannot write in that folder"
    parent = os.path.dirname(real)
    drive_part = os.path.basename(real)
    if not os.path.isdir(parent):
        return "the folder %s does not exist" % parent
    if not os.access(parent, os.W_OK):
        return "this account cannot make a folder in %s" % parent
    return name_problem(drive_part)


class Dialogue(object):
    """One guided restore. ``ask(prompt)`` returns a line (raising
    KeyboardInterrupt or EOFError to stop), ``out(text)`` prints,
    ``install_stop()`` is called when the restore starts; ``progress`` is a
    restore's progress callback (_restoring.RestoreProgress), ``home`` the
    folder a relative answer is taken from."""

    def __init__(self, config, stop_event, ask, out, install_stop=None, open_folder=None, clock=time.time,
                 progress=None, home=None):
        self.config, self.stop_event, self.ask, self.out = config, stop_event, ask, out
        self.install_stop, self.open_folder, self.clock = install_stop, open_folder, clock
        self.progress, self.home = progress, home or os.path.expanduser("~")

    def run(self):
        """The exit code: 0 done (or nothing to do), 130 stopped, 3 partly restored."""
        try:
            return self._run()
        except (_Quit, KeyboardInterrupt):  # KeyboardInterrupt: Ctrl+C while the preview was read
            self.out("\nStopped: nothing was changed.")
            return errors.EXIT_INTERRUPTED

    def _line(self, prompt):
        try:
            return self.ask(prompt)
        except (KeyboardInterrupt, EOFError):
            raise _Quit()

    def _choose(self, prompt, options, default=0):
        for i, text in enumerate(options, 1):
            self.out("  %d. %s" % (i, text))
        while True:
            index = choice(self._line("%s [%d]: " % (prompt, default + 1)), len(options), default)
            if index is not None:
                return index
            self.out("  Type %s, or press Enter for %d." % (
                "1" if len(options) == 1 else "a number from 1 to %d" % len(options), default + 1))

    def _yes(self, prompt):
        """An explicit yes or no: Enter alone is asked again (nothing starts by a stray key)."""
        while True:
            answer = yes_no(self._line("%s [y/n]: " % prompt), None)
            if answer is not None:
                return answer
            self.out("  Type y (yes) or n (no).")

    def _run(self):
        self.out("Restore files from a backup. Press Enter to take the answer in [brackets] ([y/n]: type y or "
                 "n); Ctrl+C stops and changes nothing.")
        tasks = list(self.config.tasks)
        task = tasks[0]
        if len(tasks) > 1:
            self.out("\nWhich backup?")
            task = tasks[self._choose("Backup", ["%s  (%s)" % (t.name, t.src) for t in tasks])]
        if task.offsite is not None and self._from_the_remote(task):
            return self._remote(task)
        items = [i for i in catalog.snapshot_list(task, History.for_config(self.config).runs()) if not i["partial"]]
        if not items:
            if not os.path.isdir(task.dest):
                self.out("The backup folder %s was not found: is the backup drive plugged in? Plug it in and "
                         "start again." % task.dest)
            else:
                self.out("%s has no backup yet in %s: there is nothing to restore." % (task.name, task.dest))
            return errors.EXIT_FAILED
        items.reverse()
        self.out("\nWhich backup copy? (newest first)")
        labels = ["%s  %s" % (copy_time(i["name"]), i["status"] or "") for i in items[:20]]
        snapshot = items[self._choose("Copy", labels)]["name"]
        with snapshot_reader.SnapshotReader(os.path.join(task.dest, snapshot)) as reader:
            wanted = self._what(task, reader)
        target, replace, new = self._where(task)
        return self._confirm_and_restore(task, snapshot, wanted, target, replace, new)

    # -- From the offsite copy ----------------------------------------------------

    def _from_the_remote(self, task):
        """For a task with ``offsite``: the backup drive (the default), or the
        offsite copy (the default when the drive holds no snapshot)."""
        has_local = bool(snapshots.list_snapshots(task.dest))
        self.out("\nFrom where?")
        options = ["the backup drive (%s)" % task.dest, "the offsite copy (%s)" % offsite_cli.shown_remote(task)]
        return self._choose("From", options, 0 if has_local else 1) == 1

    def _remote(self, task):
        """A restore from the offsite copy: its snapshots, a path checked against the manifest of
        the one chosen (only against src for a ZIP snapshot: its contents are not in it)."""
        names = list(reversed(offsite_cli.remote_snapshots(self.config, task)))
        if not names:
            self.out("%s has no complete snapshot in the offsite copy yet." % task.name)
            return errors.EXIT_FAILED
        self.out("\nWhich copy? (newest first)")
        snapshot = names[self._choose("Copy", [copy_time(n) for n in names[:20]])]
        reader = offsite_cli.remote_reader(self.config, task, snapshot)
        rel = self._what(task, reader) if reader is not None else self._what_in_src(task)
        target, replace, _ = self._where(task)
        why = target_problem(task, target, replace)
        if why is not None:
            self.out("Cannot restore there: %s." % why)
            return errors.EXIT_FAILED
        self.out("\nThis will restore %s from the offsite copy of %s into %s." % (
            console.printable(os.path.join(task.src, rel)) if rel else "everything", copy_time(snapshot), target))
        if not self._yes("Go ahead?"):
            self.out("Nothing was changed.")
            return errors.EXIT_OK
        if self.install_stop is not None:
            self.install_stop()
        code = offsite_cli.restore(self.config, [task.name], snapshot, [os.path.join(task.src, rel)] if rel else [],
                                   target, replace, True, self.stop_event)
        if self.open_folder is not None and os.path.isdir(target):
            self.open_folder(target)
        return code

    # -- What -------------------------------------------------------------------

    def _what_in_src(self, task):
        """A path inside src, unchecked otherwise (a ZIP snapshot on the remote)."""
        self.out("\nWhat to restore? Press Enter for everything, or type or paste a file or folder path\n"
                 "(inside %s)." % task.src)
        while True:
            answer = self._line("Path [everything]: ").strip().strip('"')
            try:
                return catalog.rel_in_src(task, answer) if answer else ""
            except UsageError:
                self.out("  That is not inside %s. Type a path inside it, or press Enter for everything." % task.src)

    def _what(self, task, reader):
        self.out("\nWhat to restore? Press Enter for everything, type or paste a file or folder")
        self.out("(inside %s), or type B to browse the backup folder by folder." % task.src)
        while True:
            answer = self._line("Path [everything]: ").strip().strip('"')
            if not answer:
                return ""
            if answer.lower() in ("b", "browse"):
                picked = self._browse(reader)
                if picked is not None:
                    return picked
                continue
            rel, why = self._check_path(task, reader, answer)
            if why is None:
                return rel
            self.out("  " + why)

    def _check_path(self, task, reader, answer):
        """(rel, None), or (None, the reason with the closest names there are)."""
        try:
            rel = catalog.rel_in_src(task, answer)
        except UsageError:
            return None, "That is not inside %s. Type a path inside it, or press Enter for everything." % task.src
        stored = catalog.stored_rel(reader, rel) if rel else rel
        if stored is not None:
            return stored, None
        close = catalog.closest_names(reader, rel)
        why = "%s is not in this backup copy." % console.printable(os.path.join(task.src, rel))
        if close:
            why += " Did you mean: %s?" % ", ".join(console.printable(c) for c in close)
        return None, why + " Type it again, B to browse, or Enter for everything."

    def _browse(self, reader):
        """A file or folder picked one folder at a time; None to type a path instead."""
        folder = ""
        while True:
            entries = reader.children(folder)
            self.out("\nIn %s:" % (console.printable(folder) or "the top of the backup"))
            self.out("  0. all of this folder")
            for i, e in enumerate(entries[:SHOWN], 1):
                name = console.printable(os.path.basename(e.rel))
                self.out("  %d. %s" % (i, name + os.sep if e.kind == "dir" else "%s  (a symbolic link)" % name
                                       if e.kind == "link" else "%s  (%s)" % (name, human_bytes(e.size))))
            if len(entries) > SHOWN:
                self.out("  ... and %d more: type Q and then the path instead" % (len(entries) - SHOWN))
            answer = self._line("Number, U to go up, Q to type a path instead [0]: ").strip().lower()
            if answer == "q":
                return None
            if answer == "u":
                folder = os.path.dirname(folder)
                continue
            index = int(answer) if answer.isdigit() else 0 if not answer else None
            if index is None or index > min(len(entries), SHOWN):
                self.out("  Type a number from 0 to %d, U or Q." % min(len(entries), SHOWN))
            elif index == 0:
                return folder
            elif entries[index - 1].kind == "dir":
                folder = entries[index - 1].rel
            else:
                return entries[index - 1].rel

    # -- Where, and the restore -------------------------------------------------------

    def _where(self, task):
        """(target folder, replace, new): a new folder (made by the restore, never
        one that is there already), the original place, or another folder."""
        new = restore_target.new_folder_beside(task.src, self.clock())
        self.out("\nWhere to?")
        pick = self._choose("Where", [
            "into a new folder: %s" % new,
            "back where they were, in %s (files there that differ are kept beside them, with "
            "\".before-restore-\" and the time added before their extension)" % task.src,
            "into another folder (you type it)"])
        if pick < 2:
            return (new, False, True) if pick == 0 else (task.src, True, False)
        self.out("Type the whole path (a name alone is taken from your home folder, %s)." % self.home)
        while True:
            path, from_home, why = folder_answer(self._line("Folder: "), self.home)
            if why is None:
                why = target_problem(task, path, False)
            if why is None:
                if from_home:
                    self.out("  That is %s, in your home folder." % path)
                return path, False, False
            self.out("  %s%s. Type another folder." % (why[0].upper(), why[1:]))

    def _progress_done(self):
        if self.progress is not None:
            self.progress.clear()

    def _confirm_and_restore(self, task, snapshot, wanted, target, replace, new=False):
        why = target_problem(task, target, replace)
        if why is not None:
            self.out("Cannot restore there: %s." % why)
            return errors.EXIT_FAILED
        what = console.printable(os.path.join(task.src, wanted)) if wanted else "everything"
        preview = restore.restore(task, snapshot, target, [wanted] if wanted else [], overwrite=replace,
                                  dry_run=True, clock=self.clock, new_folder=new)
        self.out("\nThis will restore %s from the copy of %s into %s:" % (what, copy_time(snapshot), target))
        self.out("  %s (%s) to write" % (plural(preview.files, "file"), human_bytes(preview.bytes)))
        if preview.kept_aside:
            self.out("  %s there now that differ%s: kept beside, renamed NAME.before-restore-<time>.EXT"
                     % (plural(preview.kept_aside, "file"), "s" if preview.kept_aside == 1 else ""))
        if preview.unchanged:
            self.out("  %s already the same: left as %s" % (
                plural(preview.unchanged, "file"), "it is" if preview.unchanged == 1 else "they are"))
        if not self._yes("Go ahead?"):
            self.out("Nothing was changed.")
            return errors.EXIT_OK
        return self._restore(task, snapshot, wanted, target, replace, new)

    def _restore(self, task, snapshot, wanted, target, replace, new):
        if self.install_stop is not None:
            self.install_stop()
        lock = task_lock(self.config, task.name)
        if not lock.acquire(timeout=0):
            self.out("A backup of %s is running right now. Start the restore again when it has finished; "
                     "nothing was changed." % task.name)
            return errors.EXIT_ALREADY_RUNNING
        try:
            result = restore.restore(task, snapshot, target, [wanted] if wanted else [], overwrite=replace,
                                     stop_event=self.stop_event, progress=self.progress, clock=self.clock,
                                     new_folder=new)
        except Interrupted as exc:
            self._progress_done()
            text = str(exc)
            task_log(logger, task.name).warning("the guided restore from %s %s", snapshot, text)
            self.out("\n%s%s." % (text[0].upper(), text[1:]))
            return errors.EXIT_INTERRUPTED
        finally:
            lock.release()
        self._progress_done()
        self.out("\nRestored %s (%s) into %s." % (plural(result.files, "file"), human_bytes(result.bytes), target))
        if result.kept_aside:
            verb = "was" if result.kept_aside == 1 else "were"
            self.out("%s that %s there and differed %s kept beside the restored ones, with "
                     "\".before-restore-\" and the time added before their extension."
                     % (plural(result.kept_aside, "file"), verb, verb))
        if result.error_count:
            self.out("%s could not be restored:" % plural(result.error_count, "file"))
            for line in result.errors:
                self.out("  " + line)
        if self.open_folder is not None and os.path.isdir(target):
            self.open_folder(os.path.join(target, os.path.dirname(wanted)) if wanted else target)
        return errors.EXIT_PARTIAL if result.error_count else errors.EXIT_OK
