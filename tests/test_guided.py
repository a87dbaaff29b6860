"""The guided restore: each answer checked when it is given, Ctrl+C and
end of input at any question, the original place as a choice; the answer
checks as tables, the dialogue with scripted answers and through a real
pseudo-terminal."""

import os
import select
import signal
import subprocess
import sys
import threading
import time
import unittest

from task_runner import guided
from tests.helpers import ROOT
from tests.test_restore import POSIX, RestoreBase


class ChecksTest(unittest.TestCase):
    def test_yes_no(self):
        for answer, default, want in [("", True, True), ("", False, False), ("y", False, True), ("YES", False, True),
                                      (" n ", True, False), ("No", True, False), ("nope", True, None),
                                      ("yeah", False, None), ("1", True, None)]:
            with self.subTest(answer=answer, default=default):
                self.assertIs(guided.yes_no(answer, default), want)

    def test_choice(self):
        for answer, want in [("", 1), ("1", 0), ("3", 2), ("4", None), ("0", None), ("-1", None), ("x", None),
                             (" 2 ", 1)]:
            with self.subTest(answer=answer):
                self.assertEqual(guided.choice(answer, 3, default=1), want)

    def test_names_a_drive_cannot_hold(self):
        for name, windows, fragment in [("ok name.txt", True, None), ("a:b", True, "cannot hold"),
                                        ("what?", True, "cannot hold"), ("trailing.", True, "end with a dot"),
                                        ("CON", True, "keeps for itself"), ("com1.txt", True, "keeps for itself"),
                                        ("a:b", False, None), ("", False, "a name is needed"),
                                        ("..", False, "a name is needed")]:
            with self.subTest(name=name, windows=windows):
                got = guided.name_problem(name, windows)
                if fragment is None:
                    self.assertIsNone(got)
                else:
                    self.assertIn(fragment, got)


class DialogueBase(RestoreBase):
    def dialogue(self, answers, stop=None):
        """Run the dialogue with ``answers`` (an exception instance is raised
        at that question); returns (exit code, everything printed, prompts)."""
        printed, prompts = [], []
        answers = list(answers)

        def ask(prompt):
            prompts.append(prompt)
            if not answers:
                raise AssertionError("asked %r with no answer left; printed:\n%s" % (prompt, "\n".join(printed)))
            answer = answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        code = guided.Dialogue(self.config, stop or threading.Event(), ask, printed.append,
                               clock=lambda: 1764410000.0).run()
        text = "\n".join(printed)
        self.assertNotIn("--", text.replace("----", ""), "a message names a command-line option")
        return code, text, prompts


class DialogueTest(DialogueBase):
    def restored_folders(self):
        return [n for n in os.listdir(self.tmp) if n.startswith("Restored")]

    def test_ctrl_c_or_end_of_input_at_any_question_changes_nothing(self):
        full = ["2", "doc.txt", "1", ""]
        for at in range(len(full)):
            for stop in (KeyboardInterrupt(), EOFError()):
                with self.subTest(at=at, stop=type(stop).__name__):
                    code, text, _ = self.dialogue(full[:at] + [stop])
                    self.assertEqual(code, 130)
                    self.assertIn("Stopped: nothing was changed.", text)
                    self.assertEqual(self.restored_folders(), [])

    def test_a_mistyped_path_is_asked_again_with_the_closest_names(self):
        code, text, prompts = self.dialogue(["", "sub/kep.txt", "dco.txt", "sub/keep.txt", "1", "y"])
        self.assertEqual(code, 0, text)
        self.assertIn("Did you mean: %s?" % os.path.join("sub", "keep.txt"), text)
        self.assertIn("Did you mean: doc.txt?", text)
        self.assertEqual(prompts.count("Path [everything]: "), 3)
        folder = self.restored_folders()
        self.assertEqual(len(folder), 1)
        self.assertEqual(self.read(self.path(folder[0], "sub", "keep.txt")), "same in every snapshot")

    def test_a_path_outside_the_source_is_asked_again(self):
        code, text, _ = self.dialogue(["", self.path("elsewhere.txt"), "", "1", "n"])
        self.assertEqual(code, 0)
        self.assertIn("That is not inside", text)
        self.assertIn("Nothing was changed.", text)
        self.assertEqual(self.restored_folders(), [])

    def test_yes_or_no_is_asked_again_on_anything_else(self):
        code, text, prompts = self.dialogue(["", "", "1", "nope", "N"])
        self.assertEqual(code, 0)
        self.assertEqual(prompts.count("Go ahead? [Y/n]: "), 2)
        self.assertIn("Type y (yes) or n (no)", text)
        self.assertEqual(self.restored_folders(), [])

    def test_another_folder_is_checked_when_it_is_typed(self):
        self.write("a file.txt", "x")
        self.write("full/x.txt", "x")
        code, text, _ = self.dialogue(["", "", "3", self.path("a file.txt"), self.path("full"),
                                       self.path("dest", "inside"), self.path("no", "such", "place"),
                                       self.path("fresh"), "y"])
        self.assertEqual(code, 0, text)
        for why in ("That is a file, not a folder", "That folder already has files in it",
                    "That is inside the backup folder itself", "does not exist"):
            self.assertIn(why, text)
        self.assertEqual(self.read(self.path("fresh", "doc.txt")), "version three")

    def test_back_where_they_were(self):
        self.write("src/doc.txt", "damaged")
        os.remove(self.path("src", "sub", "keep.txt"))
        code, text, _ = self.dialogue(["", "", "2", "y"])
        self.assertEqual(code, 0, text)
        self.assertIn("1 file there now that differs: kept beside", text)
        self.assertIn("1 file that was there and differed was kept beside", text)
        self.assertEqual(self.read(self.path("src", "doc.txt")), "version three")
        self.assertEqual(self.read(self.path("src", "sub", "keep.txt")), "same in every snapshot")
        aside = [n for n in os.listdir(self.path("src")) if n.startswith("doc.txt.before-restore-")]
        self.assertEqual(len(aside), 1)
        self.assertEqual(self.read(self.path("src", aside[0])), "damaged")

    def test_browsing_one_folder_at_a_time(self):
        code, text, _ = self.dialogue(["", "b", "2", "u", "2", "1", "1", "y"])
        self.assertEqual(code, 0, text)
        self.assertIn("In the top of the backup:", text)
        self.assertIn("In sub:", text)
        folder = self.restored_folders()
        self.assertEqual(os.listdir(self.path(folder[0])), ["sub"])

    def test_ctrl_c_while_restoring_stops_and_says_what_was_restored(self):
        stop = threading.Event()
        stop.set()  # as if Ctrl+C came at once
        code, text, _ = self.dialogue(["", "", "1", "y"], stop=stop)
        self.assertEqual(code, 130)
        self.assertIn("Stopped on request: 0 files restored", text)


def _wait_until_reading(pid, timeout=10):
    """Until process ``pid`` waits in read(), as a person's Ctrl+C finds it.
    (A SIGINT that comes after the prompt is written but before the read
    starts waits in Python until the read returns: a person never types
    that fast.) Linux: /proc/PID/syscall; elsewhere half a second."""
    read_calls = {"0", "63"}  # read() on x86_64, on aarch64
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                if f.read().split(" ", 1)[0] in read_calls:
                    return
        except OSError:
            time.sleep(0.5)
            return
        time.sleep(0.01)


def _own_terminal():
    """In the child: a session of its own whose controlling terminal is the
    pseudo-terminal on stdin, so Ctrl+C typed there sends it SIGINT, as a
    console window does."""
    import fcntl
    import termios
    # As a background job of a shell starts it (CI did): Ctrl+C ignored. The dialogue must still stop on it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@unittest.skipUnless(POSIX and hasattr(os, "openpty"), "needs a pseudo-terminal")
class TerminalTest(RestoreBase):
    """restore.bat's dialogue as a person meets it, through a real terminal."""

    def converse(self, answers, timeout=90):
        """Answer each (prompt, bytes) as the prompt appears; returns (exit code, screen, answers left)."""
        import pty
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", self.config.path,
                                 "--restore", "--interactive"], stdin=slave, stdout=slave, stderr=slave,
                                cwd=self.tmp, preexec_fn=_own_terminal)
        os.close(slave)
        seen, screen = b"", b""
        answers = list(answers)
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                ready, _, _ = select.select([master], [], [], 1)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                screen += chunk
                while answers and answers[0][0] in seen:
                    prompt, answer = answers.pop(0)
                    seen = seen.split(prompt, 1)[1]
                    if answer in (b"\x03", b"\x04"):
                        _wait_until_reading(proc.pid)
                    os.write(master, answer)
        finally:
            try:
                proc.wait(30)  # before the terminal is closed: that would end it with SIGHUP (a loaded machine)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
            os.close(master)
        return proc.returncode, screen.decode(errors="replace"), answers

    def test_the_whole_dialogue(self):
        code, screen, left = self.converse([(b"Copy [1]", b"4\n"), (b"Path [everything]", b"doc.txt\n"),
                                            (b"Where [1]", b"3\n"), (b"Folder:", self.path("guided").encode() + b"\n"),
                                            (b"Go ahead?", b"\n")])
        self.assertEqual((code, left), (0, []), screen)
        self.assertIn("Restored 1 file", screen)
        self.assertEqual(self.read(self.path("guided", "doc.txt")), "version 1")

    def test_ctrl_c_at_a_question_ends_it_at_once(self):
        code, screen, left = self.converse([(b"Copy [1]", b"\n"), (b"Path [everything]", b"\x03")])
        self.assertEqual((code, left), (130, []), screen)
        self.assertIn("Stopped: nothing was changed.", screen)
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("Restored")], [])

    def test_end_of_input_and_a_typo(self):
        code, screen, left = self.converse([(b"Copy [1]", b"\n"), (b"Path [everything]", b"dco.txt\n"),
                                            (b"Did you mean: doc.txt?", b"\x04")])
        self.assertEqual((code, left), (130, []), screen)
        self.assertIn("Stopped: nothing was changed.", screen)


if __name__ == "__main__":
    unittest.main()
