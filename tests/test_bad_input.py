"""Every bad input gets a clear answer: a value --check accepts never crashes
a run; anything else is a config error (exit 2) naming the fix."""

import _thread
import contextlib
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import unittest

import backup_now
import scheduled_task_runner
from task_runner.commands import cli, _restoring as restore_cli
from task_runner.fs import fileio
from task_runner.config import load_config
from task_runner.errors import ConfigError
from task_runner.runs.runner import run_task
from task_runner.runs.locks import task_lock
from task_runner.schedule.status import current_report
from tests.helpers import ROOT, UTC, TempDirTestCase, ts


def run_program(module, argv):
    """(exit code, stdout, stderr) of an entry script's main, in this
    process; an exception other than what run_main handles propagates (it
    would be a traceback for the user)."""
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run_main(module.main, module.PROGRAM, argv)
    finally:
        # The program set up logging for itself: put the test runner's back.
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
    return code, out.getvalue(), err.getvalue()


class ConfigValuesTest(TempDirTestCase):
    def setUp(self):
        super(ConfigValuesTest, self).setUp()
        os.makedirs(self.path("src"))

    def problems(self, text):
        with self.assertRaises(ConfigError) as ctx:
            load_config(self.write_config(text))
        return ctx.exception.problems

    def task_config(self, **values):
        task = {"name": "T", "src": "src", "dest": "dest", "default": True}
        task.update(values.pop("task", {}))
        data = {"tasks": [task]}
        data.update(values)
        return data

    def test_every_number_has_a_range_and_is_finite(self):
        cases = [
            ({"task": {"timeout_minutes": 1e9}}, "tasks[0] (T).timeout_minutes: must be a number above 0 and at "
             "most 10080, got 1000000000.0"),
            ({"task": {"keep": 0}}, "tasks[0] (T).keep: must be from 1 to 100000, got 0"),
            ({"http": {"port": 99999}}, "http.port: must be from 1 to 65535, got 99999"),
            ({"http": {"request_timeout": 10000000000}}, "http.request_timeout: must be from 1 to 3600, "
             "got 10000000000"),
            ({"http": {"max_connections": 5000}}, "http.max_connections: must be from 1 to 1024, got 5000"),
            ({"retry_minutes": 20000}, "config.retry_minutes: must be from 0 to 10080, got 20000"),
            ({"missed_task_days": 4000}, "config.missed_task_days: must be from 0 to 3650, got 4000"),
            ({"history_limit": 10 ** 7}, "config.history_limit: must be from 1 to 100000, got 10000000"),
            ({"log": {"max_bytes": 1 << 40}}, "log.max_bytes: must be from 1024 to 1073741824, got 1099511627776"),
            ({"notify": {"timeout": 1e6}}, "notify.timeout: must be a number above 0 and at most 300, "
             "got 1000000.0"),
        ]
        for values, message in cases:
            with self.subTest(message):
                self.assertEqual(self.problems(self.task_config(**values)), [message])

    def test_a_number_too_large_for_a_float(self):
        text = '{"tasks": [{"name": "T", "src": "src", "dest": "d", "timeout_minutes": 1e999}]}'
        self.assertEqual(self.problems(text), [
            "tasks[0] (T).timeout_minutes: must be a number above 0 and at most 10080, got Infinity"])

    def test_nan_and_infinity_literals(self):
        for literal in ("NaN", "Infinity", "-Infinity"):
            with self.subTest(literal):
                text = '{"tasks": [{"src": "src", "dest": "d", "timeout_minutes": %s}]}' % literal
                self.assertEqual(self.problems(text),
                                 ["%s is not a number JSON allows: write a number such as 10" % literal])

    def test_deep_nesting(self):
        text = '{"tasks": ' + "[" * 100000 + "]" * 100000 + "}"
        self.assertEqual(self.problems(text), [
            "the file is nested too deeply (lists or objects inside each other thousands of times): "
            "it cannot be a config"])

    def test_lone_surrogate_in_a_name(self):
        text = '{"tasks": [{"name": "\\ud800", "src": "src", "dest": "d"}]}'
        self.assertEqual(self.problems(text), [
            'tasks[0].name: "\\ud800" holds a lone surrogate (\\ud800-\\udfff), which is not text: remove it'])

    def test_trailing_comma_in_a_list_gets_the_comma_hint(self):
        text = '{"tasks": [{"src": "src", "dest": "d"},\n]}'
        hint = ": check for a missing or extra comma or quote on this line or the one before"
        self.assertIn(self.problems(text), [
            ["line 2, column 1: Expecting value" + hint],
            ["line 1, column 39: Illegal trailing comma before end of array" + hint]])  # Python 3.13

    def test_log_and_history_files_must_be_writable_files(self):
        os.makedirs(self.path("afolder"))
        cases = [
            ({"log": {"file": "nowhere/deeper/x.log"}}, "log.file: the folder %s does not exist (is its drive "
             "connected?): create it, or choose another place" % self.path("nowhere", "deeper")),
            ({"log": {"file": "afolder"}}, "log.file: %s is a folder: name a file in it, such as %s"
             % (self.path("afolder"), self.path("afolder", "scheduled_task_runner.log"))),
            ({"history_file": "afolder"}, "history_file: %s is a folder: name a file in it, such as %s"
             % (self.path("afolder"), self.path("afolder", "executed_tasks.json"))),
        ]
        for values, message in cases:
            with self.subTest(message):
                self.assertEqual(self.problems(self.task_config(**values)), [message])
        # One missing level is created, as for dest.
        config = load_config(self.write_config(self.task_config(history_file="state/h.json")))
        self.assertTrue(os.path.isdir(self.path("state")))
        self.assertEqual(config.history_file, self.path("state", "h.json"))

    def test_check_and_run_never_show_a_traceback(self):
        path = self.write_config(self.task_config(task={"timeout_minutes": 1e9}))
        for module, argv in ((scheduled_task_runner, ["--check"]), (backup_now, [])):
            with self.subTest(module.PROGRAM):
                proc = subprocess.run([sys.executable, os.path.join(ROOT, module.PROGRAM + ".py"),
                                       "--config", path] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertNotIn(b"Traceback", proc.stderr)
                self.assertIn(b"timeout_minutes: must be a number above 0 and at most 10080", proc.stderr)
        self.assertFalse(os.path.exists(self.path("executed_tasks.json")))  # nothing ran


class SlowOps(fileio.Ops):
    """Each file takes a while to open, and the tenth presses Ctrl+C (the
    main thread gets KeyboardInterrupt) while the copy goes on."""

    opened = 0

    def open_read(self, path):
        self.opened += 1
        if self.opened == 10:
            _thread.interrupt_main()
        time.sleep(0.05)
        return fileio.Ops.open_read(path)


class LockSafetyTest(TempDirTestCase):
    def test_ctrl_c_while_waiting_for_the_copy_never_leaves_it_running_unlocked(self):
        # Ctrl+C reaches the thread that waits for the copy (timeout_minutes
        # puts the copy in a thread of its own): the copy is stopped before
        # the task's lock is released, and the run is recorded interrupted.
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timeout_minutes": 60}])
        for i in range(100):
            self.write("src/f%03d" % i, "x")
        # Ctrl+C raises KeyboardInterrupt even where the suite was started with
        # SIGINT ignored (a background job, as CI may start it).
        self.addCleanup(signal.signal, signal.SIGINT, signal.signal(signal.SIGINT, signal.default_int_handler))
        with self.assertRaises(KeyboardInterrupt):
            run_task(config, config.tasks[0], "manual", clock=lambda: ts("2026-11-27T10:00:00+00:00"), zone=UTC,
                     ops=SlowOps())
        self.assertEqual(os.listdir(self.path("dest")), [])  # the .partial is gone: the copy has ended
        self.assertTrue(task_lock(config, "T").is_free())
        with open(config.history_file, encoding="utf-8") as f:
            self.assertEqual([r["status"] for r in json.load(f)["runs"]], ["interrupted"])


class ConfigFuzzTest(TempDirTestCase):
    """A few hundred generated configs: --check answers 0 or 2, never a
    traceback, and a config it accepts survives backup_now --dry-run."""

    ODD = [None, True, False, 0, -1, 1, 2 ** 63, 1e308, -1e-9, 0.5, "", " ", "x", "\u0000", "\ud800",
           "\uff11\uff12:00", "C:\temp", "%NOPE_X%", "../..", [], {}, [[[]]], {"a": {"b": {}}}, ["x"],
           "*/0 * * * *", "32 23:56", "1 23:56", "12:00", "\u00b2 * * * *", 65536, 3600.5, "NaN",
           # values some keys accept, so that part of the configs are valid
           10, 60, 8765, "folder", "zip", "INFO", "127.0.0.1", ["*.tmp"], "failure", "logs/x.log"]
    KEYS = {
        "task": ["name", "src", "dest", "timestamp", "default", "incremental", "keep", "exclude", "format",
                 "allow_empty", "timeout_minutes", "verify", "unknown"],
        "top": ["missed_task_days", "retry_minutes", "history_limit", "history_file", "tasks"],
        "log": ["file", "max_bytes", "backup_count", "level"],
        "http": ["host", "port", "token", "max_connections", "request_timeout"],
        "notify": ["on", "webhook", "ping_url", "timeout", "email"],
    }

    def generate(self, rng):
        data = {"tasks": [{"name": "T", "src": "src", "dest": "dest", "default": True}]}
        for _ in range(rng.randint(1, 3)):
            section = rng.choice(sorted(self.KEYS))
            key = rng.choice(self.KEYS[section])
            value = rng.choice(self.ODD)
            if section == "task" and isinstance(data["tasks"], list) and isinstance(data["tasks"][0], dict):
                data["tasks"][0][key] = value
            elif section in ("top", "task"):
                data[key] = value
            elif isinstance(data.setdefault(section, {}), dict):
                data[section][key] = value
        return data

    def test_fuzz(self):
        os.makedirs(self.path("src"))
        self.write("src/a.txt", "a")
        rng = random.Random(20261127)
        accepted = 0
        for i in range(300):
            data = self.generate(rng)
            path = self.write_config(json.dumps(data))
            with self.subTest(i=i, config=data):
                code, out, err = run_program(scheduled_task_runner, ["--config", path, "--check"])
                self.assertIn(code, (0, 2), err)
                if code == 0:
                    accepted += 1
                    code, out, err = run_program(backup_now, ["--config", path, "--dry-run", "--all"])
                    self.assertIn(code, (0, 1, 2), err)
        self.assertGreater(accepted, 10)  # the generator also makes valid configs
        self.assertLess(accepted, 290)


class HistoryTest(TempDirTestCase):
    """A hand-edited or damaged executed_tasks.json never crashes a run."""

    def setUp(self):
        super(HistoryTest, self).setUp()
        self.config = self.make_config()
        self.write("src/a.txt", "a")
        self.clock = lambda: ts("2026-11-27T10:00:00+00:00")

    def write_history(self, doc, raw=False):
        with open(self.config.history_file, "w", encoding="utf-8") as f:
            f.write(doc if raw else json.dumps(doc))

    def history(self):
        with open(self.config.history_file, encoding="utf-8") as f:
            return json.load(f)

    def old_run(self, run_id=3, **fields):
        run = {"id": run_id, "task": "T", "status": "success", "started": "2026-11-01T23:56:00+00:00",
               "finished": "2026-11-01T23:57:00+00:00", "trigger": "schedule"}
        run.update(fields)
        return run

    def run_once(self):
        outcome = run_task(self.config, self.config.tasks[0], "manual", clock=self.clock, zone=UTC)
        self.assertEqual(outcome.status, "success")
        return outcome

    def test_next_id_that_would_reuse_an_id_is_repaired(self):
        for bad in (3, 1, "7", None, True, -5):
            with self.subTest(next_id=bad):
                self.write_history({"version": 1, "next_id": bad, "runs": [self.old_run()]})
                with self.assertLogs("task_runner.history", "WARNING") as logs:
                    outcome = self.run_once()
                self.assertEqual(outcome.run_id, 4)
                self.assertIn("next_id %s would reuse the id of an existing run; using 4" % json.dumps(bad),
                              logs.output[0])
                doc = self.history()
                self.assertEqual([(r["id"], r["status"]) for r in doc["runs"]], [(3, "success"), (4, "success")])
                self.assertEqual(doc["runs"][0]["started"], "2026-11-01T23:56:00+00:00")  # untouched
                self.assertEqual(doc["next_id"], 5)

    def test_a_run_of_the_wrong_shape_moves_the_file_aside(self):
        cases = [
            ({"version": 1, "runs": [self.old_run(task=["T"])]}, "runs[0].task is not text"),
            ({"version": 1, "runs": [self.old_run(), self.old_run()]}, "runs[1] has no whole-number id of its own"),
            ({"version": 1, "runs": [self.old_run(started=5)]}, "runs[0].started is not text"),
            ({"version": 1, "runs": [self.old_run(files="many")]}, "runs[0].files is not a whole number"),
            ({"version": 1, "runs": [self.old_run(seconds="fast")]}, "runs[0].seconds is not a number of seconds"),
            ({"version": 1, "runs": [self.old_run(seconds=True)]}, "runs[0].seconds is not a number of seconds"),
            ({"version": 1, "runs": [self.old_run(verify=[1])]}, "runs[0].verify is not an object"),
            ({"version": 1, "runs": [self.old_run(errors=[7])]}, "runs[0].errors is not a list of texts"),
            ({"version": 2, "runs": []}, "version 2, this program reads version 1"),
            ({"version": 1, "runs": [], "tasks": {"T": {"first_seen": 5}}},
             'tasks is not an object of {"first_seen": time or null} objects'),
            ("[" * 5000, "not valid JSON"),
        ]
        for doc, problem in cases:
            with self.subTest(problem):
                for name in os.listdir(self.tmp):
                    if ".corrupt-" in name:
                        os.remove(self.path(name))
                self.write_history(doc, raw=isinstance(doc, str))
                with self.assertLogs("task_runner.history", "ERROR") as logs:
                    self.run_once()
                self.assertIn("is damaged (%s); moved it to" % problem, logs.output[0])
                self.assertEqual([r["status"] for r in self.history()["runs"]], ["success"])
                self.assertEqual(len([n for n in os.listdir(self.tmp) if ".corrupt-" in n]), 1)

    def test_fuzz(self):
        rng = random.Random(1127)
        odd = [None, True, 0, -1, 2 ** 70, 1.5, "", "x", "7", [], {}, ["T"], {"a": 1}, "\ud800"]
        fields = ["id", "task", "status", "started", "finished", "scheduled_for", "trigger", "files",
                  "errors", "snapshot", "message", "seconds", "verify", "deleted"]
        for i in range(150):
            runs = [self.old_run(run_id=n + 1) for n in range(rng.randint(0, 3))]
            doc = {"version": 1, "next_id": len(runs) + 1, "runs": runs}
            for _ in range(rng.randint(1, 3)):
                where = rng.random()
                if runs and where < 0.7:
                    rng.choice(runs)[rng.choice(fields)] = rng.choice(odd)
                elif where < 0.85 and isinstance(doc, dict):
                    doc[rng.choice(["version", "next_id", "runs"])] = rng.choice(odd)
                else:
                    doc = rng.choice(odd)
            with self.subTest(i=i, doc=doc):
                self.write_history(doc)
                with self.assertLogs("task_runner", "INFO"):
                    outcome = run_task(self.config, self.config.tasks[0], "manual",
                                       clock=lambda: ts("2026-11-27T10:00:00+00:00") + i, zone=UTC)
                self.assertEqual(outcome.status, "success")
                current_report(self.config, self.clock, UTC)
                with contextlib.redirect_stdout(io.StringIO()):  # every reader of the history, --snapshots too
                    restore_cli.print_snapshots(self.config, self.config.tasks, False)
                after = self.history()
                self.assertEqual(after["runs"][-1]["id"], outcome.run_id)
                self.assertEqual(len({r["id"] for r in after["runs"]}), len(after["runs"]))


if __name__ == "__main__":
    unittest.main()
