import json
import os
import threading
import unittest

from task_runner import console
from task_runner.schedule.daemon import Daemon
from task_runner.history import History
from task_runner.runs.runner import run_task
from task_runner.clock import LOCAL, format_local, short_time
from tests.helpers import UTC, FakeClock, TempDirTestCase, TZMixin, ts

OCC = ts("2026-12-01T23:56:00+00:00")
DAY = 86400


class DaemonTest(TZMixin, TempDirTestCase):
    def setUp(self):
        super(DaemonTest, self).setUp()
        self.stop = threading.Event()

    def daemon(self, config, start, until, zone=UTC, **kw):
        self.clock = FakeClock(start, until, self.stop)
        return Daemon(config, clock=self.clock, wait=self.clock.wait, stop_event=self.stop, zone=zone, **kw)

    def runs(self, config):
        return History.for_config(config).runs()

    def known_since(self, config, text="2026-10-01T00:00:00+00:00"):
        """The scheduler saw the tasks first at ``text`` (an older task, not a new one)."""
        History.for_config(config).first_seen([t.name for t in config.tasks], text)

    def seed_success(self, config, when, zone=UTC):
        """A manual run at ``when`` (so earlier occurrences are satisfied)."""
        out = run_task(config, config.tasks[0], "manual", clock=lambda: when, zone=zone)
        self.assertEqual(out.status, "success")

    def test_catches_up_missed_run_at_start_up(self):
        config = self.make_config()
        self.known_since(config)
        self.write("src/a", "1")
        self.daemon(config, ts("2026-11-03T09:00:00+00:00"), ts("2026-11-03T09:10:00+00:00")).run()
        runs = self.runs(config)
        self.assertEqual([(r["trigger"], r["status"]) for r in runs], [("missed", "success")])
        self.assertEqual(runs[0]["scheduled_for"], "2026-11-01T23:56:00+00:00")
        self.assertTrue(os.path.isdir(self.path("dest", "2026-11-03_09-00-00")))

    def test_a_run_dated_in_the_future_does_not_silence_the_schedule(self):
        config = self.make_config()
        self.write("src/a", "1")
        # Recorded while the hardware clock read 2030, since corrected.
        self.seed_success(config, ts("2030-01-01T09:00:00+00:00"))
        with self.assertLogs("task_runner.schedule.daemon", "WARNING") as logs:
            self.daemon(config, ts("2026-11-30T09:00:00+00:00"), OCC + 600).run()
        runs = self.runs(config)
        self.assertEqual([(r["trigger"], r["status"]) for r in runs],
                         [("manual", "success"), ("missed", "skipped"), ("schedule", "success")])
        future = [line for line in logs.output if "started after now" in line]
        self.assertEqual(len(future), 1, logs.output)  # once, not on every pass
        self.assertIn("the history holds 1 run(s) that started after now (the newest at "
                      "2030-01-01T09:00:00+00:00)", future[0])

    def test_a_paused_task_never_runs_and_resumes_without_a_flood(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timestamp": "12:00",
                                          "enabled": False}])
        self.write("src/a", "1")
        self.daemon(config, ts("2026-11-20T09:00:00+00:00"), ts("2026-11-27T09:00:00+00:00")).run()
        self.assertEqual(self.runs(config), [])  # a week of occurrences: no run, no skipped record
        resumed = config._replace(tasks=(config.tasks[0]._replace(enabled=True),))
        self.stop.clear()
        self.daemon(resumed, ts("2026-11-27T09:00:00+00:00"), ts("2026-11-27T09:05:00+00:00")).run()
        # Re-enabled: only the newest occurrence is caught up, once.
        self.assertEqual([(r["trigger"], r["status"], r["scheduled_for"]) for r in self.runs(config)],
                         [("missed", "success", "2026-11-26T12:00:00+00:00")])

    def test_lock_files_of_removed_tasks_are_deleted_at_start_up(self):
        from task_runner.runs.locks import task_lock
        config = self.make_config()
        os.makedirs(config.lock_dir)
        old = os.path.join(config.lock_dir, "task-Gone-0123456789ab.lock")
        open(old, "w").close()
        old_upload = os.path.join(config.lock_dir, "offsite-Gone-0123456789ab.lock")
        open(old_upload, "w").close()
        held = task_lock(config._replace(tasks=()), "Busy elsewhere")  # a removed task still running
        self.assertTrue(held.acquire(timeout=0))
        try:
            current = task_lock(config, "T")
            self.assertTrue(current.is_free())  # makes its file
            self.daemon(config, ts("2026-11-27T09:00:00+00:00"), ts("2026-11-27T09:01:00+00:00")).run()
            self.assertFalse(os.path.exists(old))
            self.assertFalse(os.path.exists(old_upload))
            self.assertTrue(os.path.exists(held.path))  # held: never deleted
            self.assertTrue(os.path.exists(current.path))
        finally:
            held.release()

    def test_start_up_says_when_each_task_runs_next(self):
        config = self.make_config(tasks=[
            {"name": "Monthly", "src": "src", "dest": "dest", "timestamp": "1 23:56"},
            {"name": "Paused", "src": "src", "dest": "dest2", "timestamp": "12:00", "enabled": False},
            {"name": "Manual", "src": "gone", "dest": "dest3"}])
        os.rmdir(self.path("gone"))
        self.seed_success(config, ts("2026-11-27T08:00:00+00:00"))
        with self.assertLogs("task_runner.schedule.daemon", "INFO") as logs:
            self.daemon(config, ts("2026-11-27T09:00:00+00:00"), ts("2026-11-27T09:01:00+00:00")).run()
        text = "\n".join(logs.output)
        when = short_time(ts("2026-12-01T23:56:00+00:00"), UTC, ts("2026-11-27T09:00:00+00:00"))
        self.assertIn("monthly on day 1 at 23:56; next run %s\n" % when, text + "\n")
        self.assertIn('paused ("enabled": false): no scheduled backups', text)
        self.assertIn("runs on demand only (no timestamp): %s" % console.command("backup_now", "Manual"), text)
        self.assertIn("the source folder %s does not exist right now" % self.path("gone"), text)

    def test_a_run_too_old_to_catch_up_says_how_to_make_one(self):
        config = self.make_config()
        self.known_since(config)
        with self.assertLogs("task_runner.schedule.daemon", "WARNING") as logs:
            self.daemon(config, ts("2026-11-27T09:00:00+00:00"), ts("2026-11-27T09:01:00+00:00")).run()
        when = short_time(ts("2026-11-01T23:56:00+00:00"), UTC, ts("2026-11-27T09:00:00+00:00"))
        self.assertIn("skipping the run scheduled for %s: missed by 25.4 days, more than missed_task_days=5: not "
                      "caught up. To back it up now: %s" % (when, console.command("backup_now", "T")),
                      "\n".join(logs.output))

    def test_once_with_nothing_due_names_the_next_run(self):
        config = self.make_config()
        self.seed_success(config, ts("2026-11-27T08:00:00+00:00"))
        with self.assertLogs("task_runner.schedule.daemon", "INFO") as logs:
            Daemon(config, clock=lambda: ts("2026-11-27T09:00:00+00:00"), zone=UTC).run_once()
        when = short_time(ts("2026-12-01T23:56:00+00:00"), UTC, ts("2026-11-27T09:00:00+00:00"))
        self.assertIn("once: no backup is due now; next: T at %s" % when, "\n".join(logs.output))

    def test_too_old_is_skipped_once(self):
        config = self.make_config()
        self.known_since(config)
        self.daemon(config, ts("2026-11-27T09:00:00+00:00"), ts("2026-11-27T12:00:00+00:00")).run()
        runs = self.runs(config)
        self.assertEqual([(r["status"], r["trigger"]) for r in runs], [("skipped", "missed")])
        self.assertFalse(os.path.exists(self.path("dest")))

    def test_runs_on_time_and_never_busy_loops(self):
        config = self.make_config()
        self.seed_success(config, ts("2026-11-27T09:00:00+00:00"))
        d = self.daemon(config, ts("2026-11-27T10:00:00+00:00"), OCC + 2 * DAY)
        d.run()
        runs = self.runs(config)
        self.assertEqual([r["trigger"] for r in runs], ["manual", "schedule"])
        self.assertEqual(runs[1]["started"], "2026-12-01T23:56:00+00:00")  # not a minute late
        self.assertEqual(runs[1]["scheduled_for"], "2026-12-01T23:56:00+00:00")
        # Wakes at least once a minute, never more often than needed.
        self.assertLessEqual(max(self.clock.waits), 60)
        self.assertLess(len(self.clock.waits), (OCC + 2 * DAY - ts("2026-11-27T10:00:00+00:00")) / 60 + 5)

    def test_an_idle_daemon_looks_only_when_something_can_happen(self):
        # Issue 20: idle, it did a whole pass (history read, every task
        # planned) every minute. Now a pass only when something is due, the
        # config or the history changed, or the clock jumped; in between one
        # cheap look a minute (the waits), so edits are still seen within one.
        config = self.make_config()
        self.seed_success(config, ts("2026-11-27T09:00:00+00:00"))
        passes = []

        class Counting(Daemon):
            def run_pass(self):
                passes.append(self.clock())
                return Daemon.run_pass(self)
        self.clock = FakeClock(ts("2026-11-27T10:00:00+00:00"), OCC + 3600, self.stop)
        d = Counting(config, clock=self.clock, wait=self.clock.wait, stop_event=self.stop, zone=UTC)
        edited = []

        def wait(timeout):
            result = self.clock.wait(timeout)
            if not edited and self.clock.now >= ts("2026-11-29T12:00:00+00:00"):
                edited.append(self.clock.now)
                self.write_config({"tasks": [{"name": "T", "src": "src", "dest": "dest", "timestamp": "1 23:56",
                                              "default": True}], "retry_minutes": 30})
            return result
        d._wait = wait
        d.run()
        self.assertEqual([r["trigger"] for r in self.runs(config)], ["manual", "schedule"])
        self.assertLessEqual(max(self.clock.waits), 60)
        self.assertLess(len(passes), 12, [format_local(p, UTC) for p in passes])  # not 6,000
        self.assertTrue(any(0 <= p - edited[0] <= 60 for p in passes), "the edit was not looked at within a minute")

    def test_failed_run_is_retried_and_runs_when_the_drive_is_back(self):
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "usb/backup",
                                          "timestamp": "1 23:56"}], retry_minutes=60)
        self.write("src/a", "1")
        os.makedirs(self.path("usb"))
        self.seed_success(config, ts("2026-11-27T09:00:00+00:00"))
        os.rename(self.path("usb"), self.path("usb-unplugged"))
        d = self.daemon(config, OCC - 120, OCC + 4 * 3600, max_sleep=600)
        plug_in_at = OCC + 2.5 * 3600

        def wait(timeout):
            if self.clock.now + timeout >= plug_in_at and not os.path.isdir(self.path("usb")):
                os.makedirs(self.path("usb"))
            return self.clock.wait(timeout)
        d._wait = wait
        d.run()
        runs = self.runs(config)[1:]
        # Issue 34: plugged in at 02:26, it ran then (within one look a minute), not at the 02:56 retry.
        self.assertEqual([(r["trigger"], r["status"]) for r in runs],
                         [("schedule", "failed"), ("retry", "failed"), ("retry", "failed"), ("drive", "success")])
        self.assertIn("is the backup drive plugged in?", runs[0]["message"])
        self.assertEqual([r["started"][11:16] for r in runs[:3]], ["23:56", "00:56", "01:56"])
        self.assertLessEqual(abs(ts(runs[3]["started"]) - plug_in_at), 60)
        self.assertEqual(runs[3]["attempt"], 4)  # an attempt of the same occurrence

    def test_no_second_attempt_sooner_than_retry_minutes(self):
        # Issue 20: started at .7 of a second with a failure from an earlier
        # process, then the clock set back 30 minutes, then a 10-minute sleep.
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "usb/backup",
                                          "timestamp": "1 23:56"}], retry_minutes=60)
        self.write("src/a", "1")
        run_task(config, config.tasks[0], "retry", clock=lambda: OCC + 60, zone=UTC)  # fails: no usb
        d = self.daemon(config, OCC + 3600.7, OCC + 6 * 3600)
        elapsed = [0.0]
        attempts = []
        jumps = {600: -1800, 5000: 600}  # elapsed seconds -> clock change

        def wait(timeout):
            elapsed[0] += timeout
            for at in sorted(jumps):
                if elapsed[0] >= at:
                    self.clock.now += jumps.pop(at)
            return self.clock.wait(timeout)

        def run(*args, **kw):
            attempts.append(elapsed[0])
            return run_task(*args, **kw)
        d._wait, d._run = wait, run
        d.run()
        self.assertEqual(attempts[0], 0.0)  # one attempt at once for the earlier failure
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        # The history has whole seconds: a retry may come up to 1 s early.
        self.assertTrue(gaps and min(gaps) > 3599, (attempts, gaps))
        self.assertEqual([r["trigger"] for r in self.runs(config)][:2], ["retry", "missed"])

    def test_clock_jump_forward_catches_up_once(self):
        config = self.make_config()
        self.seed_success(config, ts("2026-11-27T09:00:00+00:00"))
        d = self.daemon(config, ts("2026-11-30T12:00:00+00:00"), ts("2026-12-03T13:00:00+00:00"))
        self.clock.jump_after_wait(3 * DAY)  # the laptop slept through the 1st
        with self.assertLogs("task_runner.schedule.daemon", "WARNING") as logs:
            d.run()
        self.assertTrue(any("checking for missed runs" in line for line in logs.output))
        runs = self.runs(config)
        self.assertEqual([r["trigger"] for r in runs], ["manual", "missed"])
        self.assertEqual(runs[1]["started"][:13], "2026-12-03T12")

    def test_clock_going_back_never_reruns(self):
        config = self.make_config()
        self.seed_success(config, ts("2026-11-27T09:00:00+00:00"))
        d = self.daemon(config, OCC - 60, OCC + 3 * 3600)
        jumped = []

        def wait(timeout):
            result = self.clock.wait(timeout)
            if not jumped and self.clock.now > OCC + 600:
                jumped.append(True)
                self.clock.now -= 3600  # back to before the occurrence
            return result
        d._wait = wait
        d.run()
        self.assertEqual([r["trigger"] for r in self.runs(config)], ["manual", "schedule"])

    def test_dst_gap_runs_once(self):
        self.set_tz("America/New_York")
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timestamp": "30 2 * * *"}])
        self.seed_success(config, ts("2026-03-07T12:00:00-05:00"), LOCAL)
        self.daemon(config, ts("2026-03-07T12:00:01-05:00"), ts("2026-03-09T12:00:00-04:00"), zone=LOCAL).run()
        started = [r["started"] for r in self.runs(config)[1:]]
        self.assertEqual(started, ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"])

    def test_config_edits_are_picked_up_and_bad_edits_ignored(self):
        config = self.make_config()
        self.seed_success(config, ts("2026-11-27T09:00:00+00:00"))
        os.makedirs(self.path("src2"))
        d = self.daemon(config, ts("2026-11-27T10:00:00+00:00"), ts("2026-11-27T10:10:00+00:00"))
        edits = [
            "{not json",
            json.dumps({"tasks": [
                {"name": "T", "src": "src", "dest": "dest", "timestamp": "1 23:56"},
                {"name": "U", "src": "src2", "dest": "dest2", "timestamp": "10:05"}]}),
        ]

        def wait(timeout):
            if edits and self.clock.now >= ts("2026-11-27T10:00:30+00:00") + 60 * (2 - len(edits)):
                with open(config.path, "w") as f:
                    f.write(edits.pop(0))
                os.utime(config.path, (self.clock.now, self.clock.now + len(edits)))
            return self.clock.wait(timeout)
        d._wait = wait
        with self.assertLogs("task_runner.schedule.daemon", "INFO") as logs:
            d.run()
        text = "\n".join(logs.output)
        self.assertIn("not valid; still using the previous settings", text)
        self.assertIn("reloaded: 2 task(s)", text)
        u_runs = [r for r in self.runs(config) if r["task"] == "U"]
        self.assertEqual([(r["trigger"], r["started"]) for r in u_runs],
                         [("first", "2026-11-27T10:03:00+00:00"),  # a new task: its first backup at once
                          ("schedule", "2026-11-27T10:05:00+00:00")])

    def test_a_failing_task_does_not_stop_the_daemon(self):
        config = self.make_config(tasks=[
            {"name": "A", "src": "a", "dest": "da", "timestamp": "12:00"},
            {"name": "B", "src": "b", "dest": "db", "timestamp": "12:00"}], retry_minutes=0)
        calls = []

        def run(config, task, trigger, **kw):
            calls.append(task.name)
            if task.name == "A":
                raise RuntimeError("boom")
            return run_task(config, task, trigger, **kw)
        d = self.daemon(config, ts("2026-11-27T11:59:00+00:00"), ts("2026-11-27T12:10:00+00:00"), run=run)
        with self.assertLogs("task_runner.schedule.daemon", "ERROR"):
            d.run()
        self.assertGreaterEqual(calls.count("A"), 2)  # A keeps being tried, and B still runs
        self.assertEqual([(r["task"], r["trigger"]) for r in self.runs(config)],
                         [("B", "first"), ("B", "schedule")])

    def test_reaps_runs_left_running_by_a_dead_process(self):
        config = self.make_config()
        History.for_config(config).start_run("T", "schedule", "2026-11-01T23:56:00+00:00",
                                             scheduled_for="2026-11-01T23:56:00+00:00")
        self.daemon(config, ts("2026-11-02T08:00:00+00:00"), ts("2026-11-02T08:05:00+00:00")).run()
        runs = self.runs(config)
        self.assertEqual([(r["status"], r["trigger"]) for r in runs], [("interrupted", "schedule"),
                                                                        ("success", "missed")])


if __name__ == "__main__":
    unittest.main()
