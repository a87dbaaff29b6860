import datetime
import os
import random
import stat
import subprocess
import sys
import time
import unittest
import zipfile

from task_runner.runs import locks, runner
from task_runner.fs import osutil
from task_runner.snapshots import retention
from task_runner import snapshots
from task_runner.history import History
from task_runner.config.policy import RULES, Policy, PolicyError, parse_policy
from task_runner.snapshots.retention import decide
from task_runner.clock import FixedZone
from tests.helpers import ROOT, UTC, FakeClock, TempDirTestCase, TZMixin, ts

NAMES = ["2026-11-0%d_10-00-00" % d for d in range(1, 6)]
NOW = ts("2026-11-27T12:00:00+00:00")


def policy(**rules):
    values = {"within": None}
    values.update({r: 0 for r in RULES})
    values.update(rules)
    return Policy(**values)


def names_from(start, count, step_hours):
    t = datetime.datetime(*start)
    out = []
    for _ in range(count):
        out.append(t.strftime("%Y-%m-%d_%H-%M-%S"))
        t += datetime.timedelta(hours=step_hours)
    return out


def kept(names, pol, now=NOW):
    return {d.name: d.reason for d in decide(names, pol, now, UTC) if d.keep}


class ParsePolicyTest(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(parse_policy(3), policy(last=3))
        self.assertEqual(parse_policy({"daily": 7, "weekly": 4, "monthly": 12}),
                         policy(daily=7, weekly=4, monthly=12))
        self.assertEqual(parse_policy({"within": "2d"}), policy(within=2 * 86400))
        for text, seconds in (("36h", 36 * 3600), ("1w", 7 * 86400), ("1m", 31 * 86400), ("2y", 730 * 86400)):
            self.assertEqual(parse_policy({"within": text}).within, seconds)
        self.assertEqual(parse_policy({"yearly": 1, "_comment": "x"}), policy(yearly=1))
        self.assertEqual(parse_policy(100000), policy(last=100000))  # the bounds are allowed
        self.assertEqual(parse_policy({"daily": 100000}), policy(daily=100000))
        self.assertEqual(parse_policy({"within": "999999h"}).within, 999999 * 3600)

    def test_errors(self):
        cases = [
            (0, "must be from 1 to 100000, got 0"),
            (100001, "must be from 1 to 100000, got 100001"),
            ({"daily": 100001}, "daily must be a whole number from 0 to 100000, got 100001"),
            (True, "must be a whole number (the newest N) or an object such as "
                   "{\"daily\": 7, \"weekly\": 4, \"monthly\": 12}"),
            ("7", "must be a whole number (the newest N) or an object such as "
                  "{\"daily\": 7, \"weekly\": 4, \"monthly\": 12}"),
            ({}, "keeps nothing: give at least one rule, such as {\"daily\": 7}"),
            ({"daily": 0}, "keeps nothing: give at least one rule, such as {\"daily\": 7}"),
            ({"dayly": 7}, "unknown rule \"dayly\" (rules: within, last, hourly, daily, weekly, monthly, yearly)"),
            ({"daily": -1}, "daily must be a whole number from 0 to 100000, got -1"),
            ({"daily": 1.5}, "daily must be a whole number from 0 to 100000, got 1.5"),
            ({"within": "2"}, "within must be a number and a unit such as \"2d\" (h hours, d days, w weeks, "
                              "m months, y years), got '2'"),
            ({"within": "0d"}, "within must be a number and a unit such as \"2d\" (h hours, d days, w weeks, "
                               "m months, y years), got '0d'"),
            ({"within": 2}, "within must be a number and a unit such as \"2d\" (h hours, d days, w weeks, "
                            "m months, y years), got 2"),
        ]
        for value, message in cases:
            with self.subTest(value=value):
                with self.assertRaises(PolicyError) as ctx:
                    parse_policy(value)
                self.assertEqual(str(ctx.exception), message)


class DecideTest(unittest.TestCase):
    def test_last_n(self):
        for n, expected in ((1, NAMES[4:]), (3, NAMES[2:]), (5, NAMES), (7, NAMES)):
            with self.subTest(n=n):
                self.assertEqual(sorted(kept(NAMES, policy(last=n))), expected)
        self.assertEqual(kept(NAMES, policy(last=2)), {NAMES[4]: "last #1", NAMES[3]: "last #2"})
        self.assertEqual(decide([], policy(last=2), NOW, UTC), [])

    def test_the_newest_is_always_kept(self):
        self.assertEqual(kept(NAMES, policy(within=3600)), {NAMES[4]: "the newest is always kept"})
        self.assertEqual(kept(NAMES, policy(yearly=1)), {NAMES[4]: "yearly #1"})

    def test_daily_keeps_the_newest_of_each_day(self):
        names = names_from((2026, 11, 20, 0, 0, 0), 24 * 4, 1)  # hourly for 4 days
        got = kept(names, policy(daily=3))
        self.assertEqual(got, {"2026-11-23_23-00-00": "daily #1", "2026-11-22_23-00-00": "daily #2",
                               "2026-11-21_23-00-00": "daily #3"})

    def test_a_rule_larger_than_the_snapshots_keeps_the_oldest(self):
        names = ["2026-11-25_10-00-00", "2026-11-26_09-00-00", "2026-11-26_10-00-00"]
        self.assertEqual(kept(names, policy(daily=5)), {
            "2026-11-26_10-00-00": "daily #1", "2026-11-25_10-00-00": "daily #2"})  # the oldest is kept already
        names = ["2026-11-25_09-00-00", "2026-11-25_10-00-00", "2026-11-26_10-00-00"]
        self.assertEqual(kept(names, policy(daily=5)), {
            "2026-11-26_10-00-00": "daily #1", "2026-11-25_10-00-00": "daily #2",
            "2026-11-25_09-00-00": "daily #3, the oldest"})

    def test_within_only(self):
        names = names_from((2026, 11, 24, 0, 0, 0), 8, 12)  # 24th 00:00 .. 27th 12:00
        got = kept(names, policy(within=2 * 86400))
        for text in ("36h", "1w", "3m", "2y"):
            with self.subTest(within=text):
                self.assertEqual(set(kept(names, parse_policy({"within": text})).values()), {"within " + text})
        # Newer than 2 days before 27th 12:00: 25th 12:00 itself is not.
        self.assertEqual(got, {n: "within 2d" for n in ["2026-11-26_00-00-00", "2026-11-26_12-00-00",
                                                         "2026-11-27_00-00-00", "2026-11-27_12-00-00"]})

    def test_iso_weeks_across_new_year(self):
        # 2026-12-28 (Mon) .. 2027-01-03 (Sun) is ISO week 2026-53; 2027-01-04 starts week 1.
        names = ["2026-12-27_12-00-00", "2026-12-28_12-00-00", "2027-01-03_12-00-00", "2027-01-04_12-00-00"]
        self.assertEqual(kept(names, policy(weekly=3)), {
            "2027-01-04_12-00-00": "weekly #1", "2027-01-03_12-00-00": "weekly #2",
            "2026-12-27_12-00-00": "weekly #3"})

    def test_leap_day_and_months(self):
        names = ["2028-02-28_12-00-00", "2028-02-29_12-00-00", "2028-03-01_12-00-00"]
        self.assertEqual(kept(names, policy(monthly=2)), {
            "2028-03-01_12-00-00": "monthly #1", "2028-02-29_12-00-00": "monthly #2"})
        self.assertEqual(kept(names, policy(daily=2)), {
            "2028-03-01_12-00-00": "daily #1", "2028-02-29_12-00-00": "daily #2"})

    def test_same_second_snapshots(self):
        names = ["2026-11-27_10-00-00", "2026-11-27_10-00-00_2", "2026-11-27_10-00-00_10", "2026-11-27_10-00-00_3"]
        got = kept(names, policy(last=2))
        self.assertEqual(got, {"2026-11-27_10-00-00_10": "last #1", "2026-11-27_10-00-00_3": "last #2"})
        self.assertEqual(kept(names, policy(hourly=3)), {"2026-11-27_10-00-00_10": "hourly #1",
                                                          "2026-11-27_10-00-00": "hourly #2, the oldest"})

    def test_dst_day_is_one_day(self):
        # Names are local wall times: a fall-back day has two 01:30 runs, one day.
        names = ["2026-10-31_01-30-00", "2026-11-01_01-30-00", "2026-11-01_01-30-00_2", "2026-11-02_01-30-00"]
        self.assertEqual(sorted(kept(names, policy(daily=3))),
                         ["2026-10-31_01-30-00", "2026-11-01_01-30-00_2", "2026-11-02_01-30-00"])
        self.assertEqual(sorted(kept(names, policy(hourly=4))),
                         ["2026-10-31_01-30-00", "2026-11-01_01-30-00_2", "2026-11-02_01-30-00"])

    def test_every_rule_at_once(self):
        names = names_from((2024, 1, 1, 6, 0, 0), 365 * 3, 24)  # daily at 06:00 for 3 years
        names += ["2026-12-30_18-00-00", "2026-12-30_20-00-00"]
        pol = policy(within=86400, last=2, hourly=2, daily=3, weekly=2, monthly=3, yearly=3)
        got = kept(names, pol, now=ts("2026-12-31T00:00:00+00:00"))
        self.assertEqual(got, {
            "2026-12-30_20-00-00": "within 1d",
            "2026-12-30_18-00-00": "within 1d",
            "2026-12-30_06-00-00": "within 1d",
            "2026-12-29_06-00-00": "last #1",
            "2026-12-28_06-00-00": "last #2",
            "2026-12-27_06-00-00": "hourly #1",
            "2026-12-26_06-00-00": "hourly #2",
            "2026-12-25_06-00-00": "daily #1",
            "2026-12-24_06-00-00": "daily #2",
            "2026-12-23_06-00-00": "daily #3",
            "2026-12-20_06-00-00": "weekly #1",  # the Sunday ending ISO week 51
            "2026-12-13_06-00-00": "weekly #2",
            "2026-11-30_06-00-00": "monthly #1",
            "2026-10-31_06-00-00": "monthly #2",
            "2026-09-30_06-00-00": "monthly #3",
            "2025-12-31_06-00-00": "yearly #1",
            "2024-12-31_06-00-00": "yearly #2",  # 2024 is a leap year
            "2024-01-01_06-00-00": "yearly #3, the oldest",
        })
        deleted = [d for d in decide(names, pol, ts("2026-12-31T00:00:00+00:00"), UTC) if not d.keep]
        self.assertEqual(len(deleted), len(names) - 18)
        self.assertEqual({d.reason for d in deleted}, {"no rule keeps it"})


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
        with self.assertLogs("task_runner.snapshots.retention", "INFO") as logs:
            deleted = retention.apply(dest, parse_policy(2), NOW)
        self.assertEqual(deleted, NAMES[:3])
        self.assertEqual(sorted(os.listdir(dest)), sorted(NAMES[3:] + [
            "2026-10-01_10-00-00.partial", "my notes.txt", "2026-09-01"]))
        self.assertEqual([l.split(":", 2)[2] for l in logs.output],
                         ["deleted %s: no rule keeps it" % n for n in NAMES[:3]])

    def test_zip_snapshots_count_and_are_deleted(self):
        for name in NAMES[:3]:
            with zipfile.ZipFile(self.path("dest", name + ".zip") if os.path.isdir(self.path("dest"))
                                 else self._mkdest(name), "w") as zf:
                zf.writestr("a", "1")
        os.makedirs(self.path("dest", NAMES[3]))
        os.chmod(self.path("dest", NAMES[0] + ".zip"), stat.S_IREAD)
        self.assertEqual(retention.apply(self.path("dest"), parse_policy(2), NOW),
                         [NAMES[0] + ".zip", NAMES[1] + ".zip"])
        self.assertEqual(sorted(os.listdir(self.path("dest"))), [NAMES[2] + ".zip", NAMES[3]])

    def _mkdest(self, name):
        os.makedirs(self.path("dest"))
        return self.path("dest", name + ".zip")

    def test_dry_run_deletes_nothing_and_says_what_and_why(self):
        for name in NAMES:
            os.makedirs(self.path("dest", name))
        with self.assertLogs("task_runner.snapshots.retention", "DEBUG") as logs:
            got = retention.apply(self.path("dest"), parse_policy(3), NOW, dry_run=True,
                                  extra_new="2026-11-09_00-00-00")
        self.assertEqual(got, NAMES[:3])
        self.assertEqual(sorted(os.listdir(self.path("dest"))), NAMES)
        self.assertIn("INFO:task_runner.snapshots.retention:would delete %s: no rule keeps it" % NAMES[0], logs.output)
        self.assertIn("DEBUG:task_runner.snapshots.retention:keeping 2026-11-09_00-00-00 (last #1)", logs.output)
        self.assertIn("DEBUG:task_runner.snapshots.retention:keeping %s (last #2)" % NAMES[4], logs.output)

    def test_a_deletion_that_fails_is_left_for_the_next_run(self):
        for name in NAMES[:3]:
            os.makedirs(self.path("dest", name))
        self.write("dest/%s/f" % NAMES[0], "x")

        def refuse(dest, name):
            raise PermissionError(13, "Permission denied", osutil.long_path(os.path.join(dest, name)))
        real = retention.delete_snapshot
        retention.delete_snapshot = refuse
        try:
            with self.assertLogs("task_runner.snapshots.retention", "WARNING") as logs:
                got = retention.apply(self.path("dest"), parse_policy(1), NOW)
        finally:
            retention.delete_snapshot = real
        self.assertEqual(got, [])
        refused = PermissionError(13, "Permission denied", osutil.long_path(os.path.join(self.path("dest"), NAMES[0])))
        self.assertEqual(logs.output[0], "WARNING:task_runner.snapshots.retention:could not delete old snapshot %s: %s; the next "
                         "run tries again" % (NAMES[0], refused))
        self.assertEqual(len(logs.output), 2)
        self.assertEqual(sorted(os.listdir(self.path("dest"))), NAMES[:3])

    def test_a_year_of_dailies_keeps_what_the_policy_says_and_kept_files_never_change(self):
        names = names_from((2025, 11, 28, 23, 56, 0), 365, 24)
        for name in names:
            os.makedirs(self.path("dest", name))
        shared = self.write("dest/%s/f.txt" % names[-1], "kept")
        for name in names[-40:-1]:  # hard links shared with kept and dying snapshots
            os.link(shared, self.path("dest", name, "f.txt"))
        os.chmod(shared, 0o444)
        before = os.stat(shared)
        pol = parse_policy({"daily": 7, "weekly": 4, "monthly": 12})
        deleted = retention.apply(self.path("dest"), pol, ts("2026-11-28T00:00:00+00:00"))
        remaining = snapshots.list_snapshots(self.path("dest"))
        self.assertEqual(len(remaining) + len(deleted), 365)
        # 7 dailies (21st..27th Nov), then the newest of each older ISO week
        # (4), then of each older month (12): 2026-10 back to 2025-11.
        self.assertEqual(len(remaining), 7 + 4 + 12)
        self.assertEqual(remaining[0], "2025-11-30_23-56-00")
        after = os.stat(shared)
        self.assertEqual((after.st_ino, stat.S_IMODE(after.st_mode), after.st_mtime_ns),
                         (before.st_ino, 0o444, before.st_mtime_ns))


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


    def test_the_snapshot_a_run_made_is_kept_when_the_time_zone_went_back(self):
        """Names are local times: after the zone changed westwards the new
        snapshot sorts before the last one, and "keep": 1 deleted it."""
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "keep": 1}])
        tokyo, new_york = FixedZone(9 * 3600), FixedZone(-5 * 3600)
        at = ts("2026-12-06T22:31:16+00:00")
        run = runner.run_task(config, config.tasks[0], "manual", clock=FakeClock(at), zone=tokyo)
        self.write("src/a", "2")
        again = runner.run_task(config, config.tasks[0], "manual", clock=FakeClock(at + 120), zone=new_york)
        self.assertEqual(again.status, "success")
        made = os.path.basename(again.record["snapshot"])
        self.assertIn(made, snapshots.list_snapshots(self.path("dest")))
        with open(self.path("dest", made, "a")) as f:
            self.assertEqual(f.read(), "2")
        self.assertTrue(run.status == "success")
        # Its name keeps the order (the newest's time, the next number): "latest" and prune see it as newest.
        self.assertEqual(snapshots.list_snapshots(self.path("dest"))[-1], made)
        self.assertEqual(made, os.path.basename(run.record["snapshot"]) + "_2")
        runner.prune_task(config, config.tasks[0], clock=FakeClock(at + 240), zone=tokyo)
        self.assertEqual(snapshots.list_snapshots(self.path("dest")), [made])
        # A name far ahead (a clock that was wrong then) is not followed.
        self.assertEqual(snapshots._not_before_newest("2026-12-06_10-00-00", ["2099-01-01_00-00-00"]),
                         "2026-12-06_10-00-00")


class TZRetentionTest(TZMixin, unittest.TestCase):
    def test_within_uses_local_time(self):
        self.set_tz("America/New_York")
        names = ["2026-11-26_10-00-00", "2026-11-27_06-00-00", "2026-11-27_08-00-00"]
        # 12:00 UTC is 07:00 in New York: 06:00 local is 1 hour old, 10:00 the day before 21 hours.
        got = {d.name for d in decide(names, policy(within=2 * 3600), ts("2026-11-27T12:00:00+00:00"))
               if d.keep}
        self.assertEqual(got, {"2026-11-27_06-00-00", "2026-11-27_08-00-00"})


if __name__ == "__main__":
    unittest.main()


class PruneKillTest(TempDirTestCase):
    """kill -9 in the middle of a prune never leaves part of a snapshot
    under its name, and the next prune finishes the deletion."""

    FILES = 1500

    def setUp(self):
        super(PruneKillTest, self).setUp()
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "keep": 1,
                                               "default": True}])
        self.dest = self.path("dest")

    def fill(self, as_zip):
        names = ["2026-11-%02d_10-00-00" % d for d in range(1, 7)]
        if not os.path.isdir(self.dest):
            os.makedirs(self.dest)
        for name in names:
            if as_zip:
                if not os.path.exists(os.path.join(self.dest, name + ".zip")):
                    with zipfile.ZipFile(os.path.join(self.dest, name + ".zip"), "w") as zf:
                        for i in range(self.FILES):
                            zf.writestr("d%02d/f%04d" % (i % 20, i), "x")
                continue
            folder = os.path.join(self.dest, name)
            if os.path.exists(folder):
                continue
            for i in range(self.FILES):
                sub = os.path.join(folder, "d%02d" % (i % 20))
                if not os.path.isdir(sub):
                    os.makedirs(sub)
                with open(os.path.join(sub, "f%04d" % i), "w") as f:
                    f.write("x")

    def count(self, name):
        if name.endswith(".zip"):
            with zipfile.ZipFile(os.path.join(self.dest, name)) as zf:
                return len(zf.infolist())
        return sum(len(files) for _, _, files in os.walk(os.path.join(self.dest, name)))

    def prune(self):
        return subprocess.Popen([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", self.config.path,
                                 "--prune"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, universal_newlines=True)

    def kill_while_deleting(self, rng):
        """Start a prune and kill it as soon as it has removed something
        (after a random few milliseconds more); True when it was killed."""
        total = sum(len(files) for _, _, files in os.walk(self.dest)) + len(os.listdir(self.dest))
        proc = self.prune()
        try:
            while proc.poll() is None:
                now = sum(len(files) for _, _, files in os.walk(self.dest)) + len(os.listdir(self.dest))
                if now != total:
                    time.sleep(rng.random() * 0.02)
                    proc.kill()
                    break
        finally:
            proc.communicate()
        return proc.returncode != 0

    def check(self, as_zip):
        rng = random.Random(19)
        killed = 0
        for _ in range(3):
            self.fill(as_zip)
            killed += self.kill_while_deleting(rng)
            for name in snapshots.list_snapshots(self.dest):
                self.assertEqual(self.count(name), self.FILES, "%s is listed but not whole" % name)
        if not as_zip:
            self.assertGreater(killed, 0, "no prune was killed in the middle: the test proved nothing")
        proc = self.prune()
        out, err = proc.communicate()
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertEqual(snapshots.list_snapshots(self.dest), ["2026-11-06_10-00-00" + (".zip" if as_zip else "")])

    @unittest.skipIf(os.name == "nt", "kill -9 is POSIX")
    def test_folder_snapshots(self):
        self.check(False)

    @unittest.skipIf(os.name == "nt", "kill -9 is POSIX")
    def test_zip_snapshots(self):
        self.check(True)

    def test_a_leftover_is_finished_and_never_listed(self):
        self.write("dest/.deleting-2026-11-01_10-00-00/a/b.txt", "half")
        self.write("dest/.deleting-2026-11-02_10-00-00.zip", "half")
        self.write("dest/.deleting-my notes.txt", "not ours: never touched")
        os.makedirs(self.path("dest", "2026-11-03_10-00-00"))
        self.assertEqual(snapshots.list_snapshots(self.dest), ["2026-11-03_10-00-00"])
        with self.assertLogs("task_runner", "INFO") as logs:
            retention.apply(self.dest, parse_policy(1), NOW)
        self.assertEqual(sorted(os.listdir(self.dest)), [".deleting-my notes.txt", "2026-11-03_10-00-00"])
        self.assertIn("finished deleting 2026-11-01_10-00-00 (its deletion had been interrupted)",
                      "\n".join(logs.output))

    def test_start_up_finishes_them_for_each_task_whose_lock_is_free(self):
        self.write("dest/.deleting-2026-11-01_10-00-00/a.txt", "half")
        self.write("dest/2026-11-02_10-00-00.partial/a.txt", "unfinished")
        self.make_config(tasks=[{"name": "U", "src": "src", "dest": "dest2", "default": True}])
        self.write("dest2/.deleting-2026-11-01_10-00-00/a.txt", "half")
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True},
                                         {"name": "U", "src": "src", "dest": "dest2"}])
        held = locks.task_lock(config, "U")
        self.assertTrue(held.acquire(timeout=0))
        try:
            runner.finish_interrupted_deletions(config)
        finally:
            held.release()
        self.assertEqual(os.listdir(self.dest), [])
        self.assertEqual(os.listdir(self.path("dest2")), [".deleting-2026-11-01_10-00-00"])  # a run holds it
