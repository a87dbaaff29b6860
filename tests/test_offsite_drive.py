"""The offsite copy's drive (issue 34): an upload to a local or mounted
remote whose drive is away writes nothing (as a backup to a missing drive
does: it never fills the system disk), says "is the backup drive plugged
in?", and records the folder whose return means the drive is back; the
scheduler then uploads within one look of that folder coming back, and a
drive that comes and goes makes at most one such attempt per
retry_minutes. ``once`` (for the system's own scheduler) says in its exit
code when the offsite copy failed, a retried upload alone included."""

import os
import subprocess
import sys
import threading
import unittest

from task_runner.clock import format_local
from task_runner.config import Offsite
from task_runner.errors import DRIVE_MISSING
from task_runner.history import History
from task_runner.offsite import service
from task_runner.runs.runner import run_task
from task_runner.schedule.daemon import Daemon
from tests.helpers import ROOT, UTC, FakeClock, TempDirTestCase, make_task, ts
from tests.test_offsite import OffsiteTestCase

AT = ts("2026-01-01T11:00:00+00:00")
RUNS = [{"task": "T", "status": "success", "snapshot": "/d/2026-01-01_10-00-00"}]
USB = os.path.join(os.sep, "media", "usb", "offsite")
FAILED = {"task": "T", "snapshot": "2026-01-01_10-00-00", "status": "failed", "trigger": "schedule",
          "finished": "2026-01-01T11:00:00+00:00", "watch": USB,
          "message": "the offsite folder %s cannot be made: %s" % (USB, DRIVE_MISSING)}


class DecideTest(unittest.TestCase):
    task = make_task("s", "d", offsite=Offsite(os.path.join(USB, "T"), None, None, None))

    def decide(self, uploads, now, retry_minutes=60, there=()):
        return service.decide(self.task, RUNS, uploads, now, retry_minutes, is_there=lambda folder: folder in there)

    def test_a_drive_away_is_watched_and_its_return_retries_at_once(self):
        away = self.decide([FAILED], AT + 60)
        self.assertEqual((away.upload, away.wake_at, away.watch), (False, AT + 3600, USB))
        back = self.decide([FAILED], AT + 60, there=(USB,))
        self.assertEqual((back.upload, back.trigger, back.watch), (True, "drive", None))
        self.assertIn("drive is back", back.reason)

    def test_a_drive_that_comes_and_goes_gets_one_attempt_per_retry_minutes(self):
        again = dict(FAILED, trigger="drive", finished="2026-01-01T11:02:00+00:00")
        flap = self.decide([FAILED, again], AT + 180, there=(USB,))
        self.assertEqual((flap.upload, flap.wake_at, flap.watch), (False, AT + 120 + 3600, None))
        later = self.decide([FAILED, again], AT + 120 + 3600)
        self.assertEqual((later.upload, later.trigger), (True, "retry"))  # recorded as the log says it

    def test_no_watch_without_retries_or_for_another_failure(self):
        self.assertEqual(self.decide([FAILED], AT + 60, retry_minutes=0, there=(USB,)).upload, False)
        other = dict(FAILED, message="rclone: connection refused")
        del other["watch"]
        self.assertEqual(self.decide([other], AT + 60, there=(USB,)).watch, None)
        self.assertEqual(self.decide([other], AT + 60, there=(USB,)).upload, False)


class StatusTest(TempDirTestCase):
    def test_status_says_the_copy_waits_for_its_drive_while_the_scheduler_runs(self):
        from task_runner.schedule.status import task_status
        config = self.make_config([{"name": "T", "src": "src", "dest": "dest", "offsite": "nas:T"}])
        usb = self.path("usb", "offsite")
        failed = dict(FAILED, watch=usb, id=1)
        for running, there, said in [(True, False, True), (False, False, False), (True, True, False)]:
            if there:
                os.makedirs(usb)
            with self.subTest(scheduler_running=running, there=there):
                item = task_status(config, config.tasks[0], RUNS, AT + 60, UTC, False, uploads=[failed],
                                   scheduler_running=running)
                self.assertEqual(item["offsite"]["waiting_for_drive"], usb if said else None)  # (json too)
                text = [w for w in item["warnings"] if "offsite copy failed" in w][0]
                self.assertIn(DRIVE_MISSING, text)
                self.assertEqual("it is copied when %s is back" % usb in text, said)


class DriveAwayTest(OffsiteTestCase):
    """A real upload through rclone to a local remote."""

    def test_an_upload_to_a_drive_that_is_away_writes_nothing_and_says_so(self):
        self.make_tree()
        os.makedirs(self.path("usb"))  # the mount point stays when the drive is away; offsite/ was on the drive
        up, out = self.failed_upload("loc:" + self.path("usb", "offsite", "T"))
        self.assertIn(DRIVE_MISSING, up["message"])
        self.assertEqual(os.path.normcase(up["watch"]), os.path.normcase(self.path("usb", "offsite")))
        self.assertEqual(os.listdir(self.path("usb")), [])  # nothing written where the drive should be
        # Found from outside: with the drive away, the remote's verbs said it held no snapshot.
        for verb in (["snapshots", "--offsite"], ["restore", "--offsite", "--to", self.path("back")],
                     ["verify", "--offsite"]):
            with self.subTest(verb=verb):
                code, out = self.program("backup_now.py", *verb)
                self.assertEqual(code, 1, out)
                self.assertIn(DRIVE_MISSING, out)
        os.makedirs(self.path("usb", "offsite"))  # the drive is back
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 0, out)
        self.assertEqual(self.uploads()[-1]["status"], "success", out)

    def test_a_folder_left_where_the_drive_was_is_not_taken_for_the_copy(self):
        """Found with a real drive pulled out during an upload: rclone went on
        writing by path onto the disk under the mount point, and the next
        upload finished there and counted as a success. A local remote that
        no longer holds the copy the history says was made there is not the
        drive: the upload is refused, and nothing is written there."""
        self.make_tree()
        os.makedirs(self.path("usb", "offsite"))
        self.config("loc:" + self.path("usb", "offsite", "T"))
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 0, out)
        os.rename(self.path("usb"), self.path("usb-away"))  # pulled out...
        os.makedirs(self.path("usb", "offsite", "T"))  # ...and what rclone left on the system disk
        self.write("src/new.txt", "after the pull")
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 5, out)
        up = self.uploads()[-1]
        self.assertIn(DRIVE_MISSING, up["message"])
        self.assertIn("does not hold %s" % self.uploads()[0]["snapshot"], up["message"])
        self.assertEqual(os.listdir(self.path("usb", "offsite", "T")), [])
        os.rename(self.path("usb"), self.path("usb-leftover"))
        os.rename(self.path("usb-away"), self.path("usb"))  # the drive is back
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 0, out)
        self.assertEqual(self.uploads()[-1]["status"], "success")

    def test_the_scheduler_uploads_within_one_look_of_the_drives_return(self):
        self.make_tree()
        self.config("loc:" + self.path("usb", "offsite", "T"))
        data = self.read_config()
        data["retry_minutes"] = 60
        config = self.load(data)
        os.makedirs(self.path("usb"))
        start = ts("2026-11-03T09:00:00+00:00")
        self.assertEqual(run_task(config, config.tasks[0], "manual", clock=lambda: start, zone=UTC).status, "success")
        back_at = start + 600

        class Clock(FakeClock):  # the drive is plugged in 10 minutes after the failed upload
            def wait(clock, timeout):
                stopped = FakeClock.wait(clock, timeout)
                if clock.now >= back_at and not os.path.isdir(self.path("usb", "offsite")):
                    os.makedirs(self.path("usb", "offsite"))
                return stopped

        started = []

        def upload_and_wait(config, task, trigger, stop_event, notifier, clock):  # the real upload, finished
            started.append((clock(), trigger))
            service.Upload(config, task, trigger, notifier, clock, UTC, environ=self.env).run(stop_event)
            done = threading.Thread(target=lambda: None)  # ended: the daemon may look again
            done.start()
            done.join()
            return done
        stop = threading.Event()
        clock = Clock(start, start + 30 * 60, stop)
        Daemon(config, clock=clock, wait=clock.wait, stop_event=stop, zone=UTC, start_upload=upload_and_wait,
               check_every=60).run()
        self.assertEqual([t for _, t in started], ["schedule", "drive"])
        self.assertLessEqual(started[1][0], back_at + 60)  # within one look (60 s), not after retry_minutes
        self.assertEqual([u["status"] for u in self.uploads()], ["failed", "success"])
        self.assertEqual(format_local(started[0][0], UTC), self.uploads()[0]["started"])

    def read_config(self):
        import json
        with open(self.path("config.json"), encoding="utf-8") as f:
            return json.load(f)

    def load(self, data):
        from task_runner.config import load_config
        return load_config(self.write_config(data))


class ManifestTaskTest(OffsiteTestCase):
    def test_a_restore_from_a_copy_another_task_made_says_so(self):
        """The manifest names the task that made the copy: a task renamed
        since, or a remote pointing at another task's copy, is told."""
        self.make_tree()
        remote = "loc:" + self.path("remote")
        self.config(remote)
        code, out = self.program("backup_now.py")
        self.assertEqual(code, 0, out)
        self.write_config({"rclone": self.rclone, "tasks": [
            {"name": "Renamed", "src": "src", "dest": "dest", "default": True, "offsite": remote}]})
        code, out = self.program("backup_now.py", "restore", "Renamed", "--offsite", "--to", self.path("out"))
        self.assertEqual(code, 0, out)
        self.assertIn('was made by the task "T", not "Renamed"', out)
        self.assertTrue(os.path.isfile(self.path("out", "a.txt")))


class SharedFolderTest(OffsiteTestCase):
    def test_two_tasks_whose_remotes_are_one_local_folder_are_refused(self):
        """config.json cannot see that an alias remote and a local path are
        one folder; rclone's own view of each remote can: check says so, and
        an upload is refused (the retention of one would delete the other's
        copies)."""
        self.make_tree()
        self.env.update({"RCLONE_CONFIG_AL_TYPE": "alias", "RCLONE_CONFIG_AL_REMOTE": self.path("remote")})
        self.write_config({"rclone": self.rclone, "tasks": [
            {"name": "A", "src": "src", "dest": "dest", "default": True, "offsite": "loc:" + self.path("remote")},
            {"name": "B", "src": "src", "dest": "dest2", "offsite": "al:"}]})
        code, out = self.program("scheduled_task_runner.py", "check")
        self.assertEqual(code, 2, out)
        self.assertIn("B: offsite: al: is the folder %s, as the offsite copy of A is" % self.path("remote"), out)
        code, out = self.program("backup_now.py", "B")
        self.assertEqual(code, 5, out)
        self.assertIn("as the offsite copy of A is", self.uploads()[-1]["message"])
        self.assertEqual(out.count("B: offsite"), 1, out)  # was twice: "B: offsite failed (...) B: offsite: al: ..."
        self.assertFalse(os.path.exists(self.path("remote")))


class RelativeLocalRemoteTest(OffsiteTestCase):
    def test_a_local_offsite_folder_given_as_a_relative_path_is_refused(self):
        """Found from outside: an alias (or local remote) naming a relative
        folder was written wherever the program was started, and no check
        saw that it could be a task's dest."""
        self.make_tree()
        os.makedirs(self.path("elsewhere"))
        self.env.update({"RCLONE_CONFIG_AL_TYPE": "alias", "RCLONE_CONFIG_AL_REMOTE": "rel-offsite"})
        # (rclone on Windows makes an alias's relative folder a full path: there it is compared as one)
        for remote in ("loc:rel-offsite",) if os.name == "nt" else ("loc:rel-offsite", "al:"):
            with self.subTest(remote=remote):
                self.config(remote)
                for name, args, code in (("scheduled_task_runner.py", ["check"], 2), ("backup_now.py", [], 5)):
                    proc = subprocess.run([sys.executable, os.path.join(ROOT, name), "--config",
                                           self.path("config.json")] + args, cwd=self.path("elsewhere"),
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                          env=self.env, timeout=120)
                    self.assertEqual(proc.returncode, code, proc.stdout)
                    self.assertIn("is the folder rel-offsite, relative to the folder the program was started in: "
                                  "write its full path", proc.stdout)
                self.assertEqual(os.listdir(self.path("elsewhere")), [])  # nothing written there


class OffsiteOnLocalFoldersTest(OffsiteTestCase):
    """Found from outside: an offsite folder that was a task's own dest (or
    another's) passed check, and the upload deleted the local snapshots
    there (taken for leftovers of a killed upload)."""

    def test_an_offsite_folder_on_a_dest_or_src_is_refused_and_nothing_is_deleted(self):
        self.make_tree()
        for case, remote in [("its own dest", "dest"), ("another task's dest", "destB"),
                             ("inside another task's dest", "destB/off"), ("inside its own src", "src/off"),
                             ("a folder holding a dest", "")]:
            with self.subTest(case=case):
                self.write_config({"rclone": self.rclone, "tasks": [
                    {"name": "A", "src": "src", "dest": "dest", "default": True,
                     "offsite": "loc:" + self.path(remote) if remote else "loc:" + self.tmp},
                    {"name": "B", "src": "src", "dest": "destB"}]})
                code, out = self.program("backup_now.py", "--all", "--no-offsite")
                self.assertEqual(code, 0, out)
                before = {d: sorted(os.listdir(self.path(d))) for d in ("dest", "destB")}
                code, out = self.program("scheduled_task_runner.py", "check")
                self.assertEqual(code, 2, out)
                self.assertIn("A: offsite: ", out)
                code, out = self.program("backup_now.py", "A")
                self.assertEqual(code, 5, out)
                self.assertIn("offsite", self.uploads()[-1]["message"])
                self.assertTrue(all(set(before[d]) <= set(os.listdir(self.path(d))) for d in before), out)


class WrapperOverDestTest(OffsiteTestCase):
    def test_a_remote_of_any_kind_that_shows_a_backup_folder_is_refused(self):
        """Found from outside: a chunker remote wrapping the task's dest
        passed check, and the upload's clean-up deleted six local snapshots
        (a kind of remote rclone says nothing local about)."""
        self.make_tree()
        for kind, task_format in [("chunker", "folder"), ("hasher", "folder")]:  # (a ZIP dest shows no index)
            with self.subTest(kind=kind, format=task_format):
                dest = "dest-%s-%s" % (kind, task_format)
                self.env.update({"RCLONE_CONFIG_WRAP_TYPE": kind, "RCLONE_CONFIG_WRAP_REMOTE": self.path(dest)})
                self.write_config({"rclone": self.rclone, "tasks": [
                    {"name": "T", "src": "src", "dest": dest, "default": True, "format": task_format,
                     "offsite": "wrap:"}]})
                for _ in range(2):
                    code, out = self.program("backup_now.py", "--no-offsite")
                    self.assertEqual(code, 0, out)
                before = sorted(os.listdir(self.path(dest)))
                code, out = self.program("backup_now.py")
                self.assertEqual(code, 5, out)
                self.assertIn("is a backup folder of this program", self.uploads()[-1]["message"])
                self.assertTrue(set(before) <= set(os.listdir(self.path(dest))), out)  # nothing deleted


class OnceTest(OffsiteTestCase):
    def test_once_exits_5_when_the_offsite_copy_failed_also_for_an_upload_retried_alone(self):
        self.make_tree()
        os.makedirs(self.path("usb"))
        self.write_config({"rclone": self.rclone, "retry_minutes": 60, "tasks": [
            {"name": "T", "src": "src", "dest": "dest", "timestamp": "00:00",
             "offsite": "loc:" + self.path("usb", "offsite", "T")}]})
        code, out = self.program("scheduled_task_runner.py", "once")
        self.assertEqual(code, 5, out)  # backed up; the offsite copy failed (its drive is away)
        self.age_last_upload(2 * 3600)
        code, out = self.program("scheduled_task_runner.py", "once")  # nothing to back up: the upload alone
        self.assertEqual(code, 5, out)
        self.assertEqual([u["status"] for u in self.uploads()], ["failed", "failed"])
        os.makedirs(self.path("usb", "offsite"))
        code, out = self.program("scheduled_task_runner.py", "once")
        self.assertEqual(code, 0, out)
        self.assertEqual([(u["status"], u["trigger"]) for u in self.uploads()][-1], ("success", "drive"))
        self.assertEqual(len(History(self.path("executed_tasks.json")).runs()), 1)

    def age_last_upload(self, seconds):
        """The last upload ended ``seconds`` earlier than it did (time passing, for a process run later)."""
        import json
        from task_runner.clock import LOCAL, parse_iso
        path = self.path("executed_tasks.json")
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        doc["uploads"][-1]["finished"] = format_local(parse_iso(doc["uploads"][-1]["finished"]) - seconds, LOCAL)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)


if __name__ == "__main__":
    unittest.main()
