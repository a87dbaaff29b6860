import glob
import logging
import os
import subprocess
import sys
import textwrap
import unittest

from task_runner.config import LogConfig
from task_runner.logs import SharedFileHandler, setup_logging, task_log
from tests.helpers import ROOT, TempDirTestCase

WRITER = textwrap.dedent("""
    import logging, sys
    sys.path.insert(0, sys.argv[1])
    from task_runner.config import LogConfig
    from task_runner.logs import setup_logging
    setup_logging(LogConfig(sys.argv[2], 4096, 1000, "INFO"), sys.argv[3], console=False)
    log = logging.getLogger("task_runner.test")
    for i in range(int(sys.argv[4])):
        log.info("line %d from %s", i, sys.argv[3])
""")


class LogTest(TempDirTestCase):
    def tearDown(self):
        root = logging.getLogger()
        for h in list(root.handlers):
            if isinstance(h, SharedFileHandler):
                root.removeHandler(h)
        super(LogTest, self).tearDown()

    def test_line_format_names_program_and_task(self):
        path = self.path("logs", "x.log")
        setup_logging(LogConfig(path, 1 << 20, 2, "INFO"), "backup_now", console=False)
        task_log(logging.getLogger("task_runner.t"), "MD1").warning("skipped %s", "a.txt")
        logging.getLogger("task_runner.t").debug("not at INFO")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertRegex(text, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING backup_now \[MD1\] skipped a.txt\n$")

    def test_every_line_escapes_what_it_prints(self):
        # Issue 20: a name or a value with ESC or a newline must not rewrite
        # the terminal of whoever reads the log, nor forge a line.
        path = self.path("x.log")
        setup_logging(LogConfig(path, 1 << 20, 2, "INFO"), "backup_now", console=False)
        log = task_log(logging.getLogger("task_runner.t"), "T2\x1b[31mred")
        log.info("copied %s", "a\nFAKE 2026-01-01 ERROR b\x07")
        try:
            raise ValueError("bad\x1b]0;x\x07")
        except ValueError:
            log.exception("failed")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\x07", text)
        lines = text.splitlines()
        self.assertTrue(lines[0].endswith("[T2\\x1b[31mred] copied a"), lines[0])
        self.assertEqual(lines[1], "    FAKE 2026-01-01 ERROR b\\x07")  # a continuation, not a record
        self.assertTrue(lines[2].endswith("[T2\\x1b[31mred] failed"), lines[2])
        self.assertEqual(lines[3], "    Traceback (most recent call last):")  # a traceback keeps its lines
        self.assertEqual(lines[-1], "    ValueError: bad\\x1b]0;x\\x07")
        self.assertEqual(len([l for l in lines if not l.startswith(" ")]), 2)

    def test_rotation_keeps_backup_count(self):
        path = self.path("r.log")
        handler = SharedFileHandler(path, 1024, 2)
        handler.setFormatter(logging.Formatter("%(message)s"))
        for i in range(200):
            handler.emit(logging.makeLogRecord({"msg": "%03d %s" % (i, "x" * 40)}))
        self.assertEqual(sorted(os.listdir(self.tmp)), [".locks", "r.log", "r.log.1", "r.log.2"])
        self.assertEqual(os.listdir(os.path.join(self.tmp, ".locks")), ["r.log.lock"])
        for name in ("r.log", "r.log.1", "r.log.2"):
            self.assertLessEqual(os.path.getsize(self.path(name)), 1024)
        with open(path) as f:
            self.assertTrue(f.read().rstrip().endswith("199 " + "x" * 40))

    def test_two_processes_rotating_lose_no_line(self):
        path = self.path("shared.log")
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, ROOT, path, "p%d" % i, "300"],
                                  stderr=subprocess.PIPE, universal_newlines=True) for i in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn("Traceback", err)  # no PermissionError from a rename on Windows
        lines = []
        for name in glob.glob(path + "*"):
            if name.endswith(".lock"):
                continue
            with open(name, encoding="utf-8") as f:
                lines.extend(f.read().splitlines())
        self.assertGreater(len(glob.glob(path + ".*")), 3)  # it did rotate
        for who in ("p0", "p1"):
            got = sorted(int(l.split("line ")[1].split()[0]) for l in lines if l.endswith("from " + who))
            self.assertEqual(got, list(range(300)))


if __name__ == "__main__":
    unittest.main()
