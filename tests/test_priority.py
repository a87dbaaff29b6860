"""Low priority: only the thread that copies gives way, and only while it copies."""

import os
import sys
import threading
import unittest

from task_runner.fs import fileio, priority
from task_runner.runs import runner
from tests.helpers import UTC, TempDirTestCase, ts

LINUX = sys.platform.startswith("linux")


def current_priority():
    """This thread's priority as the OS reports it."""
    if os.name == "nt":
        import ctypes
        kernel32 = ctypes.WinDLL("kernel32")
        return kernel32.GetThreadPriority(kernel32.GetCurrentThread())
    tid = priority.thread_id()
    if LINUX:
        with open("/proc/self/task/%d/stat" % tid) as f:
            nice = int(f.read().rsplit(")", 1)[1].split()[16])
        return nice, priority.io_priority(tid)
    return os.getpriority(os.PRIO_PROCESS, 0), None


class RecordingOps(fileio.Ops):
    def __init__(self):
        self.seen = []

    def open_read(self, path):
        self.seen.append((threading.current_thread().name, current_priority()))
        return fileio.Ops.open_read(path)


class PriorityTest(TempDirTestCase):
    def setUp(self):
        super(PriorityTest, self).setUp()
        self.write("src/a", "1")
        self.runs = 0

    def run_with(self, trigger, priority=None, low_priority=None):
        tasks = [{"name": "T", "src": "src", "dest": "dest", "incremental": False}]
        if priority:
            tasks[0]["priority"] = priority
        config = self.make_config(tasks=tasks)
        ops = RecordingOps()
        before = current_priority()
        self.runs += 1  # each run its own second: its own snapshot name
        when = ts("2026-11-27T10:00:00+00:00") + self.runs
        outcome = runner.run_task(config, config.tasks[0], trigger, clock=lambda: when, zone=UTC, ops=ops,
                                  low_priority=low_priority)
        self.assertEqual(outcome.status, "success")
        self.assertEqual(current_priority(), before, "the calling thread's priority changed")
        (thread, during), = ops.seen
        return before, thread, during

    def assert_low(self, before, during):
        if os.name == "nt":
            self.assertLessEqual(during, before)  # Wine may refuse background mode: never higher
        elif LINUX:
            self.assertEqual(during[0], 19)
            if before[1] is not None:
                self.assertEqual(during[1], (priority.IOPRIO_CLASS_IDLE, 0))
        else:
            self.assertGreater(during[0], before[0])

    def test_scheduled_runs_are_low_by_default(self):
        for trigger in ("schedule", "missed", "retry"):
            with self.subTest(trigger=trigger):
                before, thread, during = self.run_with(trigger)
                self.assertNotEqual(thread, threading.current_thread().name)  # a copy thread of its own
                self.assert_low(before, during)

    def test_manual_runs_are_normal_unless_asked(self):
        before, thread, during = self.run_with("manual")
        self.assertEqual((thread, during), (threading.current_thread().name, before))
        before, thread, during = self.run_with("http")
        self.assertEqual(during, before)
        before, thread, during = self.run_with("manual", low_priority=True)
        self.assert_low(before, during)

    def test_priority_normal_keeps_scheduled_runs_normal(self):
        before, thread, during = self.run_with("schedule", priority="normal")
        self.assertEqual(during, before)


if __name__ == "__main__":
    unittest.main()


class NoLogTest(unittest.TestCase):
    def test_without_a_log_it_still_works_where_the_call_is_refused(self):
        """The pool's workers pass no log; where lowering is refused (Wine)
        the DEBUG line went to None and killed every worker."""
        failures = []

        def work():
            try:
                with priority.background_priority(None):
                    pass
            except Exception as exc:
                failures.append(exc)
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(10)
        self.assertEqual(failures, [])
