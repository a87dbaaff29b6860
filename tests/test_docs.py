"""Every command the docs show is run: the command lines of README.md's and
docs/*.md's code blocks, and their inline code that names a program
without placeholders, against a sandbox config in a temporary folder
(Windows paths such as D:/Restored mapped into it). A usage error or a
traceback fails the test, so a doc cannot promise a command that does not
parse. Commands that would run for ever (the scheduler, the server) or
change the machine (start-up entries) are parsed, not run."""

import glob
import os
import re
import shlex
import subprocess
import sys
import unittest

import http_server
from task_runner.runs.runner import run_task
from tests.helpers import ROOT, TempDirTestCase, ts

PROGRAMS = {"backup_now": "backup_now.py", "scheduled_task_runner": "scheduled_task_runner.py",
            "http_server": "http_server.py", "restore": "backup_now.py"}
_COMMAND = re.compile(r"^(?:python3? )?(backup_now|scheduled_task_runner|http_server|restore)\.(?:py|bat)\b(.*)$")
_PLACEHOLDER = re.compile(r"\[|\||\.\.\.|\b[A-Z]{3,}\b(?!\")|<")
_USAGE = ("usage:", "unrecognized arguments", "goes with", "is not an option of", "are two jobs", "takes no word",
          "invalid choice", "expected one argument")


def doc_commands():
    """(file, line) of every command line the docs show."""
    found = []
    for path in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            for line in block.splitlines():
                command = re.split(r"\s{2,}", line.strip())[0]  # a description may follow after 2 spaces
                if _COMMAND.match(command) and not _PLACEHOLDER.search(command.split(" ", 1)[-1]):
                    found.append((os.path.basename(path), command))
        for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
            if _COMMAND.match(span) and not _PLACEHOLDER.search(span.split(" ", 1)[-1]):
                found.append((os.path.basename(path), span))
    return found


class DocsTest(TempDirTestCase):
    def setUp(self):
        super(DocsTest, self).setUp()
        self.config = self.make_config(tasks=[
            {"name": "MD1", "src": "C/Users/me", "dest": "E/backup", "timestamp": "1 23:56", "default": True,
             "keep": 3},
            {"name": "Documents", "src": "src2", "dest": "dest2"}])
        self.write("C/Users/me/Documents/cv.docx", "my cv")
        os.makedirs(self.path("E"))  # the backup drive
        for when in ("2026-11-01T10:00:00+00:00", "2026-11-02T10:00:00+00:00"):
            self.assertEqual(run_task(self.config, self.config.tasks[0], "manual", clock=lambda w=when: ts(w)).status,
                             "success")

    def sandboxed(self, words):
        """The words with Windows drive paths moved into the sandbox."""
        return [re.sub(r"^([A-Z]):/", lambda m: self.tmp.replace(os.sep, "/") + "/" + m.group(1) + "/", w)
                for w in words]

    def test_every_command_in_the_docs_runs(self):
        commands, seen = [], set()
        for path, line in doc_commands():
            key = tuple(shlex.split(line.replace(".bat", ".py").replace("python3 ", "").replace("python ", "")))
            if key not in seen:
                seen.add(key)
                commands.append((path, line))
        self.assertGreater(len(commands), 10, commands)
        for path, line in commands:
            with self.subTest(doc=path, command=line):
                program, rest = _COMMAND.match(line).groups()
                words = self.sandboxed(shlex.split(rest))
                if program == "restore":  # restore.bat is the guided restore: backup_now.py restore --interactive
                    words = ["restore", "--interactive"] + words
                self.check(program, words)

    def check(self, program, words):
        if program == "http_server" and "--new-token" not in words:
            with self.assertRaises(SystemExit) as ctx:
                http_server._parser().parse_args(words + ["--help"])
            self.assertEqual(ctx.exception.code, 0)
            if "--help" not in words:  # (a shown --help was just run)
                http_server._parser().parse_args(words)  # parses, or exits 2 and fails the test
            return
        runs_for_ever = program == "scheduled_task_runner" and [w for w in words if w != "run"] == []
        if runs_for_ever or "startup" in " ".join(words):  # the scheduler itself; a start-up entry
            return self.parse_only(words)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, PROGRAMS[program]), "--config", self.config.path]
                              + words, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              stdin=subprocess.DEVNULL, timeout=60, cwd=self.tmp)
        out = proc.stdout + proc.stderr
        self.assertNotIn("Traceback", out)
        if proc.returncode == 2:  # a usage error says so; another exit 2 (a path not there) is fine
            for sign in _USAGE:
                self.assertNotIn(sign, proc.stderr, "a usage error:\n" + out)

    def parse_only(self, words):
        import scheduled_task_runner
        scheduled_task_runner.COMMANDS.parse(words)  # a usage error fails the test


class FinderTest(unittest.TestCase):
    def test_what_counts_as_a_command(self):
        for text, is_command in [("backup_now.bat --snapshots", True), ("python3 backup_now.py restore --to D:/R", True),
                                 ("backup_now.py --prune [TASK ...]", False), ("scheduled_task_runner.py", True),
                                 ("curl -X POST http://HOST:8765/trigger", False),
                                 ('backup_now.bat "MD1"', True), ("backup_now.py --restore ... --to DIR", False)]:
            with self.subTest(text=text):
                m = _COMMAND.match(text)
                self.assertEqual(bool(m) and not _PLACEHOLDER.search(text.split(" ", 1)[-1]), is_command)


if __name__ == "__main__":
    unittest.main()
