"""One command per job: each verb with its own options, the old flag
spellings as aliases, options and words in any order (on 3.6 too), and an
option of another verb refused before anything runs."""

import contextlib
import io
import os
import subprocess
import sys
import unittest

from task_runner.commands import Program, backup, prune, restore, snapshots, test_notify, verify, versions
from task_runner.errors import UsageError
from tests.helpers import ROOT, TempDirTestCase

BACKUP_NOW = Program("backup_now.py", "test", [backup, restore, snapshots, versions, prune, verify, test_notify],
                     "backup", "config.json")


class ParseTest(unittest.TestCase):
    def test_verbs_aliases_and_words_in_any_order(self):
        for argv, verb, check in [
            ([], "backup", {"tasks": []}),
            (["MD1"], "backup", {"tasks": ["MD1"]}),
            (["backup", "restore"], "backup", {"tasks": ["restore"]}),  # a task named like a verb
            (["--all", "--dry-run"], "backup", {"all": True, "dry_run": True}),
            (["restore", "MD1", "--snapshot", "2026-11-01", "Documents/cv.docx", "--to", "D:/R"], "restore",
             {"words": ["MD1", "Documents/cv.docx"], "snapshot": "2026-11-01", "to": "D:/R"}),
            (["restore", "MD1", "Documents/cv.docx", "--snapshot", "x", "--to", "D:/R"], "restore",
             {"words": ["MD1", "Documents/cv.docx"], "snapshot": "x"}),
            (["--restore", "MD1", "--snapshot", "2026-11-01", "Documents/cv.docx", "--to", "D:/R"], "restore",
             {"words": ["MD1", "Documents/cv.docx"], "to": "D:/R"}),
            (["--config", "restore", "snapshots"], "snapshots", {"config": "restore"}),
            (["snapshots", "--config", "c.json", "T"], "snapshots", {"config": "c.json", "tasks": ["T"]}),
            (["--versions", "a.txt", "T"], "versions", {"words": ["a.txt", "T"]}),
            (["--prune", "--dry-run"], "prune", {"dry_run": True}),
            (["--verify", "T", "--deep"], "verify", {"tasks": ["T"], "deep": True}),
            (["--test-notify"], "test-notify", {}),
        ]:
            with self.subTest(argv=argv):
                got_verb, args = BACKUP_NOW.parse(argv)
                self.assertEqual(got_verb, verb)
                for key, value in check.items():
                    self.assertEqual(getattr(args, key), value, key)

    def test_an_option_of_another_verb_is_refused_naming_its_verb(self):
        for argv, message in [
            (["--json"], "--json goes with snapshots: backup_now.py snapshots --json ...; it does nothing for "
                         "backup"),
            (["--to", "X"], "--to goes with restore"),
            (["--overwrite"], "--overwrite goes with restore"),
            (["--snapshot", "latest"], "--snapshot goes with restore"),
            (["--no-keep-existing"], "--no-keep-existing goes with restore"),
            (["--deep"], "--deep goes with verify"),
            (["--files", "restore", "--to", "x"], "--files goes with backup"),
            (["snapshots", "--deep"], "--deep goes with verify"),
            (["--snapshots", "--restore", "--to", "X"], "--snapshots and --restore are two jobs"),
            (["--prune", "--verify"], "--prune and --verify are two jobs"),
            (["--bogus"], "--bogus is not an option of backup_now.py backup"),
            (["test-notify", "extra"], "backup_now.py test-notify takes no word: extra"),
            (["restore", "--snapshots"], "restore and --snapshots are two jobs"),
            (["snapshots", "--restore"], "snapshots and --restore are two jobs"),
            (["snapshot"], "snapshot is not a verb of backup_now.py: did you mean snapshots?"),
            (["RESTORE"], "verbs are written in small letters: backup_now.py restore"),
            (["--deep", "restore"], "--deep goes with verify"),
            (["--dry-run", "snapshots"], "--dry-run goes with backup, restore and prune"),
        ]:
            with self.subTest(argv=argv):
                with self.assertRaises(UsageError) as ctx:
                    BACKUP_NOW.parse(argv)
                self.assertIn(message, str(ctx.exception))

    def test_a_word_is_refused_as_a_mistyped_verb_exactly_when_difflib_finds_a_verb(self):
        """The length bound that spares loading difflib for a task name
        never changes the answer: each word (near every verb, and far from
        all) is refused exactly when difflib finds a verb 0.75 like it."""
        import difflib
        import random
        rnd = random.Random(31)
        words = ["MD1", "T", "Documents", "bakup", "backups", "verfy", "prunes", "snap", "versionss", "x" * 40]
        for verb in BACKUP_NOW.order:
            for _ in range(30):
                w = list(verb)
                for _ in range(rnd.randint(0, 4)):
                    i = rnd.randrange(len(w) + 1)
                    w[i:i + rnd.randint(0, 1)] = [rnd.choice("abcdefghijklmnopqrstuvwxyz-")] * rnd.randint(0, 2)
                words.append("".join(w) or "q")
        for word in words:
            if word in BACKUP_NOW.verbs:
                continue
            expected = bool(difflib.get_close_matches(word.lower(), list(BACKUP_NOW.verbs), n=1, cutoff=0.75))
            with self.subTest(word=word):
                try:
                    BACKUP_NOW._not_a_verb(word)
                    refused = False
                except UsageError:
                    refused = True
                self.assertEqual(refused, expected)

    def test_help_without_a_verb_lists_the_verbs(self):
        self.assertTrue(BACKUP_NOW.wants_help(["--help"]))
        self.assertFalse(BACKUP_NOW.wants_help(["restore", "--help"]))
        self.assertFalse(BACKUP_NOW.wants_help(["--restore", "-h"]))
        text = BACKUP_NOW.help_text()
        for name in ("backup", "restore", "snapshots", "versions", "prune", "verify", "test-notify"):
            self.assertIn("\n  " + name, text)


class SchedulerParseTest(unittest.TestCase):
    def test_verbs_and_aliases(self):
        import scheduled_task_runner
        commands = scheduled_task_runner.COMMANDS
        for argv, verb in [([], "run"), (["run"], "run"), (["--config", "c.json"], "run"), (["check"], "check"),
                           (["--check"], "check"), (["--list", "--count", "5"], "list"), (["status", "--json"], "status"),
                           (["--once"], "once"), (["--install-startup"], "install-startup"),
                           (["uninstall-startup"], "uninstall-startup")]:
            with self.subTest(argv=argv):
                self.assertEqual(commands.parse(argv)[0], verb)
        for argv, message in [(["--count", "5"], "--count goes with list"),
                              (["--json"], "--json goes with list and status"),
                              (["--check", "--status"], "--check and --status are two jobs"),
                              (["check", "extra"], "takes no word"),
                              (["status", "--once"], "status and --once are two jobs"),
                              (["stauts"], "stauts is not a verb of scheduled_task_runner.py: did you mean status?"),
                              (["list", "--count", "100000"], None), (["list", "--count", "0"], None)]:
            with self.subTest(argv=argv):
                if message is None:  # argparse's own refusal: exit 2
                    with self.assertRaises(SystemExit) as exit_ctx, contextlib.redirect_stderr(io.StringIO()):
                        commands.parse(argv)
                    self.assertEqual(exit_ctx.exception.code, 2)
                    continue
                with self.assertRaises(UsageError) as ctx:
                    commands.parse(argv)
                self.assertIn(message, str(ctx.exception))


class ProgramTest(TempDirTestCase):
    def setUp(self):
        super(ProgramTest, self).setUp()
        self.config = self.make_config()
        self.write("src/a.txt", "one")

    def run_program(self, *args):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", self.config.path]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, stdin=subprocess.DEVNULL, timeout=60)
        self.assertNotIn("Traceback", proc.stderr)
        return proc

    def snapshots_made(self):
        return os.listdir(self.path("dest")) if os.path.isdir(self.path("dest")) else []

    def test_a_stray_flag_never_makes_a_backup(self):
        for args in (["--json"], ["--files"], ["--to", self.path("x")], ["--overwrite"], ["--snapshot", "latest"],
                     ["--no-keep-existing"], ["--snapshots", "--restore", "--to", self.path("x")],
                     ["--prune", "--verify"]):
            with self.subTest(args=args):
                proc = self.run_program(*args)
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                self.assertEqual(self.snapshots_made(), [])
                self.assertEqual(proc.stderr.count("\n"), 1, proc.stderr)  # said once

    def test_a_restore_after_dest_changed_points_to_the_former_one(self):
        # Found from outside: it only asked whether the drive was plugged in.
        self.assertEqual(self.run_program().returncode, 0)
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "new", "default": True}])
        proc = self.run_program("restore", "--to", self.path("r"))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("the backup folder %s of T was not found: is the backup drive plugged in? Its snapshots "
                      "from before \"dest\" changed are in %s: set \"dest\" back to restore from them"
                      % (self.path("new"), self.path("dest")), proc.stderr)

    @unittest.skipIf(os.name == "nt", "a newline in a file name")
    def test_a_name_with_a_newline_cannot_forge_a_line_of_a_dry_run(self):
        self.write("src/new\nline", "x")
        self.assertEqual(self.run_program().returncode, 0)
        proc = self.run_program("restore", "--to", self.path("r"), "--dry-run")
        self.assertIn("  would restore new\\x0aline\n", proc.stdout)
        self.assertNotIn("\nline", proc.stdout.replace("\\x0aline", ""))

    def test_the_readme_restore_example_runs(self):
        self.assertEqual(self.run_program().returncode, 0)
        name = self.snapshots_made()[0]
        for words in (["restore", "T", "--snapshot", name[:10], "a.txt", "--to", self.path("r1")],
                      ["--restore", "T", "--snapshot", name[:10], "a.txt", "--to", self.path("r2")],
                      ["restore", "T", "a.txt", "--snapshot", name[:10], "--to", self.path("r3")]):
            with self.subTest(words=words):
                proc = self.run_program(*words)
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertTrue(os.path.isfile(os.path.join(words[-1], "a.txt")))

    def test_messages_are_said_once(self):
        proc = self.run_program("nosuch")
        self.assertEqual(proc.returncode, 2)
        self.assertEqual((proc.stdout + proc.stderr).count('no task named "nosuch"'), 1, proc.stdout + proc.stderr)

    def test_each_verb_has_its_help_with_examples(self):
        for verb in ("backup", "restore", "snapshots", "versions", "prune", "verify", "test-notify"):
            with self.subTest(verb=verb):
                proc = self.run_program(verb, "--help")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("usage: backup_now.py %s" % verb, proc.stdout)
                self.assertIn("examples:", proc.stdout)
        proc = self.run_program("--help")
        self.assertIn("verbs:", proc.stdout)


if __name__ == "__main__":
    unittest.main()
