import os
import stat
import unittest

from task_runner import retention, runner, snapshots
from task_runner.history import History
from tests.helpers import UTC, FakeClock, TempDirTestCase, ts

NAMES = ["2026-11-0%d_10-00-00" % d for d in range(1, 6)]


class SelectTest(unittest.TestCase):
    def test_table(self):
        cases = [
            (NAMES, None, []),
            (NAMES, 5, []),
            (NAMES, 7, []),
            (NAMES, 3, NAMES[:2]),
            (NAMES, 1, NAMES[:4]),
            ([], 1, []),
        ]
        for names, keep, expected in cases:
            with self.subTest(keep=keep, n=len(names)):
                got = retention.select_deletions(names, keep)
                self.assertEqual([n for n, _ in got], expected)
                for _, reason in got:
                    self.assertIn("keep=%d" % keep, reason)


class ApplyTest(TempDirTestCase):
    def test_keeps_exactly_n_and_touches_nothing_else(self):
        dest = self.path("dest")
        for name in NAMES:
            self.write("dest/%s/f.txt" % name, name)
        ro = self.path("dest", NAMES[0], "f.txt")
        os.chmod(ro, stat.S_IREAD)  # read-only files must not stop a deletion
        os.chmod(os.path.dirname(ro), 0o555)
        self.write("dest/2026-10-01_10-00-00.partial/x", "in progress elsewhere?")
        self.write("dest/my notes.txt", "mine")
        os.makedirs(self.path("dest", "2026-09-01"))
        with self.assertLogs("task_runner.retention", "INFO") as logs:
            deleted = retention.apply(dest, 2)
        self.assertEqual(deleted, NAMES[:3])
        self.assertEqual(sorted(os.listdir(dest)), sorted(NAMES[3:] + [
            "2026-10-01_10-00-00.partial", "my notes.txt", "2026-09-01"]))
        self.assertEqual(len([l for l in logs.output if "deleted snapshot" in l]), 3)

    def test_dry_run_deletes_nothing(self):
        for name in NAMES:
            os.makedirs(self.path("dest", name))
        self.assertEqual(retention.apply(self.path("dest"), 5, dry_run=True, extra_new="2026-11-09_00-00-00"),
                         NAMES[:1])
        self.assertEqual(sorted(os.listdir(self.path("dest"))), NAMES)


class RunnerRetentionTest(TempDirTestCase):
    def setUp(self):
        super(RunnerRetentionTest, self).setUp()
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "keep": 2}])
        self.write("src/a", "1")

    def run_at(self, when):
        return runner.run_task(self.config, self.config.tasks[0], "manual", clock=FakeClock(when), zone=UTC)

    def test_keep_after_success_never_after_failure(self):
        for day in range(1, 5):
            self.assertEqual(self.run_at(ts("2026-11-0%dT10:00:00+00:00" % day)).status, "success")
        self.assertEqual(snapshots.list_snapshots(self.path("dest")), ["2026-11-03_10-00-00", "2026-11-04_10-00-00"])
        last = History.for_config(self.config).runs()[-1]
        self.assertEqual(last["deleted"], ["2026-11-02_10-00-00"])
        os.rename(self.path("src"), self.path("gone"))
        self.assertEqual(self.run_at(ts("2026-11-05T10:00:00+00:00")).status, "failed")
        self.assertEqual(len(snapshots.list_snapshots(self.path("dest"))), 2)


if __name__ == "__main__":
    unittest.main()
