import collections
import os
import tempfile
import unittest

from task_runner.clock import format_local
from task_runner.config.timestamps import parse_schedule
from task_runner.schedule.plan import (RUN, SKIP, WAIT, plan_connected, plan_task, retry_state, runs_from_the_future,
    task_overview)
from task_runner.history.records import same_dest
from tests.helpers import UTC, make_task, ts

Task = collections.namedtuple("Task", "name schedule default src dest enabled")
TASK = Task("T", parse_schedule("1 23:56"), False, "s", "d", True)
OCC = ts("2026-11-01T23:56:00+00:00")
DAY = 86400
MIN = 60


def run(status, started, finished=None, scheduled_for=None, trigger="schedule"):
    return {"task": "T", "status": status, "trigger": trigger,
            "started": format_local(started, UTC),
            "finished": format_local(finished if finished is not None else started + 30, UTC),
            "scheduled_for": None if scheduled_for is None else format_local(scheduled_for, UTC)}


class MissingFolderWordsTest(unittest.TestCase):
    """Found from outside: a backup folder whose parent was not made yet, on
    a drive that was plugged in, was reported only as an unplugged drive,
    with nothing to do when it was plugged in. The question stays (the
    watch looks for it; a mount point stays when its drive is away), and
    what to do follows; where the drive can be seen (a Windows drive letter
    or share), it says the drive is there."""

    def test_table(self):
        from task_runner.errors import DRIVE_MISSING
        from task_runner.fs.drive import missing_problem
        for windows, dest, there, drive_away, folder in [
                (True, "E:\\Backups\\Docs", {"E:\\"}, False, "E:\\Backups"),
                (True, "E:\\Backups\\Docs", set(), True, "E:\\Backups"),
                (True, "\\\\nas\\share\\B\\Docs", {"\\\\nas\\share\\"}, False, "\\\\nas\\share\\B"),
                (True, "\\\\nas\\share\\B\\Docs", set(), True, "\\\\nas\\share\\B"),
                (False, "/media/usb/Backups/Docs", {"/", "/media", "/media/usb"}, True, "/media/usb/Backups")]:
            with self.subTest(windows=windows, dest=dest, there=sorted(there)):
                said = missing_problem(dest, windows=windows, isdir=there.__contains__)
                self.assertIn("because %s does not exist: %s (" % (folder, DRIVE_MISSING), said)
                self.assertIn("make the folder %s, or choose another.)" % folder, said)
                self.assertEqual("is there: if it is the backup drive" in said, not drive_away)
        self.assertIsNone(missing_problem("E:\\Backups\\Docs", windows=True, isdir={"E:\\Backups"}.__contains__))


class NewTaskAndDriveTest(unittest.TestCase):
    """first_seen (issue 29) and the backup drive's return (issue 34), decided without I/O."""

    LOST = "destination d cannot be created because / does not exist: is the backup drive plugged in?"

    def test_table(self):
        seen = OCC + DAY  # the task appeared a day after the newest occurrence
        lost = dict(run("failed", OCC + 10, OCC + 20), message=self.LOST)
        drive_try = dict(run("failed", OCC + 1800, OCC + 1810, trigger="drive"), message=self.LOST)
        plain = dict(run("failed", OCC + 10, OCC + 20), message="disk full")
        for name, runs, now, first_seen, retry, back, expected in [
                ("new task: its first backup, for when it appeared", [], seen + 5, seen, 60, None,
                 (RUN, "first", seen, None)),
                ("new task with a success: no occurrence since", [run("success", seen + 1)], seen + 9, seen, 60, None,
                 (WAIT, None, None, None)),
                ("an occurrence after it appeared: the usual rule", [], OCC + 60, OCC - DAY, 60, None,
                 (RUN, "schedule", OCC, None)),
                ("drive away: wait, watching its folder", [lost], OCC + 600, None, 60, False,
                 (WAIT, None, OCC, os.path.dirname("d"))),
                ("drive back: run at once", [lost], OCC + 600, None, 60, True, (RUN, "drive", OCC, None)),
                ("drive back again within retry_minutes: the usual retry", [lost, drive_try], OCC + 2400, None, 60,
                 True, (WAIT, None, OCC, None)),
                ("drive back after retry_minutes since the last drive attempt", [lost, drive_try], OCC + 1800 + 3600,
                 None, 60, True, (RUN, "drive", OCC, None)),
                ("retries off: nothing is watched", [lost], OCC + 600, None, 0, True, (WAIT, None, OCC, None)),
                ("another failure: not watched", [plain], OCC + 600, None, 60, True, (WAIT, None, OCC, None))]:
            with self.subTest(name):
                d = plan_task(TASK, runs, now, UTC, 5, retry, OCC - 1, first_seen=first_seen,
                              drive_back=None if back is None else lambda task, back=back: back)
                self.assertEqual((d.action, d.trigger, d.occurrence, d.watch), expected, d.reason)

    def test_when_connected(self):
        task = make_task("s", "usb/d", when_connected=True, when_connected_hours=24, schedule=None)
        now = OCC + 30 * DAY
        for name, runs, was, there, expected in [
                ("came back, last success 2 days old", [run("success", now - 2 * DAY)], False, True, "drive"),
                ("came back, never backed up", [], False, True, "drive"),
                ("came back, last success 1 hour old", [run("success", now - 3600)], False, True, None),
                ("there at the first look", [], None, True, None),
                ("still away", [], False, False, None),
                ("came back again within retry_minutes of a drive run",
                 [run("failed", now - 600, trigger="drive")], False, True, None)]:
            with self.subTest(name):
                d = plan_connected(task, [dict(r, dest="usb/d") for r in runs], now, was, there, 60)
                self.assertEqual(d and (d.action, d.trigger, d.occurrence), expected and (RUN, expected, None))
        self.assertIsNone(plan_connected(task._replace(when_connected=False), [], now, False, True, 60))


class PlanTest(unittest.TestCase):
    # (description, runs, now, watch_start or None (= now), days, retry, action, trigger)
    CASES = [
        ("fresh install, 2 days late", [], OCC + 2 * DAY, None, 5, 60, RUN, "missed"),
        ("exactly N days late", [], OCC + 5 * DAY, None, 5, 60, RUN, "missed"),
        ("N days - 1 minute", [], OCC + 5 * DAY - MIN, None, 5, 60, RUN, "missed"),
        ("N days + 1 minute", [], OCC + 5 * DAY + MIN, None, 5, 60, SKIP, "missed"),
        ("N days + 1 second", [], OCC + 5 * DAY + 1, None, 5, 60, SKIP, "missed"),
        ("missed_task_days 0", [], OCC + MIN, None, 0, 60, SKIP, "missed"),
        ("success after the occurrence", [run("success", OCC + 5)], OCC + DAY, None, 5, 60, WAIT, None),
        ("manual run satisfies", [run("success", OCC + DAY, trigger="manual")], OCC + 2 * DAY, None, 5, 60,
         WAIT, None),
        ("partial satisfies", [run("partial", OCC)], OCC + DAY, None, 5, 60, WAIT, None),
        ("success before it does not", [run("success", OCC - 1)], OCC + DAY, None, 5, 60, RUN, "missed"),
        ("came due while watching", [], OCC + 1, OCC - 3600, 5, 60, RUN, "schedule"),
        ("came due while watching, runner busy for days", [], OCC + 9 * DAY, OCC - 1, 5, 60, RUN, "schedule"),
        ("failed before start-up", [run("failed", OCC + 10)], OCC + DAY, None, 5, 60, RUN, "missed"),
        ("interrupted before start-up", [run("interrupted", OCC + 10)], OCC + DAY, None, 5, 60, RUN, "missed"),
        ("failed, retry not yet due", [run("failed", OCC, OCC + 60)], OCC + 60 + 59 * MIN, OCC - 1, 5, 60,
         WAIT, None),
        ("failed, retry due", [run("failed", OCC, OCC + 60)], OCC + 60 + 60 * MIN, OCC - 1, 5, 60, RUN, "retry"),
        ("failed, retries off", [run("failed", OCC, OCC + 60)], OCC + 2 * DAY, OCC - 1, 5, 0, WAIT, None),
        ("interrupted, retry not yet due", [run("interrupted", OCC, OCC + 60)], OCC + 60 + 59 * MIN, OCC - 1,
         5, 60, WAIT, None),
        ("interrupted, retry due", [run("interrupted", OCC, OCC + 60)], OCC + 60 + 60 * MIN, OCC - 1, 5, 60,
         RUN, "retry"),
        ("retry_minutes 1 is on", [run("failed", OCC, OCC + 60)], OCC + 60 + MIN, OCC - 1, 5, 1, RUN, "retry"),
        ("retry_minutes 1, 59 s after", [run("failed", OCC, OCC + 60)], OCC + 60 + 59, OCC - 1, 5, 1, WAIT, None),
        ("retry measured from finished", [run("failed", OCC, OCC + 3000)], OCC + 3600 + 60, OCC - 1, 5, 60,
         WAIT, None),
        ("failed, window closes exactly", [run("failed", OCC + 4 * DAY)], OCC + 5 * DAY, OCC - 1, 5, 60,
         RUN, "retry"),
        ("failed after start-up and a success after it", [run("failed", OCC, OCC + 60), run("success", OCC + 90)],
         OCC + DAY, OCC - 1, 5, 60, WAIT, None),
        ("a skipped record of another occurrence", [run("skipped", OCC - 5, scheduled_for=OCC - 31 * DAY)],
         OCC + DAY, None, 5, 60, RUN, "missed"),
        ("failed, window closed", [run("failed", OCC + 4 * DAY)], OCC + 5 * DAY + MIN, OCC - 1, 5, 60,
         SKIP, "retry"),
        ("already skipped", [run("skipped", OCC + 9 * DAY, scheduled_for=OCC)], OCC + 9 * DAY + 5, None, 5, 60,
         WAIT, None),
        ("in progress elsewhere", [run("running", OCC + 10)], OCC + DAY, None, 5, 60, WAIT, None),
        ("clock went back after the run", [run("success", OCC - 31 * DAY + 60), run("success", OCC + 1)],
         OCC - 1800, None, 5, 60, WAIT, None),
        ("a run from the future satisfies nothing", [run("success", OCC + 4 * 365 * DAY)], OCC + DAY, None, 5, 60,
         RUN, "missed"),
        ("a run 5 minutes ahead still counts", [run("success", OCC + DAY + 300)], OCC + DAY, None, 5, 60,
         WAIT, None),
        ("a run 5 minutes and 1 s ahead does not", [run("success", OCC + DAY + 301)], OCC + DAY, None, 5, 60,
         RUN, "missed"),
        ("clock back past the run, same occurrence", [run("success", OCC + 1)], OCC + 0.5, None, 5, 60, WAIT, None),
    ]

    MISSED = "missed while the runner was not running, %s days ago (within missed_task_days=5)"
    # The reason of each case, whole: it is what the log says.
    REASONS = {
        "fresh install, 2 days late": MISSED % "2.0",
        "exactly N days late": MISSED % "5.0",
        "N days - 1 minute": MISSED % "5.0",
        "N days + 1 minute": "missed by 5.0 days, more than missed_task_days=5: not caught up",
        "missed_task_days 0": "missed by 0.0 days, more than missed_task_days=0: not caught up",
        "success before it does not": MISSED % "1.0",
        "came due while watching": "scheduled time reached",
        "failed before start-up": "the last attempt failed before start-up, 1.0 days ago (within "
                                  "missed_task_days=5)",
        "interrupted before start-up": "the last attempt interrupted before start-up, 1.0 days ago (within "
                                       "missed_task_days=5)",
        "failed, retry not yet due": "waiting to retry",
        "failed, retry due": "last attempt failed; retrying every 60 minutes",
        "failed, retries off": "failed; retries are off (retry_minutes=0)",
        "interrupted, retry due": "last attempt interrupted; retrying every 60 minutes",
        "retry_minutes 1 is on": "last attempt failed; retrying every minute",
        "failed, window closed": "still failed after 5.0 days: retries stop after missed_task_days=5",
        "already skipped": "already skipped",
        "in progress elsewhere": "a run is in progress",
        "success after the occurrence": "done",
        "a run from the future satisfies nothing": MISSED % "1.0",
    }

    def test_table(self):
        for desc, runs, now, watch, days, retry, action, trigger in self.CASES:
            with self.subTest(desc):
                d = plan_task(TASK, runs, now, UTC, days, retry, now if watch is None else watch)
                self.assertEqual((d.action, d.trigger), (action, trigger), d.reason)
                if desc in self.REASONS:
                    self.assertEqual(d.reason, self.REASONS[desc])

    def test_watch_start_boundaries(self):
        # An occurrence exactly at watch_start was seen at start-up: missed,
        # not schedule. An attempt exactly at watch_start was made while
        # watching: it waits for retry_minutes.
        d = plan_task(TASK, [], OCC + 60, UTC, 5, 60, OCC)
        self.assertEqual((d.action, d.trigger), (RUN, "missed"))
        d = plan_task(TASK, [run("failed", OCC + 60, OCC + 90)], OCC + 120, UTC, 5, 60, OCC + 60)
        self.assertEqual((d.action, d.reason), (WAIT, "waiting to retry"))
        d = plan_task(TASK, [], OCC + 60, UTC, 5, 60, OCC - 1)
        self.assertEqual((d.action, d.trigger), (RUN, "schedule"))
        d = plan_task(TASK._replace(schedule=None), [], OCC, UTC, 5, 60, OCC)
        self.assertEqual((d.action, d.reason, d.wake_at), (WAIT, "runs on demand only", None))

    def test_our_attempt_in_the_start_up_second_was_made_after_it(self):
        # Issue 20: the history has whole seconds; started up at .7 of a second,
        # our first attempt is recorded at .0 of the same second.
        up = OCC + DAY + 0.7
        failed = dict(run("failed", OCC + DAY, OCC + DAY), id=7)
        d = plan_task(TASK, [failed], up + 0.1, UTC, 5, 60, up, up, {7})
        self.assertEqual((d.action, d.reason, d.wake_at), (WAIT, "waiting to retry", OCC + DAY + 3600))
        # Another program's attempt in that second came before our start: one attempt now.
        d = plan_task(TASK, [failed], up + 0.1, UTC, 5, 60, up, up, {6})
        self.assertEqual((d.action, d.trigger), (RUN, "missed"))

    def test_a_sleep_is_no_start_up(self):
        # Attempted after start-up, then the computer slept 10 minutes: the
        # retry waits for retry_minutes after the attempt, not at wake-up.
        up, woke = OCC - 3600, OCC + 600
        failed = run("failed", OCC, OCC + 60)
        d = plan_task(TASK, [failed], woke, UTC, 5, 60, woke, up)
        self.assertEqual((d.action, d.wake_at), (WAIT, OCC + 60 + 3600))
        d = plan_task(TASK, [failed], OCC + 60 + 3600, UTC, 5, 60, woke, up)
        self.assertEqual((d.action, d.trigger), (RUN, "retry"))
        # A failure recorded before the process started: one attempt at once.
        d = plan_task(TASK, [failed], woke, UTC, 5, 60, woke, OCC + 300)
        self.assertEqual((d.action, d.trigger), (RUN, "missed"))

    def test_the_clock_set_back_after_a_success(self):
        # Found by the simulation: the success of OCC, then the clock set back
        # 5 h (still after OCC): the success is "from the future", but it was
        # recorded for OCC, which has come: OCC does not run again.
        done = run("success", OCC + 6 * 3600, scheduled_for=OCC)
        now = OCC + 3600
        self.assertEqual(plan_task(TASK, [done], now, UTC, 5, 60, now).action, WAIT)
        # One recorded for an occurrence still to come (a clock that read 2030) satisfies nothing.
        later = run("success", OCC + 40 * DAY, scheduled_for=OCC + 30 * DAY)
        self.assertEqual(plan_task(TASK, [later], now, UTC, 5, 60, now).action, RUN)
        manual = run("success", OCC + 6 * 3600, trigger="manual")
        self.assertEqual(plan_task(TASK, [manual], now, UTC, 5, 60, now).action, RUN)

    def test_retry_state(self):
        # What --status, the page and /metrics show of a failing occurrence (issue 20).
        f1, f2 = run("failed", OCC, OCC + 60), run("interrupted", OCC + 3660, OCC + 3700)
        for desc, runs, now, days, retry, expected in [
                ("nothing failed", [], OCC + 60, 5, 60, None),
                ("one attempt", [f1], OCC + 120, 5, 60, (1, OCC + 60, OCC + 60 + 3600)),
                ("two attempts", [f1, f2], OCC + 3800, 5, 60, (2, OCC + 3700, OCC + 3700 + 3600)),
                ("a success after them", [f1, run("success", OCC + 100)], OCC + 200, 5, 60, None),
                ("an earlier occurrence's failure", [run("failed", OCC - 60)], OCC + 60, 5, 60, None),
                ("retries off", [f1], OCC + 120, 5, 0, (1, OCC + 60, None)),
                ("the window closes first", [run("failed", OCC + 5 * DAY - 600, OCC + 5 * DAY - 600)],
                 OCC + 5 * DAY - 500, 5, 60, (1, OCC + 5 * DAY - 600, None))]:
            with self.subTest(desc):
                state = retry_state(TASK, runs, now, UTC, days, retry)
                self.assertEqual(state if state is None else (state["attempts"], state["last_attempt"],
                                                              state["next_try"]), expected)
        self.assertIsNone(retry_state(TASK._replace(enabled=False), [f1], OCC + 120, UTC, 5, 60))

    def test_runs_from_the_future(self):
        now = OCC
        runs = [run("success", now + 300), run("success", now + 301), run("failed", now + 9999),
                run("success", now - 5), {"task": "T", "status": "success", "started": None}]
        self.assertEqual([r["started"] for r in runs_from_the_future(runs, now)],
                         [format_local(now + 301, UTC), format_local(now + 9999, UTC)])

    def test_occurrences_are_coalesced(self):
        # Three months unattended: one run, for the newest occurrence.
        now = ts("2027-02-02T08:00:00+00:00")
        d = plan_task(TASK, [run("success", ts("2026-10-02T00:00:00+00:00"))], now, UTC, 5, 60, now)
        self.assertEqual((d.action, d.occurrence), (RUN, ts("2027-02-01T23:56:00+00:00")))

    def test_wake_at(self):
        d = plan_task(TASK, [run("failed", OCC, OCC + 60)], OCC + 600, UTC, 5, 60, OCC - 1)
        self.assertEqual(d.wake_at, OCC + 60 + 3600)
        d = plan_task(TASK, [run("success", OCC)], OCC + 600, UTC, 5, 60, OCC - 1)
        self.assertEqual(d.wake_at, ts("2026-12-01T23:56:00+00:00"))
        # The next occurrence comes before the retry time: wake for it.
        nxt = ts("2026-12-01T23:56:00+00:00")
        d = plan_task(TASK, [run("failed", nxt - 1800, nxt - 1700)], nxt - 600, UTC, 40, 60, OCC - 1)
        self.assertEqual((d.action, d.wake_at), (WAIT, nxt))
        d = plan_task(TASK, [run("success", OCC - 31 * DAY + 60)], OCC - 600, UTC, 5, 60, OCC - 601)
        self.assertEqual((d.action, d.wake_at), (WAIT, OCC))

    def test_reasons_are_sentences(self):
        d = plan_task(TASK, [], OCC + 6 * DAY, UTC, 5, 60, OCC + 6 * DAY)
        self.assertIn("missed by 6.0 days, more than missed_task_days=5", d.reason)

    def test_runs_into_another_dest_do_not_count(self):
        moved = dict(run("success", OCC + 60), dest="old-drive")
        here = dict(run("success", OCC + 60), dest="d")
        d = plan_task(TASK, [moved], OCC + DAY, UTC, 5, 60, OCC + DAY)
        self.assertEqual((d.action, d.trigger), (RUN, "missed"))  # the new dest is not backed up yet
        self.assertEqual(plan_task(TASK, [here], OCC + DAY, UTC, 5, 60, OCC + DAY).action, WAIT)
        self.assertEqual(plan_task(TASK, [run("success", OCC + 60)], OCC + DAY, UTC, 5, 60, OCC + DAY).action,
                         WAIT)  # an older record without dest still counts
        info = task_overview(TASK, [here, moved], OCC + DAY, UTC)
        self.assertIs(info["last_success"], here)
        self.assertIs(info["last_run"], moved)

    @unittest.skipIf(os.name == "nt", "symbolic links need a privilege on Windows")
    def test_a_dest_reached_through_a_link_is_the_same_dest(self):
        # Found from outside: "dest" changed to a link to the same folder counted as a new destination
        # (an extra catch-up run; status said "no successful backup" beside the snapshots).
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "dest"))
            os.symlink(os.path.join(tmp, "dest"), os.path.join(tmp, "link"))
            done = dict(run("success", OCC + 60), dest=os.path.join(tmp, "dest"))
            task = TASK._replace(dest=os.path.join(tmp, "link"))
            self.assertEqual(plan_task(task, [done], OCC + DAY, UTC, 5, 60, OCC + DAY).action, WAIT)
            self.assertTrue(same_dest(done, task))

    def test_paused_task_never_runs_nor_skips(self):
        paused = TASK._replace(enabled=False)
        for runs, now in (([], OCC + DAY), ([run("failed", OCC, OCC + 60)], OCC + 3 * 3600), ([], OCC + 30 * DAY)):
            d = plan_task(paused, runs, now, UTC, 5, 60, OCC - 1)
            self.assertEqual((d.action, d.wake_at, d.reason), (WAIT, None, 'paused ("enabled": false)'))
        info = task_overview(paused, [], OCC, UTC)
        self.assertEqual((info["paused"], info["next_runs"]), (True, []))

    def test_on_demand_task(self):
        task = TASK._replace(schedule=None)
        self.assertEqual(plan_task(task, [], OCC, UTC, 5, 60, OCC).action, WAIT)

    def test_overview(self):
        other = dict(run("success", OCC + 2 * DAY - 10), task="Other")
        runs = [run("success", OCC), other, run("failed", OCC + DAY)]
        info = task_overview(TASK, runs, OCC + 2 * DAY, UTC, count=2)
        self.assertEqual(sorted(info), ["default", "dest", "last_run", "last_run_elsewhere", "last_success", "name",
                                        "next_runs", "paused", "schedule", "src", "success_elsewhere"])
        self.assertEqual((info["last_run_elsewhere"], info["success_elsewhere"]), (None, None))
        self.assertEqual((info["name"], info["src"], info["dest"], info["default"], info["paused"]),
                         ("T", "s", "d", False, False))
        self.assertEqual(info["schedule"], "monthly on day 1 at 23:56")
        self.assertEqual([format_local(t, UTC)[:10] for t in info["next_runs"]], ["2026-12-01", "2027-01-01"])
        self.assertIs(info["last_run"], runs[2])
        self.assertIs(info["last_success"], runs[0])
        self.assertEqual(len(task_overview(TASK, [], OCC, UTC)["next_runs"]), 3)  # the default count
        empty = task_overview(TASK._replace(schedule=None), [other], OCC, UTC)
        self.assertEqual((empty["last_run"], empty["last_success"], empty["next_runs"], empty["schedule"]),
                         (None, None, [], "only when started by hand (no timestamp)"))


if __name__ == "__main__":
    unittest.main()
