import json
import os
import subprocess
import sys
import unittest

from task_runner.config import load_config, select_tasks
from task_runner.errors import ConfigError, UsageError
from tests.helpers import ROOT, TempDirTestCase

# The issue's example, with folders of this system (C:/ is not one on POSIX).
DRIVE = "C:/" if os.name == "nt" else "/srv/"
EXAMPLE = {"tasks": [
    {"name": "MD1", "src": DRIVE + "source_directory", "dest": DRIVE + "backup_directory", "timestamp": "1 23:56"},
    {"name": "MD15", "src": DRIVE + "source_directory2", "dest": DRIVE + "backup_directory2",
     "timestamp": "15 12:00"},
    {"name": "Default Task", "src": DRIVE + "default_src", "dest": DRIVE + "default_dest", "default": True}],
    "missed_task_days": 5}


def shipped_sample(test):
    """The text of config.json as shipped (git's version, not the user's
    edited file); skips ``test`` where there is no git checkout."""
    try:
        shipped = subprocess.run(["git", "show", "HEAD:config.json"], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
    except OSError:  # no git (the Windows lane)
        shipped = None
    if shipped is None or shipped.returncode != 0:
        test.skipTest("no git checkout: the shipped sample cannot be told from the user's file")
    return shipped.stdout.decode("utf-8")


class LoadTest(TempDirTestCase):
    def problems(self, data):
        with self.assertRaises(ConfigError) as ctx:
            load_config(self.write_config(data))
        return ctx.exception.problems

    def test_the_issue_example_loads(self):
        config = load_config(self.write_config(EXAMPLE))
        self.assertEqual([t.name for t in config.tasks], ["MD1", "MD15", "Default Task"])
        self.assertEqual(config.missed_task_days, 5)
        self.assertEqual(config.retry_minutes, 60)
        self.assertEqual(config.history_limit, 100)
        self.assertIsNone(config.tasks[2].schedule)
        self.assertTrue(config.tasks[2].default)
        self.assertEqual(config.history_file, self.path("executed_tasks.json"))
        self.assertEqual(config.log.file, self.path("scheduled_task_runner.log"))
        self.assertEqual(config.log.max_bytes, 1024 * 1024)
        self.assertEqual(config.log.backup_count, 5)

    def test_shipped_sample_config_is_valid_everywhere(self):
        # A copy of the sample as shipped (git's version, not the user's
        # edited file): valid on every system (its one task, an example,
        # points into the user's home), where it was six errors on POSIX.
        path = self.write_config(shipped_sample(self))
        config = load_config(path)
        self.assertEqual([t.name for t in config.tasks], ["Example"])
        self.assertEqual(config.tasks[0].src, os.path.join(os.path.expanduser("~"), "Documents"))

    def test_path_mistakes(self):
        os.environ.pop("TASK_RUNNER_UNSET", None)
        # (the text of the path in config.json, the whole message)
        cases = [
            (r"C:\temp\files", r'"C:\temp\files" holds a control character where a backslash was meant: in JSON '
             r'a single backslash starts an escape (\t, \b, \f, \n, \r). Write "C:/temp/files" or '
             r'"C:\\temp\\files"'),
            (r"s\u0000x", r'"s\u0000x" holds the control character U+0000: remove it'),
            (r"x\ud800", r'"x\ud800" holds a lone surrogate (\ud800-\udfff), which is not text: remove it'),
            ("%TASK_RUNNER_UNSET%/b", '"%TASK_RUNNER_UNSET%/b" uses the environment variable TASK_RUNNER_UNSET, '
             'which is not set here: set it, or write the folder out in full'),
            ("$TASK_RUNNER_UNSET/b", '"$TASK_RUNNER_UNSET/b" uses the environment variable TASK_RUNNER_UNSET, '
             'which is not set here: set it, or write the folder out in full'),
        ]
        if os.name != "nt":
            cases.append(("C:/data", '"C:/data" looks like a Windows path, but this is %s: write a path of this '
                          'system, such as "/mnt/backup"' % sys.platform))
        for raw, message in cases:
            with self.subTest(raw):
                text = '{"tasks": [{"src": "%s", "dest": "d"}]}' % raw
                self.assertEqual(self.problems(text), ["tasks[0].src: " + message])

    def test_a_name_with_a_control_character_is_a_config_error(self):
        # Issue 20: an ESC in a name reached the log raw ("[T2^[[31mred] run 1 started").
        for raw, message in [(r"T2\u001b[31mred", r'"T2\u001b[31mred" holds the control character U+001B: remove it'),
                             (r"a\tb", r'"a\tb" holds the control character U+0009: remove it')]:
            with self.subTest(raw):
                text = '{"tasks": [{"name": "%s", "src": "s", "dest": "d"}]}' % raw
                self.assertEqual(self.problems(text), ["tasks[0].name: " + message])

    def test_names_with_invisible_characters_or_too_long_are_config_errors(self):
        # Found from outside: U+202E (right-to-left override) was accepted, escaped in the log but raw in
        # JSON and on the page; a 5,000-character name flooded every log line.
        for raw, message in [
                (r"a\u202eb", r'"a\u202eb" holds the invisible or formatting character U+202E: remove it'),
                (r"a\u00a0b", r'"a\u00a0b" holds the invisible or formatting character U+00A0: remove it'),
                ("x" * 101, '"%s..." is 101 characters long: a name may have 100 at most' % ("x" * 20))]:
            with self.subTest(raw[:10]):
                text = '{"tasks": [{"name": "%s", "src": "s", "dest": "d"}]}' % raw
                self.assertEqual(self.problems(text), ["tasks[0].name: " + message])

    def test_dot_and_dotdot_are_paths(self):
        # Found from outside: "src": "." was refused as if it were a task's name.
        config = load_config(self.write_config({"tasks": [{"name": "Docs", "src": ".", "dest": "../bk"}]}))
        self.assertEqual((config.tasks[0].src, config.tasks[0].dest),
                         (self.tmp, os.path.join(os.path.dirname(self.tmp), "bk")))

    def test_defaults_and_relative_paths(self):
        config = load_config(self.write_config({"tasks": [{"src": "a", "dest": "b"}],
                                                "_comment": "ignored"}))
        task = config.tasks[0]
        self.assertEqual(task.name, "a -> b")
        self.assertEqual(task.src, self.path("a"))
        self.assertEqual(task.dest, self.path("b"))
        self.assertFalse(task.default)
        self.assertEqual(config.missed_task_days, 5)

    def test_optional_top_level_keys(self):
        config = load_config(self.write_config({
            "tasks": [{"src": "a", "dest": "b"}], "history_file": "state/h.json", "history_limit": 3,
            "retry_minutes": 0, "missed_task_days": 0,
            "log": {"file": "logs/x.log", "max_bytes": 2048, "backup_count": 0, "level": "debug"}}))
        self.assertEqual(config.history_file, self.path("state", "h.json"))
        self.assertEqual(config.lock_dir, self.path("state", ".locks"))
        self.assertEqual(config.log.file, self.path("logs", "x.log"))
        self.assertEqual(config.log.level, "DEBUG")
        self.assertEqual((config.history_limit, config.retry_minutes, config.missed_task_days), (3, 0, 0))

    def test_http_section(self):
        config = load_config(self.write_config({"tasks": [{"src": "a", "dest": "b"}]}))
        self.assertEqual((config.http.host, config.http.port, config.http.token), ("127.0.0.1", 8765, None))
        config = load_config(self.write_config({"tasks": [{"src": "a", "dest": "b"}],
                                                "http": {"host": "0.0.0.0", "port": 9000, "token": "t"}}))
        self.assertEqual((config.http.host, config.http.port, config.http.token), ("0.0.0.0", 9000, "t"))
        problems = "\n".join(self.problems({"tasks": [{"src": "a", "dest": "b"}],
                                            "http": {"prot": 1, "tls_cert": "c.pem"}}))
        self.assertIn('http: unknown key "prot": did you mean "port"?', problems)
        self.assertIn("set both tls_cert and tls_key", problems)

    def test_notify_section_and_task_keys(self):
        config = load_config(self.write_config({
            "tasks": [{"src": "a", "dest": "b", "timeout_minutes": 90, "verify": True}],
            "notify": {"on": "always", "webhook": "https://example.com/hook", "email": {
                "smtp_host": "smtp.example.com", "from": "b@example.com", "to": ["me@example.com"]}}}))
        self.assertEqual((config.tasks[0].timeout_minutes, config.tasks[0].verify), (90, True))
        self.assertEqual(config.tasks[0].parallel, "auto")
        self.assertEqual(config.notify.on, "always")
        self.assertEqual((config.notify.email.smtp_port, config.notify.email.starttls), (587, True))
        self.assertEqual(config.notify.email.sender, "b@example.com")
        problems = "\n".join(self.problems({"tasks": [{"src": "a", "dest": "b", "timeout_minutes": 0}],
                                            "notify": {"on": "sometimes", "ping_url": "hc-ping.com/x",
                                                       "email": {"smtp_host": "h", "to": "me"}}}))
        self.assertIn("timeout_minutes: must be a number above 0 and at most 10080, got 0", problems)
        self.assertIn('notify.on: must be one of failure, always, got "sometimes"', problems)
        self.assertIn("notify.ping_url: must be an http:// or https:// address", problems)
        self.assertIn('notify.email: missing required key "from"', problems)
        self.assertIn("notify.email.to: must be a list of e-mail addresses", problems)
        config = load_config(self.write_config({"tasks": [{"src": "a", "dest": "b", "parallel": 12}]}))
        self.assertEqual(config.tasks[0].parallel, 12)

    def test_offsite_key(self):
        config = load_config(self.write_config({"rclone": "tools/rclone", "tasks": [
            {"name": "A", "src": "a", "dest": "b", "keep": {"last": 3}, "offsite": "b2:bucket/pc1"},
            {"name": "B", "src": "c", "dest": "d", "keep": {"last": 3}, "offsite": {
                "remote": "nas:backups/B", "keep": {"last": 9}, "bwlimit": "4M", "timeout_minutes": 30}},
            {"name": "C", "src": "e", "dest": "f"}]}))
        a, b, c = config.tasks
        self.assertEqual(config.rclone, self.path("tools", "rclone"))
        self.assertEqual((a.offsite.remote, a.offsite.keep), ("b2:bucket/pc1", a.keep))  # the local keep
        self.assertEqual((b.offsite.keep.last, b.offsite.bwlimit, b.offsite.timeout_minutes), (9, "4M", 30))
        self.assertIsNone(c.offsite)
        cases = [
            ("nopath", '"nopath" is not an rclone remote path: write the remote\'s name'),
            ("C:/x", "one-letter name, which rclone takes for a Windows drive"),
            ("bad|name:x", '"bad|name" is not a remote name rclone accepts'),
            (5, "must be an rclone remote path such as"),
            ({}, 'offsite: missing required key "remote"'),
            ({"remote": "nas:x", "bwlimit": "fast"}, 'bwlimit: must be a bandwidth for rclone such as "4M"'),
            ({"remote": "nas:x", "kep": 1}, 'unknown key "kep": did you mean "keep"?'),
            ({"remote": "nas:x", "keep": {"lats": 1}}, "keep"),
        ]
        for value, expected in cases:
            with self.subTest(value=value):
                text = "\n".join(self.problems({"tasks": [{"name": "X", "src": "a", "dest": "b",
                                                            "offsite": value}]}))
                self.assertIn("tasks[0] (X).offsite", text)
                self.assertIn(expected, text)

    def test_every_problem_reported_at_once_with_its_path(self):
        problems = self.problems({"tasks": [
            {"name": "MD1", "src": "a", "dest": "b", "timestamp": "1 23:56"},
            {"name": "MD15", "src": "c", "dest": "d", "timestamp": "32 12:00", "defualt": True},
            {"dest": "e"}], "missed_task_days": -1, "retry_minutes": "60"})
        text = "\n".join(problems)
        self.assertIn("tasks[1] (MD15).timestamp: day must be 1-31, got 32", text)
        self.assertIn('tasks[1] (MD15): unknown key "defualt": did you mean "default"?', text)
        self.assertIn('tasks[2]: missing required key "src"', text)
        self.assertIn("config.missed_task_days: must be from 0 to 3650, got -1", text)
        self.assertIn('config.retry_minutes: must be a whole number from 0 to 10080, got "60"', text)
        self.assertEqual(len(problems), 5)

    def test_value_types(self):
        cases = [
            ({"default": "yes"}, 'default: must be true or false (no quotes), got "yes"'),
            ({"src": ""}, "src: must be a non-empty string"),
            ({"timestamp": 5}, "timestamp: must be a string"),
            ({"nmae": "x"}, 'did you mean "name"?'),
            ({"parallel": 0}, 'parallel: must be "auto" or a number of workers from 1 to 64, got 0'),
            ({"parallel": "8"}, 'parallel: must be "auto" or a number of workers from 1 to 64, got "8"'),
            ({"when_connected": "yes"}, 'when_connected: must be true or false (no quotes), got "yes"'),
            ({"when_connected_hours": 0}, "when_connected_hours: must be a number above 0 and at most 8784, got 0"),
        ]
        for extra, expected in cases:
            with self.subTest(extra=extra):
                task = dict({"src": "a", "dest": "b"}, **extra)
                self.assertIn(expected, "\n".join(self.problems({"tasks": [task]})))
        self.assertIn("config.history_limit: must be a whole number from 1 to 100000, got true",
                      "\n".join(self.problems({"tasks": [{"src": "a", "dest": "b"}], "history_limit": True})))
        self.assertIn('log: unknown key "size"',
                      "\n".join(self.problems({"tasks": [{"src": "a", "dest": "b"}], "log": {"size": 1}})))
        self.assertIn('config: unknown key "tsks"', "\n".join(self.problems({"tsks": []})))

    def test_overlapping_folders(self):
        cases = [
            ({"src": "data", "dest": "data/backup"}, "is inside src"),
            ({"src": "data/docs", "dest": "data"}, "is inside dest"),
            ({"src": "data", "dest": "data"}, "is inside src"),
        ]
        for task, expected in cases:
            with self.subTest(task=task):
                self.assertIn(expected, "\n".join(self.problems({"tasks": [task]})))
        # A sibling whose name starts the same is not inside.
        load_config(self.write_config({"tasks": [{"src": "data", "dest": "data2"}]}))

    @unittest.skipUnless(os.name == "nt", "paths are case-insensitive only on Windows")
    def test_overlap_is_case_insensitive_on_windows(self):
        self.assertIn("is inside src", "\n".join(self.problems({"tasks": [{"src": "Data", "dest": "data/b"}]})))

    def test_shared_dest_and_duplicate_names(self):
        problems = "\n".join(self.problems({"tasks": [
            {"name": "A", "src": "a", "dest": "out"}, {"name": "A", "src": "b", "dest": "./out"}]}))
        self.assertIn("is also the dest of tasks[0] (A)", problems)
        self.assertIn('tasks[1] (A).name: "A" is already used by tasks[0] (A)', problems)

    def test_a_shared_offsite_remote(self):
        """Found from outside: one task's remote retention deleted the other's
        only copy, and a restore of one gave the other's files."""
        problems = "\n".join(self.problems({"tasks": [
            {"name": "A", "src": "a", "dest": "outa", "offsite": "nas:backups/shared"},
            {"name": "B", "src": "b", "dest": "outb", "offsite": "nas:backups/shared/"},
            {"name": "C", "src": "c", "dest": "outc", "offsite": "nas:backups//./shared"}]}))
        self.assertIn("tasks[1] (B).offsite: nas:backups/shared/ is also the offsite copy of tasks[0] (A)", problems)
        self.assertIn("tasks[2] (C).offsite: nas:backups//./shared is also the offsite copy of tasks[0] (A)", problems)
        load_config(self.write_config({"tasks": [{"name": "A", "src": "a", "dest": "outa", "offsite": "nas:x"},
                                                 {"name": "B", "src": "b", "dest": "outb", "offsite": "nas:xy"}]}))

    def test_a_backslash_in_a_remote_path_is_a_separator_only_on_windows(self):
        """Found from outside: "nas:x\\" and "nas:x" were called one folder on
        Linux, where a backslash is part of a name (rclone keeps it so)."""
        data = {"tasks": [{"name": "A", "src": "a", "dest": "outa", "offsite": "nas:x\\"},
                          {"name": "B", "src": "b", "dest": "outb", "offsite": "nas:x"}]}
        if os.name == "nt":
            self.assertIn("is also the offsite copy of tasks[0] (A)", "\n".join(self.problems(data)))
        else:
            self.assertEqual([t.name for t in load_config(self.write_config(data)).tasks], ["A", "B"])

    def test_json_syntax_error_has_line_and_column(self):
        path = self.write_config('{"tasks": [\n  {"src": "a" "dest": "b"}\n]}')
        with self.assertRaises(ConfigError) as ctx:
            load_config(path)
        self.assertIn("line 2, column 15", str(ctx.exception))
        self.assertIn("comma", str(ctx.exception))

    def test_backslash_path_hint(self):
        path = self.write_config('{"tasks": [{"src": "C:\\data", "dest": "D:\\backup"}]}')
        with self.assertRaises(ConfigError) as ctx:
            load_config(path)
        self.assertIn("forward slashes", str(ctx.exception))

    def test_missing_file_bom_and_duplicates(self):
        with self.assertRaises(ConfigError) as ctx:
            load_config(self.path("nope.json"))
        self.assertIn("config file not found", str(ctx.exception))
        with open(self.path("bom.json"), "wb") as f:
            f.write(b"\xef\xbb\xbf" + json.dumps({"tasks": [{"src": "a", "dest": "b"}]}).encode())
        self.assertEqual(len(load_config(self.path("bom.json")).tasks), 1)
        with open(self.path("latin.json"), "wb") as f:
            f.write(b'{"tasks": [{"src": "caf\xe9", "dest": "b"}]}')
        with self.assertRaises(ConfigError) as ctx:
            load_config(self.path("latin.json"))
        self.assertIn("UTF-8", str(ctx.exception))
        path = self.write_config('{"tasks": [{"src": "a", "src": "c", "dest": "b"}]}')
        with self.assertRaises(ConfigError) as ctx:
            load_config(path)
        self.assertIn('key "src" appears twice', str(ctx.exception))
        with self.assertRaises(ConfigError):
            load_config(self.write_config("[]"))
        with self.assertRaises(ConfigError) as ctx:
            load_config(self.write_config({"tasks": []}))
        self.assertIn("non-empty list", str(ctx.exception))


class SelectTest(TempDirTestCase):
    def setUp(self):
        super(SelectTest, self).setUp()
        self.config = load_config(self.write_config(EXAMPLE))

    def names(self, *args, **kw):
        return [t.name for t in select_tasks(self.config, *args, **kw)]

    def test_selection(self):
        self.assertEqual(self.names(), ["Default Task"])
        self.assertEqual(self.names(run_all=True), ["MD1", "MD15", "Default Task"])
        self.assertEqual(self.names(["MD15", "MD1"]), ["MD1", "MD15"])  # config order
        self.assertEqual(self.names(["md15"]), ["MD15"])
        with self.assertRaises(UsageError) as ctx:
            select_tasks(self.config, ["MD2"])
        self.assertIn('did you mean "MD1"', str(ctx.exception))
        self.assertIn('"Default Task"', str(ctx.exception))

    def test_no_default(self):
        config = load_config(self.write_config({"tasks": [{"name": "A", "src": "a", "dest": "b"}]}))
        with self.assertRaises(UsageError) as ctx:
            select_tasks(config)
        self.assertIn('(one of: "A")', str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
