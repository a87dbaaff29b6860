"""--status, GET /status (the page) and /metrics say when a failing task is
tried next and how many attempts its current scheduled time has had
(issue 20: "failed 10:04, next try 11:04")."""

import json
import os
import subprocess
import sys
import time

from task_runner.runs import runner
from task_runner.history import History
from task_runner.http import metrics
from task_runner.clock import LOCAL, format_local, short_time
from task_runner.schedule.status import status_report
from tests.helpers import ROOT, TempDirTestCase


class RetryShownTest(TempDirTestCase):
    def setUp(self):
        super(RetryShownTest, self).setUp()
        self.now = time.time()
        then = time.localtime(self.now - 3 * 3600)
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "usb/backup",
                                               "timestamp": "%02d:%02d" % (then.tm_hour, then.tm_min)}],
                                       retry_minutes=240)
        for hours in (2, 1):  # two attempts, the drive unplugged
            out = runner.run_task(self.config, self.config.tasks[0], "retry", clock=lambda: self.now - hours * 3600)
            self.assertEqual(out.status, "failed")
        self.failed_at = int(self.now - 3600)

    def test_the_report_metrics_and_status_text(self):
        runs = History.for_config(self.config).runs()
        item = status_report(self.config, runs, self.now, LOCAL, lambda name: False)["tasks"][0]
        self.assertEqual(item["retry"]["attempts"], 2)
        self.assertEqual((item["retry"]["last_attempt_at"], item["retry"]["next_try_at"]),
                         (format_local(self.failed_at, LOCAL), format_local(self.failed_at + 4 * 3600, LOCAL)))
        families = metrics.render(status_report(self.config, runs, self.now, LOCAL, lambda name: False), runs)
        self.assertIn('task_runner_current_attempts{task="T"} 2\n', families)
        self.assertIn('task_runner_next_retry_timestamp_seconds{task="T"} %d\n' % (self.failed_at + 4 * 3600),
                      families)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                               self.config.path, "--status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        # No scheduler is running: nothing tries at that time; its start tries at once (issue 29).
        self.assertIn("  failed %s, next try at once when the scheduler starts (2 attempts for this scheduled "
                      "time)" % short_time(self.failed_at, LOCAL, time.time()), proc.stdout)
        self.assertTrue(item["retry"]["at_scheduler_start"])
        up = {"scheduler": {"pid": 1}, "http_servers": []}
        item = status_report(self.config, runs, self.now, LOCAL, lambda name: False, up)["tasks"][0]
        self.assertFalse(item["retry"]["at_scheduler_start"])
        report = json.loads(subprocess.run(
            [sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config", self.config.path,
             "--status", "--json"], stdout=subprocess.PIPE, universal_newlines=True, timeout=60).stdout)
        self.assertEqual(report["tasks"][0]["retry"]["attempts"], 2)
