import os
import threading
import unittest

from task_runner.runs import locks, runner
from task_runner import console
from task_runner.history import History
from tests.helpers import UTC, FakeClock, TempDirTestCase, ts

T0 = ts("2026-11-27T10:00:00+00:00")


class TextTest(unittest.TestCase):
    def test_human_bytes(self):
        for n, text in [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1.0 KiB"),
                        (5 * 1024 ** 3, "5.0 GiB"), (3 * 1024 ** 5, "3072.0 TiB")]:
            with self.subTest(n=n):
                self.assertEqual(console.human_bytes(n), text)


class RunTaskTest(TempDirTestCase):
    def setUp(self):
        super(RunTaskTest, self).setUp()
        self.config = self.make_config()
        self.task = self.config.tasks[0]
        self.clock = FakeClock(T0)
        self.write("src/a.txt", "hello")

    def run_task(self, trigger="manual", **kw):
        kw.setdefault("clock", self.clock)
        return runner.run_task(self.config, self.task, trigger, zone=UTC, **kw)

    def runs(self):
        return History.for_config(self.config).runs()

    def test_success_is_recorded(self):
        out = self.run_task("schedule", scheduled_for=ts("2026-11-01T23:56:00+00:00"))
        self.assertEqual((out.status, out.exit_code), ("success", 0))
        rec, = self.runs()
        self.assertEqual(rec["status"], "success")
        self.assertEqual(rec["trigger"], "schedule")
        self.assertEqual(rec["scheduled_for"], "2026-11-01T23:56:00+00:00")
        self.assertEqual(rec["started"], "2026-11-27T10:00:00+00:00")
        self.assertEqual(rec["snapshot"], self.path("dest", "2026-11-27_10-00-00"))
        self.assertEqual((rec["files"], rec["bytes"]), (1, 5))
        self.assertEqual(out.record["id"], rec["id"])

    def test_failure_is_recorded_with_reason(self):
        os.rename(self.path("src"), self.path("src-moved"))
        out = self.run_task()
        self.assertEqual((out.status, out.exit_code), ("failed", 1))
        self.assertIn("not found", self.runs()[0]["message"])

    @unittest.skipIf(os.name == "nt", "chmod 0 does not make a file unreadable on Windows (test_windows "
                     "locks one instead)")
    def test_partial(self):
        self.write("src/locked", "x")
        os.chmod(self.path("src/locked"), 0)
        out = self.as_unprivileged(self.run_task)
        self.assertEqual((out.status, out.exit_code), ("partial", 3))
        self.assertEqual(self.runs()[0]["errors"], ["locked: permission denied"])

    def test_already_running_in_another_holder(self):
        holder = locks.task_lock(self.config, self.task.name)
        self.assertTrue(holder.acquire(timeout=0))
        try:
            History.for_config(self.config).start_run("T", "schedule", "2026-11-27T09:59:00+00:00")
            out = self.run_task()
        finally:
            holder.release()
        self.assertEqual((out.status, out.exit_code), (runner.ALREADY_RUNNING, 4))
        self.assertEqual(out.run_id, 1)
        self.assertEqual(len(self.runs()), 1)  # nothing recorded for the refused start

    def test_interrupted(self):
        stop = threading.Event()
        stop.set()
        out = self.run_task(stop_event=stop)
        self.assertEqual((out.status, out.exit_code), ("interrupted", 130))
        self.assertEqual(self.runs()[0]["status"], "interrupted")
        self.assertEqual(os.listdir(self.path("dest")), [])

    def test_internal_error_never_leaves_running(self):
        real = runner.engine.make_snapshot

        def boom(*a, **kw):
            raise ZeroDivisionError("bug")
        runner.engine.make_snapshot = boom
        try:
            with self.assertLogs("task_runner.runs.runner", "ERROR"):
                out = self.run_task()
        finally:
            runner.engine.make_snapshot = real
        self.assertEqual(out.status, "failed")
        self.assertIn("internal error: ZeroDivisionError", self.runs()[0]["message"])

    def test_stale_running_record_is_reaped(self):
        history = History.for_config(self.config)
        history.start_run("T", "schedule", "2026-11-27T09:00:00+00:00")
        self.assertEqual(runner.reap_stale_runs(self.config, history, history.runs(), self.clock, UTC), 1)
        self.assertEqual(history.runs()[0]["status"], "interrupted")
        # A held lock means the run is alive: not reaped.
        history.start_run("T", "schedule", "2026-11-27T09:30:00+00:00")
        with locks.task_lock(self.config, "T"):
            self.assertEqual(runner.reap_stale_runs(self.config, history, history.runs(), self.clock, UTC), 0)


if __name__ == "__main__":
    unittest.main()
