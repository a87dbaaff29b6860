"""GET /metrics on a real socket, read by a small strict parser of the
Prometheus text format 0.0.4."""

import http.client
import re
import unittest

from tests.test_http import TOKEN, HttpTestCase

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def parse(text):
    """{family: {"type", "help", "samples": {labels tuple: value}}}; raises
    AssertionError on anything the format does not allow: a sample without a
    declared family, a bad label, a duplicate series."""
    families, current = {}, None
    assert text.endswith("\n"), "the text must end with a newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families, "family declared twice: " + name
            families[name] = {"help": help_text, "type": None, "samples": {}}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current and kind in ("gauge", "counter"), line
            families[name]["type"] = kind
        else:
            m = _SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            name, _, body, value = m.groups()
            assert name == current and families[name]["type"], "sample outside its family: " + line
            labels = []
            rest = body or ""
            while rest:
                lm = _LABEL.match(rest)
                assert lm, "bad labels in %r" % line
                labels.append((lm.group(1), lm.group(2).replace('\\"', '"').replace("\\n", "\n")
                               .replace("\\\\", "\\")))
                rest = rest[lm.end():]
            key = tuple(labels)
            assert key not in families[name]["samples"], "duplicate series: " + line
            families[name]["samples"][key] = float(value)
    return families


class MetricsTest(HttpTestCase):
    def setUp(self):
        super(MetricsTest, self).setUp()
        # A task name that needs escaping, to prove the labels are escaped.
        self.config = self.make_config(tasks=[
            {"name": "T", "src": "src", "dest": "dest", "default": True},
            {"name": 'Odd "name" \\ here', "src": "src2", "dest": "dest2"}])
        self.app.watcher.config = self.config

    def get(self, token=TOKEN):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + token} if token else {})
        resp = conn.getresponse()
        data = resp.read().decode("utf-8")
        conn.close()
        return resp, data

    def test_format_and_values(self):
        self.assertEqual(self.request("POST", "/trigger?wait=10")[0], 200)
        resp, text = self.get()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        families = parse(text)
        t = (("task", "T"),)
        self.assertEqual(families["task_runner_snapshots"]["samples"][t], 1.0)
        self.assertEqual(families["task_runner_last_run_files"]["samples"][t], 1.0)
        self.assertEqual(families["task_runner_running"]["samples"][t], 0.0)
        status = families["task_runner_last_run_status"]
        self.assertEqual(status["type"], "gauge")
        self.assertEqual(status["samples"][t + (("status", "success"),)], 1.0)
        self.assertEqual(status["samples"][t + (("status", "failed"),)], 0.0)
        self.assertEqual(families["task_runner_runs_total"]["type"], "counter")
        self.assertEqual(families["task_runner_runs_total"]["samples"][t + (("status", "success"),)], 1.0)
        self.assertGreater(families["task_runner_last_success_timestamp_seconds"]["samples"][t], 1.7e9)
        self.assertEqual(families["task_runner_scheduler_up"]["samples"][()], 0.0)
        odd = (("task", 'Odd "name" \\ here'),)
        self.assertEqual(families["task_runner_snapshots"]["samples"][odd], 0.0)
        self.assertIn('task="Odd \\"name\\" \\\\ here"', text)

    def test_the_parser_is_strict(self):
        good = '# HELP a_b x\n# TYPE a_b gauge\na_b{task="q\\"t"} 1\n'
        self.assertEqual(parse(good)["a_b"]["samples"][(("task", 'q"t'),)], 1.0)
        for bad in ("a_b 1\n", good + 'a_b{task="q\\"t"} 2\n', good.replace("gauge", "blah"),
                    good.replace('"q\\"t"', '"q"t"'), good.rstrip("\n")):
            with self.subTest(bad=bad):
                with self.assertRaises(AssertionError):
                    parse(bad)

    def test_token_rules_as_for_status(self):
        resp, _ = self.get(token=None)
        self.assertEqual(resp.status, 401)


if __name__ == "__main__":
    unittest.main()
