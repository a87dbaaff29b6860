"""The shipped Prometheus files, checked by Prometheus' own tool: the
scrape config, the alert rules, and the alerts firing on series for a task
that has failed for 2 days, one that never succeeded and a stopped
scheduler; and our /metrics text as promtool reads it."""

import os
import shutil
import subprocess
import unittest

from task_runner.http import metrics
from tests.helpers import ROOT, TempDirTestCase, outside_program

MONITORING = os.path.join(ROOT, "monitoring")


class PromtoolTest(TempDirTestCase):
    def setUp(self):
        super(PromtoolTest, self).setUp()
        self.promtool = outside_program(self, ["promtool"], "promtool not found (apt-get install prometheus)")

    def promtool_run(self, *args, **kw):
        proc = subprocess.run([self.promtool] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, **kw)
        return proc.returncode, proc.stdout

    def test_the_scrape_config(self):
        for name in ("prometheus.yml", "backup_alerts.yml"):
            shutil.copy(os.path.join(MONITORING, name), self.path(name))
        self.write("backup_token.txt", "a token of twenty characters or more")
        code, out = self.promtool_run("check", "config", self.path("prometheus.yml"))
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS: 4 rules found", out)

    def test_the_scrape_config_as_shipped(self):
        # A fresh clone: the placeholder token file is there, so the check passes where the files are.
        code, out = self.promtool_run("check", "config", os.path.join(MONITORING, "prometheus.yml"))
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS", out)

    def test_the_alert_rules_and_when_they_fire(self):
        code, out = self.promtool_run("check", "rules", os.path.join(MONITORING, "backup_alerts.yml"))
        self.assertEqual(code, 0, out)
        code, out = self.promtool_run("test", "rules", os.path.join(ROOT, "tests", "data", "backup_alerts_test.yml"))
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS", out)

    def test_our_metrics_as_promtool_reads_them(self):
        report = {"scheduler": {"running": False}, "tasks": [
            {"name": "Never", "last_run": None, "last_success": None, "running": False, "snapshots": 0,
             "free_bytes": 1000}]}
        text = metrics.render(report, [])
        self.assertIn('task_runner_last_success_timestamp_seconds{task="Never"} 0\n', text)
        code, out = self.promtool_run("check", "metrics", input=text)
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
