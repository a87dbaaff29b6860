"""What the commands say: a time typed as the program shows it, versions
with its words in either order, each message printed once, a progress line
whose rate goes with the bytes it counts, and the smaller texts."""

import contextlib
import io
import os
import subprocess
import sys
import unittest

from task_runner.snapshots import catalog
from task_runner import console
from task_runner.commands import _restoring as restore_cli
from task_runner.fs import osutil
from task_runner.errors import UsageError
from tests.helpers import ROOT
from tests.test_restore import RestoreBase


def _backup_now(config, *words):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", config.path]
                          + list(words), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


class SnapshotTimeTest(unittest.TestCase):
    NAMES = ["2026-12-06_19-36-05", "2026-12-06_19-36-05_2", "2026-12-06_19-40-00"]

    def test_a_time_as_status_shows_it_means_the_end_of_that_minute(self):
        for spec, want in [("2026-12-06 19:36", "2026-12-06_19-36-05_2"), ("2026-12-06_19-36", "2026-12-06_19-36-05_2"),
                           ("2026-12-06 19:39", "2026-12-06_19-36-05_2"), ("2026-12-06 19:40", "2026-12-06_19-40-00"),
                           ("2026-12-06 19:36 (+00:00)", "2026-12-06_19-36-05_2"),
                           ("2026-12-06 19:36:05", "2026-12-06_19-36-05_2"), ("2026-12-06", "2026-12-06_19-40-00")]:
            with self.subTest(spec=spec):
                self.assertEqual(catalog.choose_among(self.NAMES, spec, "T", "dest"), want)

    def test_before_the_oldest_names_it_as_a_time(self):
        for spec in ("2026-12-06 19:35", "2026-12-06 19:36:04"):
            with self.subTest(spec=spec):
                with self.assertRaises(UsageError) as ctx:
                    catalog.choose_among(self.NAMES, spec, "T", "dest")
                self.assertIn("the oldest is from 2026-12-06 19:36:05", str(ctx.exception))


class VersionsWordsTest(RestoreBase):
    def setUp(self):
        super(VersionsWordsTest, self).setUp()
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest"},
                                              {"name": "Other", "src": "src2", "dest": "dest2", "default": True}])

    def versions(self, *words):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            path, names = restore_cli.versions_words(self.config, list(words))
            code = restore_cli.print_versions(self.config, path, names)
        return code, out.getvalue()

    def test_the_task_before_or_after_the_path(self):
        code, out, err = _backup_now(self.config, "versions", "T", "doc.txt")  # the program, once
        self.assertEqual(code, 0, out + err)
        self.assertIn("doc.txt in T: 3 versions, newest first", out)
        for words in (["doc.txt", "T"], ["T", "doc.txt"], ["t", "doc.txt"]):
            with self.subTest(words=words):
                code, out = self.versions(*words)
                self.assertEqual(code, 0, out)
                self.assertIn("doc.txt in T: 3 versions, newest first", out)

    def test_a_mistyped_path_gets_the_closest_names(self):
        code, out = self.versions("T", "sub/kep.txt")
        self.assertEqual(code, 1, out)
        self.assertIn("is in no snapshot of T (did you mean %s?)" % os.path.join("sub", "keep.txt"), out)
        code, out = self.versions("dco.txt", "T")
        self.assertIn("(did you mean doc.txt?)", out)


class OnceTest(RestoreBase):
    def test_a_restore_says_its_summary_once(self):
        code, out, err = _backup_now(self.config, "restore", "--to", self.path("out"))
        self.assertEqual(code, 0, out + err)
        self.assertEqual((out + err).count("restored 1 file") + (out + err).count("restored 2 files"), 1, out + err)
        self.assertNotIn("worker", err)  # how many workers: the log's business
        with open(self.config.log.file) as f:
            self.assertIn("restored 2 files", f.read())  # the log keeps it


class SmallTextsTest(RestoreBase):
    def test_examples_show_paths_of_this_system(self):
        code, out, err = _backup_now(self.config, "restore")
        self.assertEqual(code, 2, out + err)
        self.assertIn("such as backup_now.py restore --to %s" % ("D:/Restored" if osutil.WINDOWS else "~/Restored"),
                      err)
        from task_runner.commands import check, restore as restore_verb, run, versions
        for verb in (restore_verb, versions, check, run):
            with self.subTest(verb=verb.NAME):
                self.assertEqual(osutil.WINDOWS, any(":/" in e for e in verb.EXAMPLES), verb.EXAMPLES)

    def test_the_servers_help_ends_with_its_examples(self):
        import http_server
        text = http_server._parser().format_help()
        self.assertIn("watched and started from anywhere.", text)
        self.assertNotIn("anywhere:", text)  # no sentence left dangling before the options
        self.assertTrue(text.rstrip().endswith("http://HOST:PORT/trigger"), text)


class _Stats(object):
    def __init__(self, files, copied, linked, done, copied_bytes):
        self.files, self.copied, self.linked, self.bytes, self.bytes_copied = files, copied, linked, done, copied_bytes


class RestoreProgressTest(unittest.TestCase):
    def test_the_time_shown_is_the_restores_not_the_questions(self):
        """Found from outside: the guided restore's line said 0:31 for a
        restore of a moment, the 31 s spent answering its questions before."""
        from task_runner.commands._restoring import RestoreProgress

        class Restorer(object):
            files, bytes = 1, 24
        times = iter([0.0, 31.0, 31.5])
        stream = io.StringIO()
        RestoreProgress(console.ProgressLine(stream, clock=lambda: next(times)))(Restorer(), "Letters/cv.txt")
        self.assertEqual(stream.getvalue().strip("\r").rstrip(), "restoring: 1 file (24 bytes), 0:00  in Letters")


class ProgressLineTest(unittest.TestCase):
    def line(self, stats, seconds):
        times = iter([0.0, seconds])
        stream = io.StringIO()
        console.ProgressLine(stream, clock=lambda: next(times))(stats, "a/b.txt")
        return stream.getvalue().strip("\r").rstrip()

    def test_the_rate_goes_with_the_bytes_copied(self):
        text = self.line(_Stats(9, 1, 8, 347852, 12), 1.1)  # as cut to a terminal's width
        self.assertNotIn("339.7 KiB, 10 bytes/s", text)
        self.assertIn("339.7 KiB (12 bytes copied at 10 bytes/s)", text)
        self.assertEqual(console.progress_text(_Stats(120, 1, 119, 347852, 12), 1.1, "a/b.txt"),
                         "120 files (1 copied, 119 linked), 339.7 KiB (12 bytes copied at 10 bytes/s), "
                         "0:01  a/b.txt")
        self.assertEqual(self.line(_Stats(2, 2, 0, 2048, 2048), 2.0),
                         "2 files (2 copied, 0 linked), 2.0 KiB at 1.0 KiB/s, 0:02  a/b.txt")


if __name__ == "__main__":
    unittest.main()
