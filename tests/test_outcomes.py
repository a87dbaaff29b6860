"""Every outcome tells the truth (issue 29): a run that could not read its
source never deletes a good backup; retention decides on complete snapshots."""

import os
import shutil
import subprocess
import sys
import unittest

import backup_now
from task_runner import engine, errors, snapshots
from task_runner.errors import BackupError
from task_runner.history import History
from task_runner.snapshots.retention import decide
from task_runner.config.policy import parse_policy
from task_runner.snapshots import EVERYTHING
from tests.helpers import ROOT, UTC, TempDirTestCase, make_task, ts
from tests.test_bad_input import run_program

NOW = ts("2026-11-27T12:00:00+00:00")
C1, C2, P3, P4, P5 = ["2026-11-0%d_10-00-00" % d for d in range(1, 6)]


def kept(names, keep, incomplete):
    return {d.name: d.reason for d in decide(names, parse_policy(keep), NOW, UTC, incomplete) if d.keep}


class IncompleteRuleTest(unittest.TestCase):
    def test_edges(self):
        # (entries met, entries skipped): published (None) or failed.
        for seen, skipped, fails in [(10, 0, False), (1, 0, False), (0, 0, False), (2, 1, False),
                                     (3, 1, False), (10, 5, False), (3, 2, True), (1, 1, True),
                                     (11, 6, True), (0, 1, True), (1, 3, True)]:
            with self.subTest(seen=seen, skipped=skipped):
                reason = engine.incomplete_reason(seen, skipped)
                self.assertEqual(reason is not None, fails)
                if fails:
                    self.assertIn("more than half", reason)


class DecideIncompleteTest(unittest.TestCase):
    def test_a_partial_never_takes_a_complete_ones_place(self):
        self.assertEqual(set(kept([C1, C2, P3], 1, {P3: frozenset(["sub"])})), {C2, P3})
        self.assertEqual(set(kept([C1, C2, P3, P4], 2, {P3: frozenset(["x"]), P4: frozenset(["x"])})),
                         {C1, C2, P3, P4})

    def test_incomplete_runs_since_the_last_complete_one_follow_the_policy_among_themselves(self):
        lacks = frozenset(["mail.pst"])  # the same file, locked at every run: nothing only they hold
        got = kept([C1, C2, P3, P4, P5], 1, {P3: lacks, P4: lacks, P5: lacks})
        self.assertEqual(set(got), {C2, P5})
        got = kept([C2, P3, P4, P5], {"daily": 2}, {C2: lacks, P3: lacks, P4: lacks, P5: lacks})
        self.assertEqual(got, {P4: "daily #2 of the incomplete snapshots since the newest complete one",
                               P5: "daily #1 of the incomplete snapshots since the newest complete one"})
        got = kept([C1, P3, P4, P5], {"daily": 3}, {P3: lacks, P4: lacks, P5: lacks})
        self.assertEqual(set(got), {C1, P3, P4, P5})

    def test_the_newest_holder_of_what_newer_runs_could_not_read_is_kept(self):
        got = kept([C1, C2, P3, P4, P5], 1,
                   {P3: frozenset(["x"]), P4: frozenset(["docs"]), P5: frozenset(["docs"])})
        self.assertEqual(got[P3], "holds docs, which the newer run %s could not read" % P4)
        self.assertEqual(set(got), {C2, P3, P5})
        # A path inside a folder the newer run could not read counts as lacking too.
        got = kept([C2, P3, P4], 1, {P3: frozenset(["docs/a"]), P4: frozenset(["docs"])})
        self.assertEqual(got[C2], "last #1")  # holds docs/a, which P3 lacks
        self.assertEqual(got[P3], "holds docs, which the newer run %s could not read" % P4)  # the rest of it

    def test_a_complete_run_ends_the_protection(self):
        # C2 here is the incomplete one; the two after it are complete: its gap is filled.
        self.assertEqual(set(kept([C1, C2, P3, P4], 1, {C2: frozenset(["docs"])})), {P4})

    def test_a_record_that_does_not_say_what_is_missing_keeps_every_older_one(self):
        got = kept([C1, C2, P3, P4], 1, {P3: frozenset(), P4: EVERYTHING})
        self.assertEqual(set(got), {C2, P3, P4})

    def test_no_complete_snapshot_at_all(self):
        lacks = frozenset(["a"])
        self.assertEqual(set(kept([P3, P4, P5], 2, {P3: lacks, P4: lacks, P5: lacks})), {P4, P5})


class RecordTest(TempDirTestCase):
    @unittest.skipIf(os.name == "nt", "chmod 0 does not make a folder unreadable on Windows")
    def test_unreadable_root_fails_and_publishes_nothing(self):
        self.write("src/a", "1")
        os.chmod(self.path("src"), 0)

        def run():
            with self.assertRaises(BackupError) as ctx:
                engine.make_snapshot(make_task(self.path("src"), self.path("dest")), NOW, UTC)
            return str(ctx.exception), os.path.lexists(self.path("dest"))
        message, left = self.as_unprivileged(run)
        self.assertIn("cannot be read: permission denied", message)
        self.assertFalse(left)

    def test_a_partial_snapshot_has_its_record_and_deleting_removes_it(self):
        self.write("src/a", "1")
        self.write("src/b", "2")
        self.write("src/c", "3")
        from tests.test_engine import FailingOps
        result = engine.make_snapshot(make_task(self.path("src"), self.path("dest")), NOW, UTC,
                                      ops=FailingOps(deny="b"))
        name = os.path.basename(result.snapshot)
        self.assertEqual(snapshots.read_incomplete(self.path("dest"), name), frozenset(["b"]))
        self.assertEqual(snapshots.list_snapshots(self.path("dest")), [name])
        snapshots.delete_snapshot(self.path("dest"), name)
        self.assertEqual(os.listdir(self.path("dest")), [])

    def test_missing_or_damaged_records(self):
        os.makedirs(self.path("dest", C1))
        self.assertIs(snapshots.read_incomplete(self.path("dest"), C1), False)  # made before records: complete
        self.write("dest/%s.incomplete" % C1, "{\"skipped\": [\"a\"")
        self.assertIs(snapshots.read_incomplete(self.path("dest"), C1), EVERYTHING)
        self.write("dest/%s.incomplete" % C2, "{}")  # its snapshot is gone
        snapshots.remove_leftovers(self.path("dest"))
        self.assertEqual(sorted(os.listdir(self.path("dest"))), [C1, C1 + ".incomplete"])


@unittest.skipIf(os.name == "nt", "chmod 0 does not make a folder unreadable on Windows (Windows lane: an ACL)")
class UnreadableSourceProgramTest(TempDirTestCase):
    """backup_now as a real, unprivileged process (a forked child that has
    become nobody when the suite runs as root), retention keep 1."""

    def setUp(self):
        super(UnreadableSourceProgramTest, self).setUp()
        self.config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "keep": 1,
                                               "timestamp": "1 23:56"}])
        self.write("src/a", "1")
        self.write("src/docs/b", "2")
        self.write("src/c", "3")

    def backup(self):
        code = run_program(backup_now, ["--config", self.path("config.json"), "T"])[0]
        runs = History.for_config(self.config).runs()
        return code, runs[-1]["status"], snapshots.list_snapshots(self.path("dest"))

    def test_an_unreadable_root_fails_and_good_snapshots_survive(self):
        def scenario():
            first, second = self.backup(), self.backup()
            os.chmod(self.path("src"), 0)
            try:
                return first, second, self.backup()
            finally:
                os.chmod(self.path("src"), 0o755)
        first, second, third = self.as_unprivileged(scenario)
        self.assertEqual(first[:2], (0, "success"))
        self.assertEqual(second[:2], (0, "success"))
        self.assertEqual(third[:2], (1, "failed"))
        self.assertEqual(third[2], second[2])  # the good snapshot is still there

    def test_an_unreadable_folder_keeps_the_only_copy_of_its_files(self):
        def scenario():
            results = [self.backup()]
            os.chmod(self.path("src", "docs"), 0)
            results += [self.backup(), self.backup()]
            holds = [os.path.exists(os.path.join(self.path("dest"), n, "docs", "b")) for n in results[-1][2]]
            os.chmod(self.path("src", "docs"), 0o755)
            results.append(self.backup())
            return results, holds
        (first, second, third, fourth), holds = self.as_unprivileged(scenario)
        self.assertEqual(first[:2], (0, "success"))
        self.assertEqual(second[:2], (3, "partial"))
        self.assertEqual(third[:2], (3, "partial"))
        self.assertEqual(third[2], [first[2][0], third[2][-1]])  # the complete one and the newest
        self.assertEqual(holds, [True, False])
        self.assertEqual(fourth[:2], (0, "success"))
        self.assertEqual(len(fourth[2]), 1, fourth)
        left = sorted(n for n in os.listdir(self.path("dest")) if not n.endswith(snapshots.INDEX))
        self.assertEqual(left, fourth[2])  # no record left behind (the index of moved files aside)


class ListingTest(TempDirTestCase):
    def test_text_and_json_say_the_same_of_each_entry(self):
        import json
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True}])
        for name in (C1, C2, P3 + ".partial"):
            os.makedirs(self.path("dest", name))
        snapshots.write_incomplete(self.path("dest"), C2, ["docs", "a.pst"])
        argv = ["--config", config.path, "snapshots"]
        code, out, _ = run_program(backup_now, argv + ["--json"])
        self.assertEqual(code, 0)
        states = [(i["name"], i["state"], i["lacks"]) for i in json.loads(out)["snapshots"]]
        self.assertEqual(states, [(C1, "complete", None), (C2, "incomplete", 2),
                                  (P3 + ".partial", "unfinished", None)])
        code, out, _ = run_program(backup_now, argv)
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertIn("incomplete: lacks 2 paths the run could not read", lines[2])
        self.assertNotIn("incomplete", lines[1])
        self.assertIn("unfinished (left by an interrupted run", lines[3])
        # While a run is writing it (holding the task's lock), the .partial is not "left by an interrupted run".
        from task_runner.runs.locks import task_lock
        lock = task_lock(config, "T")
        self.assertTrue(lock.acquire(timeout=0))
        try:
            History.for_config(config).start_run("T", "manual", "2026-11-03T10:00:00+00:00")
            self.assertIn("being written by run 1 (running now)", run_program(backup_now, argv)[1])
            self.assertEqual(json.loads(run_program(backup_now, argv + ["--json"])[1])["snapshots"][-1]["state"],
                             "writing")
        finally:
            lock.release()
        # Its process gone (killed: found from outside), it is unfinished at once, not after a status.
        self.assertIn("unfinished (left by an interrupted run", run_program(backup_now, argv)[1])


class NamesTest(TempDirTestCase):
    """One rule compares names (osutil.name_fold): the case-insensitive
    branch (Windows, macOS) is reached on Linux by injecting it."""

    def setUp(self):
        super(NamesTest, self).setUp()
        self.write("src/Documents/CV.docx", "cv")
        self.write("src/Documents/other.txt", "o")

    def snapshot(self, fmt):
        task = make_task(self.path("src"), self.path("dest"), format=fmt)
        return task, os.path.basename(engine.make_snapshot(task, NOW, UTC).snapshot)

    def test_restore_and_versions_find_a_name_in_another_case(self):
        from task_runner.snapshots import catalog
        from task_runner.restore import restorer as restore
        from task_runner.fs import osutil
        for fmt in ("folder", "zip"):
            with self.subTest(fmt=fmt):
                task, name = self.snapshot(fmt)
                asked = os.path.join("documents", "cv.DOCX")
                result = restore.restore(task, name, self.path("to-" + fmt), [asked], clock=lambda: NOW, zone=UTC,
                                         fold=osutil.name_fold(True))
                self.assertEqual(result.files, 1)
                self.assertEqual(result.renamed, ((asked, os.path.join("Documents", "CV.docx")),))
                with open(self.path("to-" + fmt, "Documents", "CV.docx")) as f:
                    self.assertEqual(f.read(), "cv")
                self.assertEqual(len(catalog.versions(task, asked, osutil.name_fold(True))), 1)
                if osutil.WINDOWS:  # NTFS itself finds a name in any case: the exact rule is Linux's only
                    shutil.rmtree(self.path("dest"))
                    continue
                self.assertEqual(catalog.versions(task, asked, osutil.name_fold(False)), [])
                with self.assertRaises(restore.NotInSnapshot) as ctx:
                    restore.restore(task, name, self.path("no-" + fmt), [asked], clock=lambda: NOW, zone=UTC,
                                    fold=osutil.name_fold(False))
                self.assertIn("documents/cv.DOCX is not in this copy", str(ctx.exception).replace(os.sep, "/"))
                self.assertIn("the closest names there: Documents", str(ctx.exception))
                self.assertFalse(os.path.exists(self.path("no-" + fmt)))
                shutil.rmtree(self.path("dest"))

    @unittest.skipIf(os.name == "nt", "NTFS holds one of two names that differ in case only: the source cannot be made")
    def test_two_names_that_differ_only_in_case_are_not_guessed_between(self):
        from task_runner.snapshots import catalog, reader as snapshot_reader
        from task_runner.fs import osutil
        self.write("src/Documents/cv.docx", "other")
        task, name = self.snapshot("zip")
        with snapshot_reader.SnapshotReader(os.path.join(task.dest, name)) as reader:
            fold = osutil.name_fold(True)
            self.assertEqual(catalog.stored_rel(reader, "Documents/cv.docx", fold),
                             os.path.join("Documents", "cv.docx"))  # the one typed
            self.assertIsNone(catalog.stored_rel(reader, "Documents/CV.DOCX", fold))  # which one?

    @unittest.skipIf(os.name == "nt" or sys.platform == "darwin", "names compare exactly on Linux only")
    def test_a_path_that_selects_nothing_exits_1_and_names_the_closest(self):
        self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True}])
        self.assertEqual(run_program(backup_now, ["--config", self.path("config.json")])[0], 0)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config",
                               self.path("config.json"), "restore", "documents/cv.DOCX", "--to", self.path("r")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("documents/cv.DOCX is not in this copy", proc.stderr)
        self.assertIn("the closest names there: Documents", proc.stderr)
        self.assertNotIn("restored", proc.stdout)
        self.assertFalse(os.path.exists(self.path("r")))

    @unittest.skipUnless(os.name == "nt" or sys.platform == "darwin", "names compare case-insensitively there "
                         "(the Windows lane proves it)")
    def test_a_path_in_another_case_restores_the_snapshots_name_and_says_so(self):
        self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "default": True}])
        self.assertEqual(run_program(backup_now, ["--config", self.path("config.json")])[0], 0)
        code, out, err = run_program(backup_now, ["--config", self.path("config.json"), "restore",
                                                  "documents/cv.DOCX", "--to", self.path("r")])
        self.assertEqual(code, 0, out + err)
        self.assertIn("is %s in this copy: restoring that" % os.path.join("Documents", "CV.docx"), out)
        self.assertIn("restored 1 file", out)
        self.assertEqual(sorted(os.listdir(self.path("r", "Documents"))), ["CV.docx"])


class RemoteRetentionTest(TempDirTestCase):
    def test_the_remote_keeps_the_complete_snapshot_a_partial_upload_follows(self):
        from task_runner.offsite import cleanup
        from task_runner.offsite.rclone import Result

        class Rclone(object):
            deleted = []

            def run(self, args, timeout=None, quiet=False):
                self.deleted.append(args[-1].rsplit("/", 1)[-1])
                return Result(0, {}, None, "", None)
        for name in (C1, C2, P3):
            os.makedirs(self.path("dest", name))
        snapshots.write_incomplete(self.path("dest"), P3, ["docs"])
        task = make_task(self.path("src"), self.path("dest"), offsite=type("O", (), {
            "keep": parse_policy(1), "remote": "r:x"})())
        rc = Rclone()
        self.assertEqual(cleanup.apply_retention(rc, task, P3, [C1, C2, P3], [], NOW), [C1])


def deep_tree(root, levels=18):
    """A folder chain under ``root`` whose full path is longer than Linux's
    PATH_MAX (4096 bytes), made through descriptors; a file at the bottom.
    Returns the relative path of that file."""
    name = "d" * 240
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        leaf = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"deep")
        os.close(leaf)
    finally:
        os.close(fd)
    return "/".join([name] * levels + ["deep.txt"])


def remove_deep(root):
    """Remove what deep_tree made (shutil cannot: the path is too long)."""
    import subprocess as sp
    sp.call(["rm", "-rf", root])


class VerifyTruthTest(TempDirTestCase):
    @unittest.skipIf(os.name == "nt", "PATH_MAX is Linux's limit")
    def test_a_path_too_long_to_read_is_said_missing_not_matching(self):
        from task_runner.restore import verify
        self.write("src/a", "1")
        deep_tree(self.path("src"))
        self.addCleanup(remove_deep, self.path("src"))
        for fmt in ("folder", "zip"):
            with self.subTest(fmt=fmt):
                task = make_task(self.path("src"), self.path("dest-" + fmt), format=fmt)
                result = engine.make_snapshot(task, NOW, UTC)
                self.assertGreaterEqual(result.error_count, 1)  # partial
                for deep in (False, True):
                    checked = verify.verify_task(task, deep=deep)
                    self.assertFalse(checked.ok)
                    self.assertGreaterEqual(checked.missing, 1)
                    self.assertIn("could not be read in the source either", " ".join(checked.differences))

    @unittest.skipUnless(hasattr(os, "geteuid") and os.geteuid() == 0, "needs root: the source is read as nobody")
    def test_what_verify_cannot_read_in_the_source_is_not_compared_and_never_a_traceback(self):
        """A file listed but not readable, a folder not readable: found
        from outside as a PermissionError traceback (--deep) and as
        "extra" files (the folder's), exit 1."""
        from task_runner.restore import verify
        self.write("src/a.txt", "a")
        self.write("src/locked.txt", "locked")
        self.write("src/D/x.txt", "x")
        for fmt in ("folder", "zip"):
            task = make_task(self.path("src"), self.path("dest-" + fmt), format=fmt)
            self.assertEqual(engine.make_snapshot(task, NOW, UTC).error_count, 0)
        os.chmod(self.path("src", "locked.txt"), 0)
        os.chmod(self.path("src", "D"), 0)

        def check():
            got = []
            for fmt in ("folder", "zip"):
                task = make_task(self.path("src"), self.path("dest-" + fmt), format=fmt)
                got.append(verify.verify_task(task, deep=True))
            return [(r.extra, r.changed, r.missing, r.unchecked >= 2, r.complete, r.differences) for r in got]
        for fmt, result in zip(("folder", "zip"), self.as_unprivileged(check)):
            self.assertEqual(result, (0, 0, 0, True, False, []), fmt)

    def test_verify_deep_reports_a_damaged_zip_member_and_goes_on(self):
        from task_runner.restore import verify
        self.write("src/a.txt", "a" * 5000)
        self.write("src/b.txt", "b" * 5000)
        self.write("src/c.txt", "c" * 5000)
        task = make_task(self.path("src"), self.path("dest"), format="zip")
        path = engine.make_snapshot(task, NOW, UTC).snapshot
        import zipfile
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("b.txt")
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        with open(path, "r+b") as f:
            f.seek(start)
            data = bytearray(f.read(info.compress_size))
            for i in range(len(data)):
                data[i] ^= 0x5A
            f.seek(start)
            f.write(bytes(data))
        result = verify.verify_task(task, deep=True)
        self.assertEqual((result.checked, result.changed, result.missing), (3, 1, 0))
        self.assertIn("changed: b.txt (damaged in the archive", result.differences[0])
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config",
                               self.write_config({"tasks": [{"name": "T", "src": "src", "dest": "dest",
                                                             "format": "zip"}]}),
                               "verify", "T", "--deep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn("DIFFERS from", proc.stdout)

    def test_zip_mode_0_is_restored_as_0_and_no_mode_as_the_usual(self):
        import stat
        import zipfile
        from task_runner.restore import restorer as restore
        from task_runner.snapshots import reader as snapshot_reader
        os.makedirs(self.path("dest"))
        path = self.path("dest", "2026-11-27_12-00-00.zip")
        with zipfile.ZipFile(path, "w") as zf:
            ours = zipfile.ZipInfo("locked.txt", (2026, 11, 27, 12, 0, 0))
            ours.external_attr = stat.S_IFREG << 16  # this program's: type bits, mode 000
            zf.writestr(ours, "secret")
            folder = zipfile.ZipInfo("shut/", (2026, 11, 27, 12, 0, 0))
            folder.external_attr = (stat.S_IFDIR << 16) | 0x10
            zf.writestr(folder, "")
            foreign = zipfile.ZipInfo("plain.txt", (2026, 11, 27, 12, 0, 0))
            foreign.create_system = 0  # MS-DOS: no mode kept
            foreign.external_attr = 0
            zf.writestr(foreign, "plain")
        modes = {e.rel: e.mode for e in snapshot_reader.read_entries(path)}
        self.assertEqual(modes, {"locked.txt": 0, "shut": 0, "plain.txt": 0o644})
        task = make_task(self.path("src"), self.path("dest"), format="zip")
        restore.restore(task, os.path.basename(path), self.path("back"), clock=lambda: NOW, zone=UTC)
        if os.name != "nt":  # (Windows keeps a read-only flag, not modes)
            self.assertEqual(stat.S_IMODE(os.lstat(self.path("back", "locked.txt")).st_mode), 0)
            self.assertEqual(stat.S_IMODE(os.lstat(self.path("back", "shut")).st_mode), 0)
            self.assertEqual(stat.S_IMODE(os.lstat(self.path("back", "plain.txt")).st_mode), 0o644)

class ExitCodeProgramTest(TempDirTestCase):
    def program(self, name, *args):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, name), "--config", self.path("config.json")]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=60)
        self.assertNotIn("Traceback", proc.stdout)
        return proc.returncode, proc.stdout

    def test_once_exits_as_backup_now_does_for_the_same_outcome(self):
        # Due every day at 00:00 (within missed_task_days of any time of day), with no source: failed.
        config = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "dest", "timestamp": "00:00"}])
        os.rmdir(self.path("src"))
        code, out = self.program("scheduled_task_runner.py", "once")
        self.assertEqual([r["status"] for r in History.for_config(config).runs()], ["failed"])
        self.assertEqual(code, 1, out)
        self.assertEqual(self.program("backup_now.py", "T")[0], 1)
        os.mkdir(self.path("src"))
        self.write("src/a", "1")
        code, out = self.program("scheduled_task_runner.py", "once")  # the failed occurrence is caught up at once
        self.assertEqual(History.for_config(config).runs()[-1]["status"], "success")
        self.assertEqual(code, 0, out)
        code, out = self.program("scheduled_task_runner.py", "once")  # nothing due
        self.assertEqual((code, len(History.for_config(config).runs())), (0, 3))


class OutcomeTableTest(unittest.TestCase):
    """docs/REFERENCE.md's one table of outcomes says what the code does."""

    def table(self):
        with open(os.path.join(ROOT, "docs", "REFERENCE.md"), encoding="utf-8") as f:
            text = f.read()
        section = text[text.index("## Exit codes\n"):text.index("## The history")]
        rows = {}
        for line in section.splitlines():
            if line.startswith("| `"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                rows[cells[0].strip("`")] = cells
        return section, rows

    def test_each_outcome(self):
        from task_runner import history
        from task_runner.runs import notify, runner
        from task_runner.commands import _common
        section, rows = self.table()
        self.assertEqual(sorted(rows), sorted(["success", "partial", "failed", "skipped", "interrupted"]))
        for status, (_, when, code, snapshot, schedule, prunes, notifies) in rows.items():
            with self.subTest(status=status):
                expected = runner.EXIT_CODES.get(status)
                self.assertEqual(code.split()[0], str(expected) if expected is not None else "none")
                self.assertEqual(schedule == "satisfied", status in history.DONE)
                self.assertEqual(prunes.startswith("runs"), status in runner.PRUNES_AFTER)
                self.assertEqual(prunes == "never", status not in runner.PRUNES_AFTER)
                record = {"status": status}
                if notifies == "yes":
                    self.assertTrue(notify.is_failure(record))
                elif notifies.startswith("only with `\"partial_is_failure\": true`"):
                    self.assertEqual((notify.is_failure(record), notify.is_failure(record, True)), (False, True))
                else:
                    self.assertFalse(notify.is_failure(record, True))
        order = ", ".join(str(c) for c in _common._PRECEDENCE)
        self.assertIn("in the order %s." % order, section)
        for code, name in [(2, "EXIT_USAGE"), (4, "EXIT_ALREADY_RUNNING"), (5, "EXIT_OFFSITE_FAILED")]:
            self.assertEqual(getattr(errors, name), code)
            self.assertIn("| %d |" % code, section)
        self.assertEqual(_common.UPLOAD_EXIT_CODES["failed"], 5)


if __name__ == "__main__":
    unittest.main()
