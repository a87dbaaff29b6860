"""An upload started by the HTTP trigger, when the server stops: a clean
shutdown records it interrupted; after a crash (kill -9) the record left
running is found by the scheduler's next pass (nobody holds the task's
offsite lock), marked interrupted, and the upload resumed. Real
http_server.py processes, real rclone, a local remote."""

import http.client
import json
import os
import signal
import subprocess
import sys
import unittest

from tests import rclone_tools
from tests.helpers import ROOT, wait_for
from tests.test_offsite import OffsiteTestCase

PY = sys.executable


@unittest.skipIf(os.name == "nt", "SIGTERM and kill -9 of a console process are POSIX here")
class HttpShutdownTest(OffsiteTestCase):
    def start_upload(self):
        """http_server.py with a slow offsite upload triggered and running;
        returns the server's process."""
        self.make_tree(files=12, size=64 * 1024)
        port = rclone_tools.free_port()
        self.data = {"rclone": self.rclone, "http": {"port": port},
                     "tasks": [{"name": "T", "src": "src", "dest": "dest",
                                "offsite": {"remote": "loc:" + self.path("remote"), "bwlimit": "128K"}}]}
        self.write_config(self.data)
        proc = subprocess.Popen([PY, os.path.join(ROOT, "http_server.py"), "--config", self.path("config.json")],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and os.killpg(proc.pid, signal.SIGKILL))
        self.assertTrue(wait_for(lambda: self.listening(port), 30), "the server did not start")
        with open(self.path("http_token.txt")) as f:  # the token the server made, as a user would read it
            token = f.read().strip()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/trigger/T", headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 202, resp.read())
        conn.close()
        self.assertTrue(wait_for(lambda: os.path.isdir(self.path("remote")) and self.uploads()
                                 and self.uploads()[-1]["status"] == "running", 60), self.uploads())
        return proc

    @staticmethod
    def listening(port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.connect()
            return True
        except OSError:
            return False
        finally:
            conn.close()

    def test_a_clean_shutdown_records_the_upload_interrupted(self):
        proc = self.start_upload()
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
        self.assertEqual(proc.returncode, 0, out)
        up = self.uploads()[-1]
        self.assertEqual(up["status"], "interrupted", up)
        self.assertIn("stopped on request", up["message"])
        self.assertIsNotNone(up["finished"])

    def test_after_a_crash_the_next_pass_marks_it_interrupted_and_resumes(self):
        proc = self.start_upload()
        os.killpg(proc.pid, signal.SIGKILL)  # the server and its rclone
        proc.communicate(timeout=30)
        self.assertEqual(self.uploads()[-1]["status"], "running")  # what the crash left
        self.data["tasks"][0]["offsite"].pop("bwlimit")
        self.write_config(self.data)
        code, out = self.program("scheduled_task_runner.py", "--once")
        self.assertEqual(code, 0, out)
        self.assertEqual([(u["status"], u["trigger"]) for u in self.uploads()],
                         [("interrupted", "http"), ("success", "schedule")], json.dumps(self.uploads()))
        self.assertIn("the process running it stopped unexpectedly", self.uploads()[0]["message"])
