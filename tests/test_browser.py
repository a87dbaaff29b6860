"""The status page in a real browser: headless Chromium over the DevTools
pipe (tests/browser.py). Sign in, see every task, press "Back up now", see
the run finish; no console error, no script error, no dialog, and no
request to any other origin. Skips, saying why, where there is no Chromium.

Set TASK_RUNNER_SCREENSHOT=/some/file.png to keep the screenshot."""

import json
import os
import shutil
import threading
import unittest

from task_runner.config import ConfigWatcher
from task_runner.http_api import App
from tests.browser import Chromium, find_chromium
from tests.helpers import TempDirTestCase, program_missing
from tests.test_http import Gate, serve

CHROMIUM, WHY_NOT = find_chromium()
TOKEN = "browser-test-token-0123456789"
XSS = "<img src=x onerror=alert(1)>"


class BrowserTest(TempDirTestCase):
    def setUp(self):
        super(BrowserTest, self).setUp()
        if CHROMIUM is None:
            program_missing(self, WHY_NOT)
        for i in range(30):
            self.write("src/folder/file%02d.txt" % i, "contents %d\n" % i * 50)
        config = self.make_config(tasks=[
            {"name": "Documents", "src": "src", "dest": "dest", "default": True, "timestamp": "1 23:56"},
            {"name": "Photos", "src": "src2", "dest": "dest2"},
            {"name": XSS, "src": "src3", "dest": "dest3"}])
        self.stop = threading.Event()
        self.gate = Gate()  # holds a started run until the test has seen it running
        self.app = App(ConfigWatcher(config), self.stop, begin=self.gate)
        self.server = serve(self, self.app, self.stop, self.gate, token=TOKEN)
        self.origin = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.browser = Chromium(CHROMIUM, self.path("profile"))
        self.addCleanup(self.browser.close)
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.browser.page(domain + ".enable")
        self.browser.page("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1,
                          mobile=False)

    def js(self, expression):
        return self.browser.evaluate(expression)

    def test_sign_in_see_the_tasks_back_up_now_and_watch_it_finish(self):
        b = self.browser
        b.page("Page.navigate", url=self.origin + "/")
        b.wait_for("!document.getElementById('signin').hidden")
        self.assertTrue(self.js("document.getElementById('dashboard').hidden"))

        b.evaluate("document.getElementById('token').focus()")
        b.page("Input.insertText", text=TOKEN)
        b.evaluate("document.querySelector('#signin button[type=submit]').click()")
        b.wait_for("document.querySelectorAll('#tasks article').length === 3")
        names = self.js("Array.from(document.querySelectorAll('#tasks h3')).map(h => h.textContent)")
        self.assertEqual(names, ["Documents", "Photos", XSS])
        self.assertEqual(self.js("document.images.length"), 0)  # the XSS name is text, not an <img>
        for text in self.js("Array.from(document.querySelectorAll('#tasks article')).map(a => a.innerText)"):
            self.assertIn("Last run\nnever", text)
            self.assertIn("Schedule\n", text)
        self.assertIn("monthly on day 1 at 23:56", self.js("document.querySelector('#tasks article').innerText"))
        # At a glance: the never-backed-up scheduled task needs attention.
        self.assertEqual(self.js("document.getElementById('scheduler').textContent"),
                         "1 task of 3 needs attention (see below). The scheduler is not running.")

        press = ("Array.from(document.querySelectorAll('#tasks article'))"
                 ".find(a => a.querySelector('h3').textContent === 'Documents').querySelector('button').click()")
        b.evaluate(press)
        progress = ("Array.from(document.querySelectorAll('#tasks article'))"
                    ".find(a => a.querySelector('h3').textContent === 'Documents').querySelector('.progress').textContent")
        running = b.wait_for("(%s).startsWith('Backing up (run 1): ') && (%s)" % (progress, progress))
        self.assertEqual(running, "Backing up (run 1): 0 files, 0 bytes (0 copied, 0 linked)")
        self.assertTrue(self.js("document.querySelector('#tasks article button').disabled"))
        self.gate.open.set()
        finished = b.wait_for("(%s).includes('finished') && (%s)" % (progress, progress), timeout=60)
        self.assertRegex(finished, r"^Run 1 finished: success\. 30 files \(30 copied, 0 linked\)")
        b.wait_for("document.querySelector('#runs tbody td.status') && "
                   "document.querySelector('#runs tbody td.status').textContent === 'success'")
        b.wait_for("document.querySelector('#tasks article').className === 'task success'")
        b.wait_for("document.getElementById('scheduler').textContent.startsWith('No task needs attention.')")
        b.wait_for("document.getElementById('snapshots').textContent.includes('30 files')")
        self.assertTrue(os.path.isdir(self.path("dest")))

        shot = self.path("status-page.png")
        b.screenshot(shot)
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        if os.environ.get("TASK_RUNNER_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["TASK_RUNNER_SCREENSHOT"])

        # Pressed while the task already runs (started elsewhere): the 409
        # shows as "Already running" and that run is followed to its end.
        self.gate.open.clear()
        status, started = self.app.trigger("Photos")[:2]
        self.assertEqual(status, 202)
        photos = ("Array.from(document.querySelectorAll('#tasks article'))"
                  ".find(a => a.querySelector('h3').textContent === 'Photos')")
        # As if pressed before the page's next refresh saw the run.
        b.evaluate("(b => { b.disabled = false; b.click(); })((%s).querySelector('button'))" % photos)
        shown = b.wait_for("(%s).querySelector('.progress').textContent.startsWith('Already running') && "
                           "(%s).querySelector('.progress').textContent" % (photos, photos))
        self.assertTrue(shown.startswith("Already running (run %d)" % started["run_id"]), shown)
        self.gate.open.set()
        b.wait_for("(%s).querySelector('.progress').textContent.startsWith('Run %d finished: success')"
                   % (photos, started["run_id"]))

        b.evaluate("document.getElementById('signout').click()")
        b.wait_for("!document.getElementById('signin').hidden")
        self.assertEqual(len(self.server.sessions), 0)

        self.assert_clean_console()

    def assert_clean_console(self):
        b = self.browser
        # The one answer >= 400 the page asks for (Chromium logs each as an
        # error): the 409 of pressing "Back up now" on a running task.
        expected = {"url": self.origin + "/trigger/Photos", "source": "network",
                    "text": "Failed to load resource: the server responded with a status of 409 (Conflict)"}
        errors = [e["params"]["entry"] for e in b.page_events("Log.entryAdded")
                  if e["params"]["entry"].get("level") == "error"]
        self.assertEqual(len([e for e in errors if expected.items() <= e.items()]), 1, errors)
        errors = [e for e in errors if not expected.items() <= e.items()]
        errors += [e["params"] for e in b.page_events("Runtime.consoleAPICalled")
                   if e["params"].get("type") in ("error", "assert")]
        errors += [e["params"]["exceptionDetails"] for e in b.page_events("Runtime.exceptionThrown")]
        self.assertEqual(errors, [], json.dumps(errors, indent=1)[:2000])
        self.assertEqual(b.page_events("Page.javascriptDialogOpening"), [])
        urls = [e["params"]["request"]["url"] for e in b.page_events("Network.requestWillBeSent")]
        self.assertIn(self.origin + "/page.js", urls)
        self.assertIn(self.origin + "/trigger/Documents", urls)
        self.assertEqual([u for u in urls if not u.startswith(self.origin + "/")], [])


if __name__ == "__main__":
    unittest.main()
