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

from task_runner.config.watch import ConfigWatcher
from task_runner.http.api import App
from tests.browser import Chromium, find_chromium
from tests.helpers import TempDirTestCase, program_missing, wait_for
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
                         "Needs attention: Documents. The scheduler is not running.")
        self.assertEqual(self.js("document.getElementById('scheduler').className"), "banner bad")

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
        self.assertEqual([u for u in urls if not u.startswith((self.origin + "/", "blob:" + self.origin + "/"))], [])

    def test_files_back_from_a_snapshot_and_the_page_at_two_widths(self):
        from task_runner.runs.runner import run_task
        config = self.app.watcher.current()
        self.assertEqual(run_task(config, config.tasks[0], "manual").status, "success")
        os.rmdir(self.path("src2"))
        self.assertEqual(run_task(config, config.tasks[1], "manual").status, "failed")  # src2 is missing
        downloads = self.path("downloads")
        os.makedirs(downloads)
        b = self.browser
        b.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=downloads)
        b.page("Page.navigate", url=self.origin + "/")
        b.wait_for("!document.getElementById('signin').hidden")
        b.evaluate("document.getElementById('token').focus()")
        b.page("Input.insertText", text=TOKEN)
        b.evaluate("document.querySelector('#signin button[type=submit]').click()")
        b.wait_for("document.getElementById('scheduler').textContent.startsWith('Needs attention: Photos.')")
        self.assertEqual(self.js("document.getElementById('scheduler').className"), "banner bad")
        photos = ("Array.from(document.querySelectorAll('#tasks article'))"
                  ".find(a => a.querySelector('h3').textContent === 'Photos')")
        self.assertEqual(self.js("getComputedStyle((%s).querySelector('.status.failed')).color" % photos),
                         "rgb(207, 34, 46)")  # the failure colour, --bad
        self.assertEqual(self.js("Array.from((%s).querySelectorAll('.warnings li')).map(li => li.textContent)"
                                 % photos), ["the source folder %s does not exist right now: is its drive "
                                             "connected?" % self.path("src2")])  # not again as "the last run failed"
        documents = photos.replace("'Photos'", "'Documents'")
        self.assertRegex(self.js("(%s).innerText" % documents), r"Last success\n.*\((just now|1 minute ago)\)")
        self.assertGreater(self.js("(%s).querySelectorAll('.path wbr').length" % documents), 0)

        # A name that is not valid UTF-8 reaches the page as a lone surrogate: sent as its bytes, not thrown on.
        self.assertEqual(self.js("encodeName('a b/\\udcff\\ud83d\\ude00')"), "a%20b%2F%ED%B3%BF%F0%9F%98%80")
        b.wait_for("!!document.querySelector('#snapshots button.link')")
        b.evaluate("document.querySelector('#snapshots button.link').click()")
        b.wait_for("!document.getElementById('files').hidden && "
                   "document.querySelectorAll('#files-list tbody tr').length === 1")
        b.evaluate("document.querySelector('#files-list button.link').click()")  # into folder/
        b.wait_for("document.querySelectorAll('#files-list tbody tr').length === 30")
        b.evaluate("Array.from(document.querySelectorAll('#files-list tr')).find(r => r.cells[0].textContent === "
                   "'file07.txt').querySelector('td.actions button').click()")
        b.wait_for("document.getElementById('files-status').textContent.startsWith('Downloaded file07.txt')")
        self.assertTrue(wait_for(lambda: os.listdir(downloads) == ["file07.txt"]), os.listdir(downloads))
        with open(os.path.join(downloads, "file07.txt"), "rb") as got, \
                open(self.path("src", "folder", "file07.txt"), "rb") as want:
            self.assertEqual(got.read(), want.read())
        b.evaluate("Array.from(document.querySelectorAll('#files-where button'))"
                   ".find(x => x.textContent === 'Restore this folder').click()")
        # It asks what and where first, and says what it would do; nothing is written until "Restore".
        asked = b.wait_for("!document.getElementById('ra-go').disabled && "
                           "document.getElementById('ra-preview').textContent")
        self.assertRegex(asked, r"^Into the new folder .*Restored .*: 30 files \(.*\) to write\.$")
        self.assertRegex(self.js("document.getElementById('ra-what').textContent"),
                         r"^Restore folder from the copy of .*2.*:$")
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("Restored ")], [])
        self.js("document.getElementById('ra-original').click()")
        b.wait_for("document.getElementById('ra-preview').textContent.startsWith('Back into ')")
        self.js("document.getElementById('ra-new').click()")
        b.wait_for("!document.getElementById('ra-go').disabled && "
                   "document.getElementById('ra-preview').textContent.startsWith('Into the new folder')")
        self.js("(b => { b.click(); b.click(); })(document.getElementById('ra-go'))")  # a double click: one restore
        done = b.wait_for("document.getElementById('files-status').textContent.startsWith('Restored') && "
                          "document.getElementById('files-status').textContent", timeout=60)
        self.assertRegex(done, r"^Restored 30 files \(.*\) into .*Restored ")
        restored = [n for n in os.listdir(self.tmp) if n.startswith("Restored ")]
        self.assertEqual(len(restored), 1)
        self.assertEqual(len(os.listdir(self.path(restored[0], "folder"))), 30)
        self.js("Array.from(document.querySelectorAll('#files-where button'))"
                ".find(x => x.textContent === 'Restore this folder').click()")  # asked again, not started
        b.wait_for("!document.getElementById('ra-go').disabled")
        self.assertEqual(len([n for n in os.listdir(self.tmp) if n.startswith("Restored ")]), 1)

        # Every snapshot can be browsed, ten more at a time, each with its date beside its size.
        for day in range(1, 13):
            os.makedirs(self.path("dest", "2026-11-%02d_10-00-00" % day))
        self.js("ticks = 0; refresh()")
        documents_list = "document.querySelector('#snapshots .snapshots-of ul')"
        b.wait_for("%s && %s.querySelectorAll('li').length === 11" % (documents_list, documents_list))
        first = self.js("%s.querySelector('li').textContent" % documents_list)
        self.assertRegex(first, r"^\w{3}, .*2026.*: 30 files, [0-9.]+ KiB, success Browse$")
        self.js("%s.querySelector('li:last-child button').click()" % documents_list)
        b.wait_for("%s.querySelectorAll('li').length === 13" % documents_list)  # 13, no "older" left
        self.assertIn("Nov 1, 2026", self.js("%s.querySelector('li:last-child').textContent" % documents_list))

        for width in (390, 1280):  # a phone, a laptop: nothing wider than the window
            b.page("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                   mobile=width < 600)
            b.wait_for("window.innerWidth === %d" % width)
            self.assertLessEqual(self.js("document.documentElement.scrollWidth"), width)
            shot = self.path("status-page-%d.png" % width)
            b.screenshot(shot)
            if os.environ.get("TASK_RUNNER_SCREENSHOT_DIR"):
                shutil.copyfile(shot, os.path.join(os.environ["TASK_RUNNER_SCREENSHOT_DIR"], os.path.basename(shot)))
        errors = [e["params"]["entry"] for e in b.page_events("Log.entryAdded")
                  if e["params"]["entry"].get("level") == "error"]
        errors += [e["params"]["exceptionDetails"] for e in b.page_events("Runtime.exceptionThrown")]
        self.assertEqual(errors, [], json.dumps(errors, indent=1)[:2000])


    def fill(self, element_id, value):
        """Type ``value`` into a field as a person would (the input event fires)."""
        self.js("(e => { e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true})); "
                "e.dispatchEvent(new Event('change', {bubbles: true})); })(document.getElementById(%s))"
                % (json.dumps(value), json.dumps(element_id)))

    def click_text(self, selector, text):
        """Click the visible button of that text, once it is there."""
        self.browser.wait_for("(b => b ? (b.click(), true) : false)(Array.from(document.querySelectorAll(%s))"
                              ".find(b => b.textContent === %s && b.offsetParent !== null))"
                              % (json.dumps(selector), json.dumps(text)))

    def test_add_a_backup_by_browsing_run_it_change_its_schedule_and_delete_it(self):
        from task_runner.config import edit as config_edit
        self.gate.open.set()
        self.write("Pictures/cat.jpg", "meow")
        os.makedirs(self.path("backups"))
        b = self.browser
        b.page("Page.navigate", url=self.origin + "/#add")
        b.wait_for("!document.getElementById('signin').hidden")
        b.evaluate("document.getElementById('token').focus()")
        b.page("Input.insertText", text=TOKEN)
        b.evaluate("document.querySelector('#signin button[type=submit]').click()")
        b.wait_for("!document.getElementById('editor').hidden")  # opened on Add a backup (#add)
        self.assertEqual(self.js("document.getElementById('ed-title').textContent"), "Add a backup")
        self.fill("ed-name", "Pictures")
        # The folder to back up and the backup drive, chosen by browsing the server's folders.
        self.fill("ed-src", self.tmp)
        self.js("document.querySelector('[data-browse=ed-src]').click()")
        self.click_text("#ch-list button", "Pictures")
        b.wait_for("document.getElementById('ch-where').textContent === %s" % json.dumps(
            "In %s:" % self.path("Pictures")))
        self.js("document.getElementById('ch-choose').click()")
        self.assertEqual(self.js("document.getElementById('ed-src').value"), self.path("Pictures"))
        self.fill("ed-dest", "")
        self.js("document.querySelector('[data-browse=ed-dest]').click()")
        b.wait_for("document.getElementById('ch-where').textContent.startsWith('Choose a drive')")
        self.assertIn("free", self.js("document.getElementById('ch-list').textContent"))
        self.js("document.querySelector('#ch-list button').click()")  # the user's home
        b.wait_for("document.getElementById('ch-where').textContent === %s" % json.dumps(
            "In %s:" % os.path.expanduser("~")))
        self.fill("ed-dest", self.path("Backup"))  # typed; "Browse..." opens the folder it would be made in
        self.js("document.querySelector('[data-browse=ed-dest]').click()")
        b.wait_for("document.getElementById('ch-where').textContent === %s" % json.dumps("In %s:" % self.tmp))
        self.click_text("#ch-choose", "Back up into the folder Pictures here")  # it is there: not "a new" one
        self.assertEqual(self.js("document.getElementById('ed-dest').value"), self.path("Pictures") + "")
        # Into the task's own folder of the chosen one: tmp/Pictures is the source itself, so check says no.
        problem = b.wait_for("document.querySelector('.field-problem[data-field=dest]').textContent.includes("
                             "'is inside src') && document.querySelector('.field-problem[data-field=dest]').textContent")
        self.assertEqual(problem, "tasks[3] (Pictures).dest: %s is inside src %s: each backup would contain the "
                                  "previous ones; choose a dest outside the source folder"
                         % (self.path("Pictures"), self.path("Pictures")))  # check's own words
        self.js("document.querySelector('[data-browse=ed-dest]').click()")  # opens where the new folder would be
        b.wait_for("document.getElementById('ch-where').textContent === %s" % json.dumps("In %s:" % self.tmp))
        self.click_text("#ch-list button", "backups")
        b.wait_for("document.getElementById('ch-where').textContent === %s" % json.dumps(
            "In %s:" % self.path("backups")))
        self.click_text("#ch-choose", "Back up into a new folder Pictures here")
        self.assertEqual(self.js("document.getElementById('ed-dest').value"), self.path("backups", "Pictures"))
        b.wait_for("document.querySelector('.field-problem[data-field=src]').textContent === '' && "
                   "document.querySelector('.field-problem[data-field=dest]').textContent === ''")
        # The schedule in words, its next three runs shown as it is chosen.
        self.fill("ed-when", "weekly")
        self.js("document.getElementById('ed-day-Mon').click(); document.getElementById('ed-day-Thu').click()")
        self.fill("ed-time", "21:30")
        shown = b.wait_for("document.getElementById('ed-next').textContent.startsWith('weekly on Mon, Thu at "
                           "21:30') && document.getElementById('ed-next').textContent")
        self.assertEqual(shown.count(";"), 2, shown)  # three runs
        self.fill("ed-keep", "calendar")
        self.fill("ed-exclude", "*.tmp\n\ncache/**")
        for width in (390, 1280):
            b.page("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                   mobile=width < 600)
            b.wait_for("window.innerWidth === %d" % width)
            self.assertLessEqual(self.js("document.documentElement.scrollWidth"), width)
            shot = self.path("editor-%d.png" % width)
            b.screenshot(shot)
            if os.environ.get("TASK_RUNNER_SCREENSHOT_DIR"):
                shutil.copyfile(shot, os.path.join(os.environ["TASK_RUNNER_SCREENSHOT_DIR"], os.path.basename(shot)))
        self.js("document.getElementById('ed-save').click()")
        b.wait_for("document.getElementById('editor').hidden")
        task = config_edit.load_raw(self.app.watcher.current().path).data["tasks"][3]
        self.assertEqual(task, {"name": "Pictures", "src": self.path("Pictures"),
                                "dest": self.path("backups", "Pictures"), "timestamp": "Mon,Thu 21:30",
                                "keep": {"daily": 7, "weekly": 4, "monthly": 12}, "exclude": ["*.tmp", "cache/**"]})

        # Run it from its card.
        card = ("Array.from(document.querySelectorAll('#tasks article'))"
                ".find(a => a.querySelector('h3').textContent === 'Pictures')")
        b.wait_for("!!(%s)" % card)
        self.js("(%s).querySelector('button.primary').click()" % card)
        finished = b.wait_for("(%s).querySelector('.progress').textContent.includes('finished') && "
                              "(%s).querySelector('.progress').textContent" % (card, card), timeout=60)
        self.assertRegex(finished, r"^Run [0-9]+ finished: success\. 1 file ")
        self.assertTrue(os.path.isdir(self.path("backups", "Pictures")))

        # Change its schedule: the rest of the task stays.
        self.js("(%s).querySelector('button.edit').click()" % card)
        b.wait_for("!document.getElementById('editor').hidden && "
                   "document.getElementById('ed-title').textContent === 'Change Pictures'")
        self.assertEqual(self.js("document.getElementById('ed-when').value"), "weekly")
        self.assertTrue(self.js("document.getElementById('ed-day-Thu').checked"))
        self.fill("ed-when", "daily")
        self.fill("ed-time", "05:00")
        b.wait_for("document.getElementById('ed-next').textContent.startsWith('daily at 05:00')")
        # Meanwhile config.json is edited by hand: saving says so and writes nothing; saved again, it is kept.
        path = self.app.watcher.current().path
        data = config_edit.load_raw(path).data
        data["tasks"][0]["_note"] = "typed in Notepad"
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        self.js("document.getElementById('ed-save').click()")
        said = b.wait_for("document.getElementById('ed-status').textContent.includes('was changed') && "
                          "document.getElementById('ed-status').textContent")
        self.assertIn("it is reloaded; check your change and save it again", said)
        self.assertEqual(config_edit.load_raw(path).data, data)
        self.js("document.getElementById('ed-save').click()")
        b.wait_for("document.getElementById('editor').hidden")
        saved = config_edit.load_raw(path).data
        self.assertEqual(saved["tasks"][0]["_note"], "typed in Notepad")  # the hand edit is kept
        task = saved["tasks"][3]
        self.assertEqual((task["timestamp"], task["exclude"]), ("05:00", ["*.tmp", "cache/**"]))
        b.wait_for("(%s).innerText.includes('daily at 05:00')" % card)

        # Delete it (two presses); its backups stay.
        self.js("(%s).querySelector('button.edit').click()" % card)
        b.wait_for("!document.getElementById('editor').hidden && "
                   "document.getElementById('ed-title').textContent === 'Change Pictures'")
        self.js("document.getElementById('ed-delete').click()")
        self.assertIn("Really", self.js("document.getElementById('ed-delete').textContent"))
        self.js("document.getElementById('ed-delete').click()")
        b.wait_for("document.getElementById('editor').hidden")
        names = [t["name"] for t in config_edit.load_raw(self.app.watcher.current().path).data["tasks"]]
        self.assertEqual(names, ["Documents", "Photos", XSS])
        b.wait_for("!(%s)" % card)
        self.assertTrue(os.path.isdir(self.path("backups", "Pictures")))
        said = self.js("document.getElementById('add-status').textContent")  # what stays, where: it was run
        self.assertRegex(said, r"^Deleted; its [0-9]+ backups? stays? in ")
        self.assertIn(self.path("backups", "Pictures"), said)
        errors = [e["params"]["entry"] for e in b.page_events("Log.entryAdded")
                  if e["params"]["entry"].get("level") == "error"]
        conflict = {"url": self.origin + "/config/tasks/3", "source": "network",  # the one asked for above
                    "text": "Failed to load resource: the server responded with a status of 409 (Conflict)"}
        self.assertEqual(len([e for e in errors if conflict.items() <= e.items()]), 1, errors)
        errors = [e for e in errors if not conflict.items() <= e.items()]
        errors += [e["params"]["exceptionDetails"] for e in b.page_events("Runtime.exceptionThrown")]
        self.assertEqual(errors, [], json.dumps(errors, indent=1)[:2000])
        self.assertEqual(b.page_events("Page.javascriptDialogOpening"), [])

if __name__ == "__main__":
    unittest.main()
