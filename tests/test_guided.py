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

from task_runner.commands import _guided as guided
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


class FolderAnswerTest(unittest.TestCase):
    # (Windows: with its drive; Python 3.13 no longer counts "\home\me" as absolute there.)
    ROOT = "C:" + os.sep if os.name == "nt" else os.sep
    HOME = os.path.join(ROOT, "home", "me")

    def test_a_typed_folder(self):
        os.environ.setdefault("TASK_RUNNER_TEST_SET", "set-value")  # a variable this process has
        value = os.environ["TASK_RUNNER_TEST_SET"]
        home = self.HOME
        for answer, want in [("~/Restored-test", (os.path.join(home, "Restored-test"), False)),
                             ("~", (home, False)),
                             ("Restored-test", (os.path.join(home, "Restored-test"), True)),
                             ('"sub/dir"', (os.path.join(home, "sub", "dir"), True)),
                             (os.path.join(self.ROOT, "tmp", "x"), (os.path.join(self.ROOT, "tmp", "x"), False)),
                             ("$TASK_RUNNER_TEST_SET/r", (os.path.join(home, value, "r"), True)),
                             ("nope", (os.path.join(home, "nope"), True))]:
            with self.subTest(answer=answer):
                path, from_home, why = guided.folder_answer(answer, home, windows=os.name == "nt")
                self.assertIsNone(why)
                self.assertEqual((path, from_home), want)

    def test_what_is_not_a_folder(self):
        for answer, fragment in [("n", "reads as an answer"), ("Y", "reads as an answer"),
                                 (" no ", "reads as an answer"),
                                 ("", "a folder is needed"), ("$TASK_RUNNER_NEVER_SET/x", "is not set here"),
                                 ("D:/Restored", "is a Windows path")]:
            with self.subTest(answer=answer):
                path, _, why = guided.folder_answer(answer, self.HOME, windows=False)
                self.assertIsNone(path)
                self.assertIn(fragment, why)

    def test_a_copy_is_named_by_its_date_and_time(self):
        self.assertEqual(guided.copy_time("2026-12-06_19-36-05"), "2026-12-06 19:36:05")
        self.assertEqual(guided.copy_time("2026-12-06_19-36-05_2.zip"), "2026-12-06 19:36:05 (#2)")


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
        code, text, prompts = self.dialogue(["", "", "1", "nope", "", "N"])
        self.assertEqual(code, 0)
        self.assertEqual(prompts.count("Go ahead? [y/n]: "), 3)  # Enter alone is no answer: asked again
        self.assertIn("Type y (yes) or n (no).", text)
        self.assertEqual(self.restored_folders(), [])

    def test_another_folder_is_checked_when_it_is_typed(self):
        self.write("a file.txt", "x")
        self.write("full/x.txt", "x")
        code, text, _ = self.dialogue(["", "", "3", self.path("a file.txt"), self.path("full"),
                                       self.path("dest", "inside"), self.path("no", "such", "place"), "n", "y",
                                       self.path("fresh"), "y"])
        self.assertEqual(code, 0, text)
        for why in ("That is a file, not a folder", "That folder already has files in it",
                    "That is inside the backup folder itself", "does not exist", '"n" reads as an answer',
                    '"y" reads as an answer'):
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
        aside = [n for n in os.listdir(self.path("src")) if n.startswith("doc.before-restore-") and n.endswith(".txt")]
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

    def test_a_stop_while_restoring_is_logged(self):
        stop = threading.Event()
        stop.set()
        with self.assertLogs("task_runner", "WARNING") as logged:
            code, _, _ = self.dialogue(["", "", "1", "y"], stop=stop)
        self.assertEqual(code, 130)
        self.assertIn("the guided restore from 2026-11-04_10-00-00 stopped on request: 0 files restored",
                      "\n".join(logged.output))

    def test_the_last_question_names_the_copy_by_date_and_time(self):
        code, text, _ = self.dialogue(["3", "", "1", "n"])
        self.assertEqual(code, 0, text)
        self.assertIn("  2. 2026-11-03 10:00:00  success", text)
        self.assertIn("from the copy of 2026-11-02 10:00:00 into", text)

    def test_one_file_already_the_same(self):
        os.remove(self.path("src", "sub", "keep.txt"))
        code, text, _ = self.dialogue(["", "", "2", "n"])
        self.assertEqual(code, 0, text)
        self.assertIn("1 file already the same: left as it is", text)

    def test_a_single_choice_is_not_a_range(self):
        self.config = self.make_config(tasks=[{"name": "One", "src": "src", "dest": "dest1"}])
        self.task = self.config.tasks[0]
        self.run_at("2026-11-05T10:00:00+00:00")
        code, text, _ = self.dialogue(["2", "", "", "1", "n"])
        self.assertEqual(code, 0, text)
        self.assertIn("Type 1, or press Enter for 1.", text)
        self.assertNotIn("from 1 to 1", text)


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

    def converse(self, answers, timeout=90, env=None):
        """Answer each (prompt, bytes) as the prompt appears; returns (exit code, screen, answers left)."""
        import pty
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", self.config.path,
                                 "--restore", "--interactive"], stdin=slave, stdout=slave, stderr=slave,
                                cwd=self.tmp, preexec_fn=_own_terminal, env=env)
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
                                            (b"Go ahead? [y/n]", b"\n"), (b"Type y (yes) or n (no).", b"y\n")])
        self.assertEqual((code, left), (0, []), screen)
        self.assertIn("from the copy of 2026-11-01 10:00:00 into", screen)
        self.assertIn("\rrestoring: ", screen)  # its progress, on one line redrawn
        self.assertIn("Restored 1 file", screen)
        self.assertEqual(self.read(self.path("guided", "doc.txt")), "version 1")

    def test_another_folder_as_people_type_it(self):
        home = self.path("home")
        os.makedirs(home)
        env = dict(os.environ, HOME=home, RESTORE_HERE=home)
        code, screen, left = self.converse([(b"Copy [1]", b"\n"), (b"Path [everything]", b"\n"), (b"Where [1]", b"3\n"),
                                            (b"Folder:", b"n\n"), (b"reads as an answer", b"~/Restored-test\n"),
                                            (b"Go ahead?", b"n\n")], env=env)
        self.assertEqual((code, left), (0, []), screen)
        self.assertIn("into %s:" % os.path.join(home, "Restored-test"), screen)
        code, screen, left = self.converse([(b"Copy [1]", b"\n"), (b"Path [everything]", b"\n"), (b"Where [1]", b"3\n"),
                                            (b"Folder:", b"Restored-test\n"), (b"Go ahead?", b"y\n")], env=env)
        self.assertEqual((code, left), (0, []), screen)
        self.assertIn("That is %s, in your home folder." % os.path.join(home, "Restored-test"), screen)
        self.assertEqual(self.read(os.path.join(home, "Restored-test", "doc.txt")), "version three")
        code, screen, left = self.converse([(b"Copy [1]", b"\n"), (b"Path [everything]", b"\n"), (b"Where [1]", b"3\n"),
                                            (b"Folder:", b"$RESTORE_HERE/second\n"), (b"Go ahead?", b"y\n")], env=env)
        self.assertEqual((code, left), (0, []), screen)
        self.assertEqual(self.read(os.path.join(home, "second", "doc.txt")), "version three")
        self.assertFalse(os.path.exists(self.path("~")))  # not a folder named ~ where the program ran

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
