"""Crashes, concurrency and injected faults (POSIX and Windows lanes)."""

import http.client
import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
import unittest

from task_runner.runs import locks, runner
from task_runner import engine, snapshots
from task_runner.fs import fileio
from task_runner.config.watch import ConfigWatcher
from task_runner.schedule.daemon import Daemon
from task_runner.errors import BackupError
from task_runner.history import History
from task_runner.http.api import App, Server
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task, slow_file, ts, wait_for

BACKUP_NOW = os.path.join(ROOT, "backup_now.py")
BIG = 2 * 1024 ** 3  # sparse: costs no disk until copied, slow enough to be caught mid-copy


def tree_contents(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            full = os.path.join(folder, name)
            out[os.path.relpath(full, root)] = os.path.getsize(full)
    return out


class KillTest(TempDirTestCase):
    """kill -9 (TerminateProcess on Windows) in the middle of a backup."""

    def setUp(self):
        super(KillTest, self).setUp()
        now = time.localtime(time.time() - 120)
        self.config = self.make_config(tasks=[{
            "name": "T", "src": "src", "dest": "dest", "default": True,
            "timestamp": "%02d:%02d" % (now.tm_hour, now.tm_min)}])
        for i in range(20):
            self.write("src/small/f%02d.txt" % i, "file %d" % i)
        slow_file(self.path("src", "big.bin"), BIG)

    def partial_has_data(self):
        for name in os.listdir(self.path("dest")) if os.path.isdir(self.path("dest")) else []:
            if name.endswith(".partial") and os.path.exists(os.path.join(self.path("dest"), name, "big.bin")):
                return os.path.getsize(os.path.join(self.path("dest"), name, "big.bin")) > 0
        return False

    def check_after_kill(self):
        history = History.for_config(self.config)
        if os.path.exists(self.config.history_file):  # absent when killed before the first record
            with open(self.config.history_file, encoding="utf-8") as f:
                json.load(f)  # valid JSON, whatever the moment of the kill
        source = tree_contents(self.path("src"))
        for name in snapshots.list_snapshots(self.path("dest")):
            self.assertEqual(tree_contents(self.path("dest", name)), source, "incomplete snapshot " + name)
        return history.runs()

    def test_kill_at_several_points(self):
        points = [("at once", lambda: True), ("when copying", self.partial_has_data),
                  ("mid-copy", lambda: self.partial_has_data() and time.sleep(0.3) is None)]
        for label, ready in points:
            with self.subTest(point=label):
                proc = subprocess.Popen([sys.executable, BACKUP_NOW, "--config", self.config.path],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.assertTrue(wait_for(ready), "never reached " + label)
                proc.kill()
                proc.wait()
                runs = self.check_after_kill()
                if label != "at once":
                    self.assertEqual(runs[-1]["status"], "running")  # left as it was
        # The next manual run marks the dead ones interrupted, removes the .partial, succeeds.
        with open(self.path("src", "big.bin"), "wb") as f:
            f.truncate(1024)
        out = runner.run_task(self.config, self.config.tasks[0], "manual")
        self.assertEqual(out.status, "success")
        runs = self.check_after_kill()
        self.assertNotIn("running", [r["status"] for r in runs])
        self.assertEqual(sorted(set(r["status"] for r in runs[:-1])), ["interrupted"])
        self.assertFalse([n for n in os.listdir(self.path("dest")) if n.endswith(".partial")])

    def test_daemon_catches_up_after_a_killed_run(self):
        proc = subprocess.Popen([sys.executable, BACKUP_NOW, "--config", self.config.path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.assertTrue(wait_for(self.partial_has_data))
        proc.kill()
        proc.wait()
        with open(self.path("src", "big.bin"), "wb") as f:
            f.truncate(1024)
        stop = threading.Event()
        daemon = Daemon(self.config, stop_event=stop, wait=lambda timeout: stop.set())
        daemon.run()
        runs = self.check_after_kill()
        self.assertEqual([(r["trigger"], r["status"]) for r in runs], [("manual", "interrupted"),
                                                                         ("missed", "success")])


class ConcurrentStartsTest(TempDirTestCase):
    def test_backup_now_and_http_at_once(self):
        config = self.make_config()
        for i in range(50):
            self.write("src/f%02d.bin" % i, os.urandom(64 * 1024))
        slow_file(self.path("src", "big.bin"), 256 * 1024 ** 2)
        stop = threading.Event()
        app = App(ConfigWatcher(config), stop)
        server = Server(("127.0.0.1", 0), app, max_connections=64, token="stress-token-0123456789")
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        go = threading.Event()
        http_codes = []

        def trigger():
            go.wait()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/trigger", headers={"Authorization": "Bearer stress-token-0123456789"})
            resp = conn.getresponse()
            resp.read()
            http_codes.append(resp.status)
            conn.close()
        threads = [threading.Thread(target=trigger) for _ in range(20)]
        for t in threads:
            t.start()
        procs = [subprocess.Popen([sys.executable, BACKUP_NOW, "--config", config.path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(10)]
        go.set()
        codes = [p.wait(timeout=120) for p in procs]
        for t in threads:
            t.join(60)
        for job in app.jobs:
            job.join(60)
        self.assertEqual(len(http_codes), 20)
        self.assertTrue(set(codes) <= {0, 4}, codes)
        self.assertTrue(set(http_codes) <= {202, 409}, http_codes)
        started = codes.count(0) + http_codes.count(202)
        self.assertGreaterEqual(started, 1)
        self.assertEqual(codes.count(4) + http_codes.count(409), 30 - started)
        with open(config.history_file, encoding="utf-8") as f:
            runs = json.load(f)["runs"]
        self.assertEqual(len(runs), started)  # no record lost, none invented
        self.assertEqual([r["status"] for r in runs], ["success"] * started)
        names = snapshots.list_snapshots(self.path("dest"))
        self.assertEqual(len(names), started)
        self.assertEqual(sorted(os.path.basename(r["snapshot"]) for r in runs), names)

    def test_two_tasks_do_not_block_each_other(self):
        config = self.make_config(tasks=[{"name": "A", "src": "a", "dest": "da"},
                                         {"name": "B", "src": "b", "dest": "db"}])
        with locks.task_lock(config, "A"):  # A is running elsewhere
            self.assertEqual(runner.run_task(config, config.tasks[1], "manual").status, "success")
            self.assertEqual(runner.run_task(config, config.tasks[0], "manual").status, runner.ALREADY_RUNNING)


HISTORY_WRITER = textwrap.dedent("""
    import logging, sys
    sys.path.insert(0, sys.argv[1])
    logging.getLogger("task_runner").addHandler(logging.NullHandler())
    from task_runner.history import History
    h = History(sys.argv[2], limit=50)
    i = 0
    while True:
        rec = h.start_run("T%d" % (i % 3), "manual", "2026-11-27T10:00:00+00:00")
        h.finish_run(rec["id"], status="success", message="x" * 500, errors=["e"] * 20)
        i += 1
""")


class HistoryCrashTest(TempDirTestCase):
    def test_killed_writer_never_tears_the_file(self):
        path = self.path("executed_tasks.json")
        rng = random.Random(7)
        for _ in range(6):
            proc = subprocess.Popen([sys.executable, "-c", HISTORY_WRITER, ROOT, path])
            # Kill it at a random moment once it is writing (start-up is slow under Wine).
            self.assertTrue(wait_for(lambda: os.path.exists(path)))
            time.sleep(0.2 + rng.random() * 0.8)
            proc.kill()
            proc.wait()
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            self.assertTrue(doc["runs"])
            self.assertEqual(os.listdir(self.tmp).count("executed_tasks.json"), 1)
        History(path).start_run("T0", "manual", "x")  # the next writer clears leftovers
        self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp-" in n], [])


class DestVanishesOps(fileio.Ops):
    """Unplugs the drive (renames dest away) when the third file is written."""

    def __init__(self, dest):
        self.dest = dest
        self.count = 0

    def open_write(self, path, mode=0o666):
        self.count += 1
        if self.count == 3:
            os.rename(self.dest, self.dest + "-unplugged")
        return fileio.Ops.open_write(self, path, mode)


class FaultTest(TempDirTestCase):
    def test_dest_disappears_mid_run(self):
        for i in range(6):
            self.write("src/f%d" % i, "x")
        task = make_task(self.path("src"), self.path("drive", "dest"))
        os.makedirs(self.path("drive"))
        with self.assertRaises(BackupError) as ctx:
            engine.make_snapshot(task, ts("2026-11-27T10:00:00+00:00"), UTC,
                                 ops=DestVanishesOps(self.path("drive")))
        self.assertIn("drive unplugged", str(ctx.exception))
        os.rename(self.path("drive-unplugged"), self.path("drive"))  # plugged back in
        result = engine.make_snapshot(task, ts("2026-11-27T10:01:00+00:00"), UTC)
        self.assertEqual(result.files, 6)
        self.assertEqual(sorted(os.listdir(self.path("drive", "dest"))),
                         ["2026-11-27_10-01-00", "2026-11-27_10-01-00.index"])  # the failed run left nothing

    def test_port_is_not_shared(self):
        config = self.make_config()
        first = Server(("127.0.0.1", 0), App(ConfigWatcher(config), threading.Event()))
        self.addCleanup(first.server_close)
        with self.assertRaises(OSError):
            Server(("127.0.0.1", first.server_address[1]), App(ConfigWatcher(config), threading.Event()))


if __name__ == "__main__":
    unittest.main()
