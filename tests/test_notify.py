"""Which runs are told about: at most one failure notification per
occurrence, and one when a failing task recovers (issue 20: a start-up
storm sent 32 webhooks; every hourly retry of an unplugged drive sent one)."""

import shutil

from task_runner.runs import runner
from task_runner.config import NotifyConfig
from task_runner.runs.notify import Notifier
from tests.helpers import UTC, TempDirTestCase, ts

OCC = ts("2026-12-01T23:56:00+00:00")


class Recording(Notifier):
    """The real decisions; what would be sent is recorded."""

    def __init__(self, **kw):
        values = dict(on="failure", partial_is_failure=False, webhook="http://127.0.0.1:9/hook",
                      ping_url="http://127.0.0.1:9/ping", timeout=1, email=None)
        values.update(kw)
        super(Recording, self).__init__(NotifyConfig(**values))
        self.sent = []

    def _spawn(self, func, *args):
        name = func.__name__.strip("_")
        self.sent.append((name, args[0] if name == "ping" else dict(args[0])))

    def hooks(self):
        return [(r["status"], r.get("recovered", False)) for name, r in self.sent if name == "webhook"]


class NotifyDecisionTest(TempDirTestCase):
    def setUp(self):
        super(NotifyDecisionTest, self).setUp()
        self.config = self.make_config()

    def run_at(self, notifier, when, scheduled_for=OCC, trigger="retry"):
        config = self.config
        return runner.run_task(config, config.tasks[0], trigger, scheduled_for=scheduled_for,
                               clock=lambda: when, zone=UTC, notifier=notifier)

    def test_one_failure_notification_per_occurrence_then_one_on_recovery(self):
        notifier = Recording()
        shutil.rmtree(self.path("src"))  # the drive is not there
        for hour in range(4):
            self.assertEqual(self.run_at(notifier, OCC + hour * 3600).status, "failed")
        self.assertEqual(notifier.hooks(), [("failed", False)])
        # The dead-man's switch still hears of every attempt.
        self.assertEqual(len([s for s in notifier.sent if s == ("ping", "http://127.0.0.1:9/ping/fail")]), 4)
        # A manual run that fails in between is told about, and does not
        # make the next attempt of the occurrence a new one.
        self.run_at(notifier, OCC + 5 * 3600, scheduled_for=None, trigger="manual")
        self.run_at(notifier, OCC + 6 * 3600)
        self.assertEqual(notifier.hooks(), [("failed", False), ("failed", False)])
        # The next occurrence failing is news again.
        self.run_at(notifier, OCC + 31 * 86400, scheduled_for=OCC + 31 * 86400, trigger="schedule")
        self.assertEqual(len(notifier.hooks()), 3)
        # The drive is back: one message that the task recovered, then silence.
        self.write("src/a", "1")
        self.assertEqual(self.run_at(notifier, OCC + 32 * 86400).status, "success")
        self.run_at(notifier, OCC + 33 * 86400, trigger="schedule")
        self.assertEqual(notifier.hooks()[3:], [("success", True)])

    def test_an_older_occurrence_after_the_clock_went_back_is_no_news(self):
        # Found by the simulation: the clock set back two days, the window of
        # an occurrence that failed (and was told about) closes again.
        notifier = Recording()
        newer = {"task": "T", "id": 9, "trigger": "retry", "status": "failed",
                 "scheduled_for": "2026-10-18T01:30:00+00:00"}
        skipped = {"task": "T", "id": 10, "trigger": "retry", "status": "skipped",
                   "scheduled_for": "2026-10-14T01:30:00+00:00"}
        notifier.run_finished(skipped, previous=newer)
        self.assertEqual(notifier.hooks(), [])
        notifier.run_finished(dict(skipped, scheduled_for="2026-10-21T01:30:00+00:00"), previous=newer)
        self.assertEqual(notifier.hooks(), [("skipped", False)])

    def test_always_tells_about_every_run(self):
        notifier = Recording(on="always")
        self.write("src/a", "1")
        self.run_at(notifier, OCC + 60)
        self.run_at(notifier, OCC + 120)
        self.assertEqual(notifier.hooks(), [("success", False), ("success", False)])
