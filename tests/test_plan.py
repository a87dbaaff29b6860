import collections
import unittest

from task_runner.plan import RUN, SKIP, WAIT, plan_task, task_overview
from task_runner.schedule import format_local, parse_schedule
from tests.helpers import UTC, ts

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


class PlanTest(unittest.TestCase):
    # (description, runs, now, watch_start or None (= now), days, retry, action, trigger)
    CASES = [
        ("fresh install, 2 days late", [], OCC + 2 * DAY, None, 5, 60, RUN, "missed"),
        ("exactly N days late", [], OCC + 5 * DAY, None, 5, 60, RUN, "missed"),
        ("N days - 1 minute", [], OCC + 5 * DAY - MIN, None, 5, 60, RUN, "missed"),
        ("N days + 1 minute", [], OCC + 5 * DAY + MIN, None, 5, 60, SKIP, "missed"),
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

    def test_table(self):
        for desc, runs, now, watch, days, retry, action, trigger in self.CASES:
            with self.subTest(desc):
                d = plan_task(TASK, runs, now, UTC, days, retry, now if watch is None else watch)
                self.assertEqual((d.action, d.trigger), (action, trigger), d.reason)

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
        runs = [run("success", OCC), run("failed", OCC + DAY)]
        info = task_overview(TASK, runs, OCC + 2 * DAY, UTC, count=2)
        self.assertEqual(info["schedule"], "monthly on day 1 at 23:56")
        self.assertEqual([format_local(t, UTC)[:10] for t in info["next_runs"]], ["2026-12-01", "2027-01-01"])
        self.assertEqual(info["last_run"]["status"], "failed")
        self.assertEqual(info["last_success"]["status"], "success")


if __name__ == "__main__":
    unittest.main()
