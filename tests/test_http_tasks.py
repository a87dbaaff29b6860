"""The page's task editor over HTTP, on real sockets on 127.0.0.1: tasks
added, changed and deleted in config.json (atomically, the previous file
kept as config.json.bak, keys the page does not know kept), each value
checked with check's own messages, a hand edit made meanwhile never
overwritten, the same sign-in and CSRF rules as /restore; the server's
folders browsed; the sample config and the first start."""

import json
import os
import signal
import subprocess
import sys
import threading
import unittest

from task_runner.config import edit as config_edit, load_config
from task_runner.clock import FixedZone
from tests.helpers import ROOT, TempDirTestCase, wait_for
from tests.rclone_tools import free_port, require_rclone
from tests.test_config import shipped_sample
from tests.test_http import HttpTestCase
from tests.test_http_page import Browser

NOW = 1798761600.0  # 2027-01-01 00:00 UTC, a Friday


class TaskEditorTest(HttpTestCase):
    def setUp(self):
        super(TaskEditorTest, self).setUp()
        # Keys the page does not know, at the top and in a task: kept as they are.
        data = self.on_disk()
        data["_comment"] = "mine"
        data["tasks"][1]["verify"] = True
        data["tasks"][1]["_note"] = "kept"
        with open(self.config.path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        self.app.editor.clock = lambda: NOW
        self.app.editor.zone = FixedZone(0)

    def on_disk(self):
        with open(self.config.path, encoding="utf-8") as f:
            return json.load(f)

    def read_bytes(self):
        with open(self.config.path, "rb") as f:
            return f.read()

    def listing(self):
        status, body, _ = self.request("GET", "/config/tasks")
        self.assertEqual(status, 200, body)
        return body

    def test_add_change_and_delete_a_task(self):
        before = self.read_bytes()
        body = self.listing()
        self.assertEqual([t["name"] for t in body["tasks"]], ["T", "Other task"])
        self.assertFalse(body["first_start"])
        os.makedirs(self.path("photos"))
        new = {"name": "Photos", "src": self.path("photos"), "dest": self.path("photo-backup"),
               "timestamp": "Mon,Thu 21:30", "keep": {"daily": 7, "weekly": 4}, "exclude": ["*.tmp"]}
        status, added, _ = self.request("POST", "/config/tasks", json.dumps({"version": body["version"],
                                                                             "task": new}))
        self.assertEqual(status, 200, added)
        self.assertEqual(self.on_disk()["tasks"][2], new)
        with open(self.config.path + ".bak", "rb") as f:
            self.assertEqual(f.read(), before)  # the previous file, as it was
        self.assertEqual(self.on_disk()["_comment"], "mine")
        self.assertEqual(load_config(self.config.path).tasks[2].name, "Photos")  # valid as written
        self.assertEqual(self.app.watcher.current().tasks[2].name, "Photos")  # the server picks it up

        status, changed, _ = self.request("POST", "/config/tasks/1", json.dumps(
            {"version": added["version"], "task": {"name": "Other task", "timestamp": "03:15", "keep": None}}))
        self.assertEqual(status, 200, changed)
        other = self.on_disk()["tasks"][1]
        self.assertEqual((other["timestamp"], other["verify"], other["_note"]), ("03:15", True, "kept"))
        self.assertEqual(self.app.watcher.current().tasks[1].schedule.describe(), "daily at 03:15")

        status, deleted, _ = self.request("DELETE", "/config/tasks/2", json.dumps({"version": changed["version"]}))
        self.assertEqual(status, 200, deleted)
        self.assertEqual([t["name"] for t in self.on_disk()["tasks"]], ["T", "Other task"])
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("config.json")],
                         ["config.json", "config.json.bak"] if sys.platform != "win32" else
                         sorted(["config.json", "config.json.bak"]))  # no temporary file left

    def test_a_task_renamed_on_the_page_keeps_its_history(self):
        """Found from outside: renamed on the page, a backup's card said "no
        successful backup yet" beside its snapshot: its runs kept the old name."""
        from task_runner.history import History
        from task_runner.runs.runner import run_task
        self.write("src/a.txt", "a")
        task = self.app.watcher.current().tasks[0]
        self.assertEqual(run_task(self.app.watcher.current(), task, "manual").status, "success")
        body = self.listing()
        status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
            {"version": body["version"], "name": task.name, "task": {"name": "Renamed"}}))
        self.assertEqual(status, 200, answer)
        history = History.for_config(self.app.watcher.current())
        self.assertEqual([r["task"] for r in history.runs()], ["Renamed"])
        status, report, _ = self.request("GET", "/status")
        item = [t for t in report["tasks"] if t["name"] == "Renamed"][0]
        self.assertEqual((item["last_success"]["status"], item["snapshots"]), ("success", 1))
        self.assertFalse(history.rename_task("Renamed", "Renamed"))  # a name with records of its own: left

    def test_a_hand_edit_made_meanwhile_is_not_overwritten(self):
        body = self.listing()
        data = self.on_disk()
        data["tasks"][0]["timestamp"] = "22:00"  # edited in Notepad while the page was open
        with open(self.config.path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4)
        hand = self.read_bytes()
        status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
            {"version": body["version"], "task": {"timestamp": "05:00"}}))
        self.assertEqual((status, answer["error"]), (409, "changed"))
        self.assertIn("config.json was changed", answer["message"])
        self.assertEqual(answer["tasks"][0]["timestamp"], "22:00")  # the page reloads what is there now
        self.assertEqual(self.read_bytes(), hand)
        self.assertFalse(os.path.exists(self.config.path + ".bak"))
        status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
            {"version": answer["version"], "task": {"timestamp": "05:00"}}))
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.on_disk()["tasks"][0]["timestamp"], "05:00")

    def test_an_invalid_field_gets_checks_message_and_nothing_is_written(self):
        body = self.listing()
        before = self.read_bytes()
        cases = [({"timestamp": "1 25:00"}, "timestamp", "hour must be 0-23, got 25"),
                 ({"name": "Other task"}, "name", "is already used by tasks[0] (Other task)"),
                 ({"dest": self.path("src", "inside")}, "dest", "is inside src"),
                 ({"keep": "lots"}, "keep", "must be a whole number")]
        for given, field, words in cases:
            with self.subTest(given=given):
                status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
                    {"version": body["version"], "task": given}))
                self.assertEqual((status, answer["error"]), (400, "invalid"), answer)
                self.assertEqual([p["field"] for p in answer["problems"]], [field])
                self.assertIn(words, answer["message"])
                # The very message check prints for the same file.
                data = self.on_disk()
                data["tasks"][0].update(given)
                with self.assertRaises(Exception) as raised:
                    from task_runner.config import config_from_data
                    config_from_data(data, self.config.path)
                self.assertEqual(answer["message"], str(raised.exception))
                status, checked, _ = self.request("POST", "/config/check", json.dumps({"index": 0, "task": given}))
                self.assertEqual(checked["problems"], answer["problems"])
        self.assertEqual(self.read_bytes(), before)
        self.assertFalse(os.path.exists(self.config.path + ".bak"))
        status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
            {"version": body["version"], "task": {"colour": "red"}}))
        self.assertEqual(status, 400)
        self.assertIn("\"colour\" is to be edited in config.json itself", answer["message"])

    def test_the_check_shows_the_schedule_and_its_next_three_runs(self):
        status, body, _ = self.request("POST", "/config/check", json.dumps(
            {"index": None, "task": {"name": "New", "timestamp": "Mon,Thu 21:30"}}))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["schedule"]["next"], ["2027-01-04T21:30:00+00:00", "2027-01-07T21:30:00+00:00",
                                                    "2027-01-11T21:30:00+00:00"])
        self.assertEqual([p["field"] for p in body["problems"]], ["src", "dest"])  # not filled yet
        self.assertIn("missing required key \"src\"", body["problems"][0]["message"])
        status, body, _ = self.request("POST", "/config/check", json.dumps(
            {"index": None, "task": {"timestamp": "0 */6 * * *"}}))
        self.assertEqual(body["schedule"]["next"], ["2027-01-01T06:00:00+00:00", "2027-01-01T12:00:00+00:00",
                                                    "2027-01-01T18:00:00+00:00"])

    def test_the_check_notes_a_folder_that_is_not_there_right_now(self):
        """Found from outside: a backup folder typed under a folder not made yet
        was taken for an unplugged drive at the first run, with no word as it
        was typed. Notes, not problems: a save is not refused for them."""
        os.makedirs(self.path("usb"))
        status, body, _ = self.request("POST", "/config/check", json.dumps({"index": None, "task": {
            "name": "New", "src": self.path("nothere"), "dest": self.path("usb", "Backups", "New")}}))
        self.assertEqual(status, 200, body)
        notes = {p["field"]: p for p in body["problems"]}
        self.assertEqual(sorted(notes), ["dest", "src"])
        self.assertTrue(all(p.get("note") for p in body["problems"]))
        self.assertIn("the backup folder %s cannot be created because %s does not exist"
                      % (self.path("usb", "Backups", "New"), self.path("usb", "Backups")), notes["dest"]["message"])
        self.assertIn("make the folder %s, or choose another" % self.path("usb", "Backups"), notes["dest"]["message"])
        os.makedirs(self.path("nothere"))
        os.makedirs(self.path("usb", "Backups"))
        status, body, _ = self.request("POST", "/config/check", json.dumps({"index": None, "task": {
            "name": "New", "src": self.path("nothere"), "dest": self.path("usb", "Backups", "New")}}))
        self.assertEqual(body["problems"], [])

    def write_tasks(self, tasks):
        data = self.on_disk()
        data["tasks"] = tasks
        with open(self.config.path, "w", encoding="utf-8") as f:
            json.dump(data, f)

    def test_the_first_backup_added_takes_the_examples_place(self):
        self.write_tasks([dict(config_edit.SAMPLE, _example="an example")])
        body = self.listing()
        self.assertTrue(body["first_start"])
        new = {"name": "Mine", "src": self.path("src"), "dest": self.path("mine")}
        status, answer, _ = self.request("POST", "/config/tasks", json.dumps({"version": body["version"],
                                                                              "task": new}))
        self.assertEqual((status, answer["tasks"], answer["first_start"]), (200, [new], False), answer)
        with open(self.config.path + ".bak", encoding="utf-8") as f:
            self.assertEqual(len(json.load(f)["tasks"]), 1)  # the example is still in the .bak

    @unittest.skipIf(os.name == "nt", "links and modes")
    def test_a_linked_config_is_written_where_it_leads_with_its_mode(self):
        """Found from outside: a save made config.json a plain file (the
        linked one kept the old settings) and 0640 became 0600."""
        real = self.path("etc", "real.json")
        os.makedirs(self.path("etc"))
        os.rename(self.config.path, real)
        os.symlink(real, self.config.path)
        os.chmod(real, 0o640)
        body = self.listing()
        status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
            {"version": body["version"], "task": {"timestamp": "05:00"}, "name": "T"}))
        self.assertEqual(status, 200, answer)
        self.assertTrue(os.path.islink(self.config.path))
        with open(real, encoding="utf-8") as f:
            self.assertEqual(json.load(f)["tasks"][0]["timestamp"], "05:00")
        self.assertEqual(os.stat(real).st_mode & 0o777, 0o640)

    def test_an_example_edited_by_hand_is_the_users_own(self):
        """Found from outside: the README's quick start edits the sample; with
        its mark left in, adding a backup from the page deleted it."""
        mine = dict(config_edit.SAMPLE, _example="an example", name="Documents", src=self.path("src"))
        self.write_tasks([mine])
        body = self.listing()
        self.assertFalse(body["first_start"])
        new = {"name": "Pictures", "src": self.path("src"), "dest": self.path("pictures")}
        status, answer, _ = self.request("POST", "/config/tasks", json.dumps({"version": body["version"],
                                                                              "task": new}))
        self.assertEqual(status, 200, answer)
        self.assertEqual([t["name"] for t in self.on_disk()["tasks"]], ["Documents", "Pictures"])

    def test_a_task_without_a_name_is_named_by_its_folders(self):
        """Found from outside: with tasks that have no name, the page sent none
        and the wrong task was changed and deleted."""
        a = {"src": self.path("src"), "dest": self.path("a")}
        b = {"src": self.path("src"), "dest": self.path("b")}
        self.write_tasks([a, b])
        body = self.listing()
        self.write_tasks([dict(a, dest=self.path("c")), a, b])
        version = self.listing()["version"]
        status, answer, _ = self.request("DELETE", "/config/tasks/1", json.dumps(
            {"version": version, "name": "%s -> %s" % (b["src"], b["dest"])}))
        self.assertEqual((status, answer.get("error")), (409, "changed"), answer)
        self.assertEqual(len(self.on_disk()["tasks"]), 3)
        self.assertTrue(body)

    def test_a_task_is_never_taken_for_the_one_that_took_its_place(self):
        """Found from outside: a hand edit inserted a task above the one the
        page edited; the page's second try, sent against the new version
        with the old position, deleted (or rewrote) the wrong task."""
        body = self.listing()
        data = self.on_disk()
        data["tasks"].insert(0, dict(data["tasks"][0], name="Inserted", dest=self.path("inserted")))
        with open(self.config.path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        status, answer, _ = self.request("DELETE", "/config/tasks/1", json.dumps(
            {"version": body["version"], "name": "Other task"}))
        self.assertEqual(status, 409, answer)
        for method, extra in (("DELETE", {}), ("POST", {"task": {"timestamp": "05:00"}})):
            status, again, _ = self.request(method, "/config/tasks/1", json.dumps(
                dict(extra, version=answer["version"], name="Other task")))  # task 1 is T now
            self.assertEqual((status, again["error"]), (409, "changed"), again)
        self.assertEqual([t["name"] for t in self.on_disk()["tasks"]], ["Inserted", "T", "Other task"])
        status, done, _ = self.request("DELETE", "/config/tasks/2", json.dumps(
            {"version": answer["version"], "name": "Other task"}))
        self.assertEqual(status, 200, done)
        self.assertEqual([t["name"] for t in self.on_disk()["tasks"]], ["Inserted", "T"])

    def test_the_last_task_cannot_be_deleted(self):
        body = self.listing()
        status, answer, _ = self.request("DELETE", "/config/tasks/1", json.dumps({"version": body["version"]}))
        self.assertEqual(status, 200, answer)
        status, answer, _ = self.request("DELETE", "/config/tasks/0", json.dumps({"version": answer["version"]}))
        self.assertEqual(status, 400)
        self.assertIn("only task", answer["message"])
        self.assertEqual(len(self.on_disk()["tasks"]), 1)

    def test_the_same_sign_in_and_csrf_rules_as_restore(self):
        browser = Browser(self)
        body = self.listing()
        change = {"version": body["version"], "task": {"timestamp": "04:00"}}
        self.assertEqual(self.request("POST", "/config/tasks/0", json.dumps(change), token=False)[0], 401)
        status, answer, _ = browser.send("POST", "/config/tasks/0", change, origin=True)
        self.assertEqual(status, 403)  # a page that has not signed in
        browser.login()
        status, answer, _ = browser.send("POST", "/config/tasks/0", change, origin=True, csrf=False)
        self.assertEqual((status, answer["error"]), (403, "forbidden"))
        self.assertIn("X-CSRF-Token", answer["message"])
        status, answer, _ = browser.send("GET", "/folders", csrf=False)
        self.assertEqual(status, 403)
        self.assertNotIn("timestamp", self.on_disk()["tasks"][0])
        status, answer, _ = browser.send("POST", "/config/tasks/0", change, origin=True)
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.on_disk()["tasks"][0]["timestamp"], "04:00")

    def test_the_offsite_remotes_are_rclones(self):
        path = require_rclone(self)
        self.write("rclone.conf", "[nas]\ntype = local\n")
        for key in [k for k in os.environ if k.startswith("RCLONE_")]:  # not the user's remotes
            self.addCleanup(os.environ.__setitem__, key, os.environ.pop(key))
        os.environ["RCLONE_CONFIG"] = self.path("rclone.conf")
        self.addCleanup(os.environ.pop, "RCLONE_CONFIG")
        data = self.on_disk()
        data["rclone"] = path
        with open(self.config.path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        body = self.listing()
        self.assertEqual(body["remotes"], ["nas"])
        status, answer, _ = self.request("POST", "/config/tasks/0", json.dumps(
            {"version": body["version"], "task": {"offsite": "nas:" + self.path("offsite")}}))
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.app.watcher.current().tasks[0].offsite.remote, "nas:" + self.path("offsite"))

    def test_folders_of_the_server(self):
        os.makedirs(self.path("pick", "b"))
        os.makedirs(self.path("pick", "A"))
        os.makedirs(self.path("pick", ".hidden"))
        self.write("pick/file.txt", "not a folder")
        status, body, _ = self.request("GET", "/folders?path=" + self.path("pick").replace(os.sep, "/"))
        self.assertEqual(status, 200, body)
        self.assertEqual([f["name"] for f in body["folders"]], ["A", "b"])
        self.assertEqual(body["parent"], self.tmp)
        self.assertFalse(body["backups"])
        # Found from outside: browsing into a backup folder made the backups go one level deeper.
        os.makedirs(self.path("pick", "A", "2026-12-07_02-40-36"))
        status, body, _ = self.request("GET", "/folders?path=" + self.path("pick", "A").replace(os.sep, "/"))
        self.assertTrue(body["backups"])
        self.write("pick/b/2026-12-07_03-22-07.zip", "a ZIP task's copy")  # (found again: a ZIP task's folder)
        status, body, _ = self.request("GET", "/folders?path=" + self.path("pick", "b").replace(os.sep, "/"))
        self.assertTrue(body["backups"])
        status, body, _ = self.request("GET", "/folders")
        self.assertEqual(status, 200)
        home = body["drives"][0]
        self.assertEqual((home["kind"], home["path"]), ("home", os.path.expanduser("~")))
        self.assertTrue(all(isinstance(d["free"], int) for d in body["drives"] if d["kind"] == "fixed"))
        status, body, _ = self.request("GET", "/folders?path=relative/path")
        self.assertEqual(status, 400)
        status, body, _ = self.request("GET", "/folders?path=" + self.path("missing").replace(os.sep, "/"))
        self.assertEqual(status, 404)


class SampleConfigTest(TempDirTestCase):
    """The config.json of a fresh clone is valid here, its task is an example."""

    def test_the_sample_is_valid_and_its_task_an_example(self):
        self.write("config.json", shipped_sample(self))
        env = dict(os.environ, HOME=self.tmp, USERPROFILE=self.tmp)
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "check",
                              "--config", self.path("config.json")], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, universal_newlines=True)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("is valid: 1 task(s)", out.stdout)
        self.assertIn("an example: edit or delete it", out.stdout)
        self.assertNotIn("!", out.stdout.replace("an example", ""))
        # Found from outside: the example's card said its drive was missing, and the page "Needs attention".
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "status", "--json",
                              "--config", self.path("config.json")], stdout=subprocess.PIPE, env=env,
                             universal_newlines=True)
        report = json.loads(out.stdout)
        self.assertEqual([(t["severity"], t["warnings"]) for t in report["tasks"]],
                         [("example", [config_edit.EXAMPLE_NOTE])])
        self.assertEqual(report["warnings"], [])  # no scheduler needed for an example
        loaded = config_edit.load_raw(self.path("config.json"))
        self.assertTrue(config_edit.is_first_start(loaded.data))
        loaded.data["tasks"][0] = config_edit.merged_task(loaded.data["tasks"][0], {"name": "Mine"})
        self.assertFalse(config_edit.is_first_start(loaded.data))  # edited: the user's own now


@unittest.skipIf(os.name == "nt", "signals and $BROWSER: the Windows lane runs the .bat by hand")
class FirstStartTest(TempDirTestCase):
    """While config.json holds only the example, both programs say so in one
    line, and http_server.py --open-first-start (as http_server.bat runs
    it) opens the page on Add a backup."""

    def start(self, script, *args):
        opened = self.path("opened.txt")
        # The browser gets a page of the server's, never the one-time link on its command line (which
        # every account can read): this one records where that page sends it, and what it was given.
        self.write("browser.py", "import html, re, sys, urllib.parse, urllib.request\n"
                   "page = urllib.request.url2pathname(urllib.parse.urlparse(sys.argv[1]).path)\n"
                   "link = html.unescape(re.search('url=([^\"]+)\"', open(page).read()).group(1))\n"
                   "open(%r, 'a').write(link + '\\n' + sys.argv[1] + '\\n')\n" % opened)
        env = dict(os.environ, HOME=self.tmp, BROWSER="%s %s %%s" % (sys.executable, self.path("browser.py")))
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, script), "--config", self.path("config.json")]
                                + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        wait_for(lambda: any("holds no backup of yours yet" in line or "listening" in line for line in lines), 20)
        wait_for(lambda: False, 0.3)  # what it prints right after
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        reader.join(10)
        return "".join(lines), opened

    def test_both_programs_say_so_and_the_server_opens_add_a_backup(self):
        self.write("config.json", shipped_sample(self).replace('"missed_task_days": 5', '"missed_task_days": 5, '
                                                               '"http": {"port": %d}' % free_port()))
        out, opened = self.start("scheduled_task_runner.py")
        self.assertEqual(out.count("holds no backup of yours yet, only the example: add one on the status page"),
                         1, out)
        out, opened = self.start("http_server.py", "--open-first-start")
        self.assertEqual(out.count("holds no backup of yours yet"), 1, out)
        self.assertIn("add one on this page (Add a backup)", out)  # not "double-click http_server.bat": it runs
        self.assertTrue(wait_for(lambda: os.path.exists(opened)), out)
        with open(opened) as f:
            link, given = f.read().splitlines()
        self.assertRegex(link, r"^http://127\.0\.0\.1:[0-9]+/signin\?code=[A-Za-z0-9_-]+&then=add$")  # signed in, then Add
        self.assertNotIn("code=", given)
        self.assertTrue(given.startswith("file://"), given)
        data = config_edit.load_raw(self.path("config.json")).data
        data["tasks"][0] = config_edit.merged_task(data["tasks"][0], {"name": "Mine"})
        with open(self.path("config.json"), "w") as f:
            json.dump(data, f)
        self.assertIsNone(config_edit.first_start_note(self.path("config.json")))

if __name__ == "__main__":
    unittest.main()
