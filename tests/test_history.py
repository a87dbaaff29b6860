import json
import os
import subprocess
import sys
import textwrap
import unittest

from task_runner.fs import osutil
from task_runner.errors import HistoryError
from task_runner.history import History
from task_runner.history.records import last_run, run_time
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task

WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from task_runner.history import History
    h = History(sys.argv[2], limit=1000)
    for i in range(int(sys.argv[4])):
        rec = h.start_run(sys.argv[3], "manual", "2026-11-27T10:00:00+00:00")
        h.finish_run(rec["id"], status="success", finished="2026-11-27T10:00:01+00:00")
""")


class HistoryTest(TempDirTestCase):
    def setUp(self):
        super(HistoryTest, self).setUp()
        self.file = self.path("executed_tasks.json")
        self.history = History(self.file, limit=3, clock=lambda: 1795000000)

    def test_start_and_finish(self):
        rec = self.history.start_run("T", "manual", "2026-11-27T10:00:00+00:00",
                                     scheduled_for="2026-11-01T23:56:00+00:00")
        self.assertEqual(rec["status"], "running")
        with open(self.file, encoding="utf-8") as f:
            on_disk = json.load(f)
        self.assertEqual(on_disk["version"], 1)
        self.assertEqual(on_disk["runs"][0]["status"], "running")  # written before the work
        done = self.history.finish_run(rec["id"], status="partial", finished="2026-11-27T10:00:05+00:00",
                                       errors=["e%d" % i for i in range(50)])
        self.assertEqual(done["status"], "partial")
        self.assertEqual(len(done["errors"]), 20)
        runs = self.history.runs()
        self.assertEqual(len(runs), 1)
        self.assertEqual(runs[0]["attempt"], 1)  # the first for its scheduled time
        self.assertEqual(set(runs[0]), {"id", "task", "trigger", "scheduled_for", "started", "finished", "attempt",
                                        "status", "snapshot", "files", "bytes", "message", "errors"})
        self.assertEqual(run_time(runs[0], "scheduled_for"), 1793577360)
        self.assertEqual(self.history.get(rec["id"])["status"], "partial")
        self.assertIsNone(self.history.get(999))

    def test_ids_unique_and_limit_per_task(self):
        ids = [self.history.start_run(t, "manual", "2026-11-27T10:00:00+00:00")["id"]
               for t in ("A", "B") * 5]
        self.assertEqual(len(set(ids)), 10)
        runs = self.history.runs()
        self.assertEqual([r["task"] for r in runs], ["A", "B", "A", "B", "A", "B"])
        self.assertEqual([r["id"] for r in runs], ids[4:])
        # The id counter survives trimming.
        self.assertEqual(self.history.start_run("A", "manual", "x")["id"], 11)

    def test_a_burst_of_failures_keeps_the_newest_success(self):
        # Issue 20: 100 failed attempts pushed "last success" out of the history.
        def add(task, status):
            rec = self.history.start_run(task, "manual", "2026-11-27T10:00:00+00:00")
            self.history.finish_run(rec["id"], status=status)
            return rec["id"]
        older = add("T", "success")
        newest_ok = add("T", "partial")
        other = add("U", "success")
        failed = [add("T", "failed") for _ in range(5)]
        runs = self.history.runs()
        self.assertEqual([r["id"] for r in runs], [newest_ok, other] + failed[-3:])
        self.assertNotIn(older, [r["id"] for r in runs])
        self.assertEqual(len([r for r in runs if r["task"] == "T"]), 3 + 1)  # limit + the newest success

    def test_the_last_run_of_each_latest_scheduled_time_is_kept(self):
        # Issue 20 (simulation seeds 766, 1994): with the clock set back for
        # days, an occurrence whose runs were trimmed ran, or was told
        # about, again. Limit 3: the last finished run of each of the 3
        # latest scheduled times stays, whatever came after it.
        def add(occ_day, status, trigger="schedule"):
            rec = self.history.start_run("T", trigger, "2026-11-27T10:00:00+00:00",
                                         scheduled_for="2026-11-%02dT01:30:00+00:00" % occ_day)
            self.history.finish_run(rec["id"], status=status)
            return rec["id"]
        early = add(10, "success")
        first_try = add(14, "failed")
        last_try = add(14, "failed", "retry")
        ok14 = add(17, "failed")
        ok17 = add(17, "success", "retry")
        # The clock set back: retries of an older occurrence and manual runs fill the limit.
        later = [add(12, "failed") for _ in range(2)]
        manual = self.history.start_run("T", "manual", "2026-11-27T10:00:00+00:00")["id"]
        self.history.finish_run(manual, status="failed")
        ids = [r["id"] for r in self.history.runs()]
        self.assertEqual(ids, [last_try, ok17] + later + [manual])
        self.assertNotIn(first_try, ids)  # not the last of its scheduled time
        self.assertNotIn(ok14, ids)
        self.assertNotIn(early, ids)  # not one of the 3 latest scheduled times (12, 14, 17)

    def test_each_attempt_of_a_scheduled_time_is_numbered(self):
        # Found from outside: with the history trimmed, status said "2 attempts" after 4.
        occ = "2026-11-14T01:30:00+00:00"
        for hour in range(2, 6):
            rec = self.history.start_run("T", "retry", "2026-11-14T%02d:00:00+00:00" % hour, scheduled_for=occ)
            self.history.finish_run(rec["id"], status="failed")
        for _ in range(3):
            self.history.start_run("U", "manual", "x")
        runs = [r for r in self.history.runs() if r["task"] == "T"]
        self.assertEqual([r["attempt"] for r in runs], [2, 3, 4])  # the first one trimmed out
        from task_runner.config.timestamps import parse_schedule
        from task_runner.schedule.plan import retry_state
        task = make_task("s", "d", schedule=parse_schedule("14 01:30"))
        state = retry_state(task, runs, run_time(runs[-1], "scheduled_for") + 3600, UTC, 5, 60)
        self.assertEqual(state["attempts"], 4)

    def test_a_running_record_does_not_push_out_the_last_finished_one(self):
        rec = self.history.start_run("T", "schedule", "x", scheduled_for="2026-11-14T01:30:00+00:00")
        self.history.finish_run(rec["id"], status="failed")
        for _ in range(3):
            self.history.start_run("T", "manual", "x")  # each marks the one before interrupted
        self.history.start_run("T", "retry", "x", scheduled_for="2026-11-14T01:30:00+00:00")
        self.assertIn(rec["id"], [r["id"] for r in self.history.runs()])

    def test_start_marks_stale_running_interrupted(self):
        first = self.history.start_run("T", "schedule", "2026-11-27T10:00:00+00:00")
        other = self.history.start_run("U", "schedule", "2026-11-27T10:00:00+00:00")
        self.history.start_run("T", "manual", "2026-11-27T11:00:00+00:00")
        runs = {r["id"]: r for r in self.history.runs()}
        self.assertEqual(runs[first["id"]]["status"], "interrupted")
        self.assertEqual(runs[other["id"]]["status"], "running")  # another task: untouched
        self.assertEqual(self.history.mark_interrupted("U", "2026-11-27T12:00:00+00:00", "gone"), 1)
        self.assertEqual(last_run(self.history.runs(), "U")["status"], "interrupted")

    def test_finish_after_the_file_was_replaced(self):
        rec = self.history.start_run("T", "manual", "2026-11-27T10:00:00+00:00")
        with open(self.file, "w") as f:
            f.write("{corrupt")  # found corrupt while the run went on
        with self.assertLogs("task_runner.history", "ERROR"):
            done = self.history.finish_run(rec["id"], rec, status="success")
        self.assertEqual((done["task"], done["status"], done["started"]), ("T", "success", rec["started"]))
        runs = self.history.runs()  # and the file is valid history, not "corrupt" again
        self.assertEqual([(r["id"], r["task"]) for r in runs], [(rec["id"], "T")])
        self.assertGreater(self.history.start_run("T", "manual", "x")["id"], rec["id"])

    def test_skipped_record(self):
        rec = self.history.add_skipped("T", "missed", "2026-11-27T10:00:00+00:00",
                                       "2026-11-01T23:56:00+00:00", "too old")
        self.assertEqual((rec["status"], rec["scheduled_for"]), ("skipped", "2026-11-01T23:56:00+00:00"))

    def test_corrupt_file_is_moved_aside(self):
        for content in ("{not json", '{"runs": "nope"}', "[1, 2]"):
            with self.subTest(content=content):
                with open(self.file, "w") as f:
                    f.write(content)
                with self.assertLogs("task_runner.history", "ERROR") as logs:
                    self.assertEqual(self.history.runs(), [])
                self.assertIn("moved it to", logs.output[0])
                aside = [n for n in os.listdir(self.tmp) if ".corrupt-" in n]
                self.assertTrue(aside)
                for name in aside:
                    with open(self.path(name)) as f:
                        self.assertEqual(f.read(), content)  # nothing lost
                    os.remove(self.path(name))
                self.history.start_run("T", "manual", "x")
                self.assertEqual(len(self.history.runs()), 1)
                os.remove(self.file)

    def test_failed_replace_keeps_old_file(self):
        self.history.start_run("T", "manual", "old")
        with open(self.file, "rb") as f:
            before = f.read()
        original = osutil.replace_file

        def broken(src, dst):
            raise OSError(28, "No space left on device")
        osutil.replace_file = broken
        try:
            with self.assertRaises(HistoryError):
                self.history.start_run("T", "manual", "new")
        finally:
            osutil.replace_file = original
        with open(self.file, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp-" in n], [])

    def test_concurrent_writers_lose_nothing(self):
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, ROOT, self.file, "task%d" % i, "15"])
                 for i in range(4)]
        for p in procs:
            self.assertEqual(p.wait(timeout=60), 0)
        runs = History(self.file, limit=1000).runs()
        self.assertEqual(len(runs), 60)
        self.assertEqual(len({r["id"] for r in runs}), 60)
        self.assertTrue(all(r["status"] == "success" for r in runs))


if __name__ == "__main__":
    unittest.main()
