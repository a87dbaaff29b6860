#!/usr/bin/env python3
"""What moving, renaming and copying inside src costs the next snapshot,
against `rsync -a --link-dest`, in one run.

    python3 bench/moves.py [--dir DIR] [--repeat N] [--quick] [--old CHECKOUT]

Builds a tree (on /dev/shm when present), then, as whole processes, for
the project's engine and for rsync: a full backup, an unchanged run, and a
run after each change: the top folder renamed, a quarter of the files
moved to other folders, a tenth of the tree copied with `cp -a` inside
src. For each: seconds (median of --repeat, each on a fresh copy of the
state before; the source is changed in place and changed back, so its
files keep their ids) and what the new snapshot added to the drive (`du
-sk` of the destination before and after). With --old (a checkout of the code
before this change, e.g. `git worktree add /tmp/old main`), the full and
unchanged runs are timed with that code too, in the same run, as they are
with the index turned off ("ours without the index": the cost of
NAME.index alone). POSIX only.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL = (20000, 1024 * 1024 * 1024 // 20000, 100)  # files, bytes each, files per folder: 1 GiB
QUICK = (2000, 16 * 1024, 100)

ENGINE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from task_runner import engine
from task_runner.config import TASK_KEYS, Task
fields = {k.attr or n: k.default for n, k in TASK_KEYS.items()}
fields.update(name="B", src=sys.argv[2], dest=sys.argv[3])
if sys.argv[5:] == ["no-index"]:
    engine.sqlite3 = None  # the engine as it was before NAME.index: nothing recorded, nothing looked up
t = time.perf_counter()
r = engine.make_snapshot(Task(**fields), float(sys.argv[4]))
print(time.perf_counter() - t, r.copied, r.linked, getattr(r, "moved", 0))
"""


def build(root, count, size, per_dir):
    block = os.urandom(size)
    for i in range(count):
        folder = os.path.join(root, "top", "d%03d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(folder)
        with open(os.path.join(folder, "f%06d.bin" % i), "wb") as f:
            f.write(block[:size - 8] + i.to_bytes(8, "little"))  # every file its own content


def du_kib(path):
    out = subprocess.check_output(["du", "-sk", path])
    return int(out.split()[0])


def ours(code, src, dest, when):
    """``code``: a checkout, or (checkout, "no-index")."""
    code, extra = (code, []) if isinstance(code, str) else (code[0], list(code[1:]))
    start = time.perf_counter()
    out = subprocess.check_output([sys.executable, "-c", ENGINE, code, src, dest, str(when)] + extra)
    wall = time.perf_counter() - start
    secs, copied, linked, moved = out.split()
    return wall, float(secs), (int(copied), int(linked), int(moved))


def rsync(src, dest, name, previous=None):
    cmd = ["rsync", "-a"] + (["--link-dest=" + os.path.join(dest, previous)] if previous else [])
    if not os.path.isdir(dest):
        os.makedirs(dest)
    start = time.perf_counter()
    subprocess.check_call(cmd + [src + "/", os.path.join(dest, name) + "/"])
    return time.perf_counter() - start


def rename(src):
    os.rename(os.path.join(src, "top"), os.path.join(src, "top renamed"))
    return lambda: os.rename(os.path.join(src, "top renamed"), os.path.join(src, "top"))


def move_quarter(src):
    top = os.path.join(src, "top")
    folders = sorted(os.listdir(top))
    done = []
    for n, folder in enumerate(folders):
        target = os.path.join(top, folders[(n + 1) % len(folders)])
        for name in sorted(os.listdir(os.path.join(top, folder)))[:25]:
            if name.startswith("f"):
                done.append((os.path.join(top, folder, name), os.path.join(target, "m" + name)))
                os.rename(*done[-1])
    return lambda: [os.rename(new, old) for old, new in reversed(done)]


def copy_tenth(src):
    top = os.path.join(src, "top")
    folders = sorted(os.listdir(top))
    os.makedirs(os.path.join(src, "copies"))
    for folder in folders[:max(1, len(folders) // 10)]:
        subprocess.check_call(["cp", "-a", os.path.join(top, folder), os.path.join(src, "copies", folder)])
    return lambda: shutil.rmtree(os.path.join(src, "copies"))


CHANGES = [("rename top folder", rename), ("move 1/4 of files", move_quarter), ("cp -a 1/10 inside src", copy_tenth)]


def case(work, base, change, code, repeat):
    """Median seconds and KiB added, for ours and rsync, of a run after
    ``change`` (None: nothing changed) to the source, on copies of the
    destinations of ``base``. The source itself is changed in place and
    the change undone after each round: a copy would give every file a new
    id, and a moved file would be found by its contents, not its id."""
    results = {"ours": [], "rsync": []}
    src = os.path.join(base, "src")
    for _ in range(repeat):
        here = os.path.join(work, "case")
        shutil.rmtree(here, ignore_errors=True)
        os.makedirs(here)
        for name in ("dest", "rdest"):
            subprocess.check_call(["cp", "-a", os.path.join(base, name), os.path.join(here, name)])
        undo = change(src) if change is not None else None
        try:
            before = du_kib(os.path.join(here, "dest"))
            wall, secs, counts = ours(code, src, os.path.join(here, "dest"), time.time() + 86400)
            results["ours"].append((wall, du_kib(os.path.join(here, "dest")) - before, counts))
            before = du_kib(os.path.join(here, "rdest"))
            wall = rsync(src, os.path.join(here, "rdest"), "s2", "s1")
            results["rsync"].append((wall, du_kib(os.path.join(here, "rdest")) - before, None))
        finally:
            if undo is not None:
                undo()
    return {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), v[-1][2])
            for k, v in results.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--old", help="a checkout of the code before, for the full and unchanged runs")
    args = parser.parse_args()
    count, size, per_dir = QUICK if args.quick else FULL
    work = tempfile.mkdtemp(prefix="bench_moves_", dir=args.dir)
    try:
        base = os.path.join(work, "base")
        build(os.path.join(base, "src"), count, size, per_dir)
        print("tree: %d files of %d bytes (%.1f MiB); load: %s" % (
            count, size, count * size / 1048576.0, os.getloadavg()))
        codes = [("ours", ROOT), ("ours without the index", (ROOT, "no-index"))] + \
            ([("before", args.old)] if args.old else [])
        # Each round runs every code and rsync in turn, so that a slower
        # minute of the shared machine falls on all of them alike.
        full = {label: [] for label, _ in codes + [("rsync -a", None)]}
        for _ in range(args.repeat):
            for label, code in codes:
                shutil.rmtree(os.path.join(work, "f"), ignore_errors=True)
                os.makedirs(os.path.join(work, "f"))
                full[label].append(ours(code, os.path.join(base, "src"), os.path.join(work, "f"), time.time())[0])
            shutil.rmtree(os.path.join(work, "r"), ignore_errors=True)
            full["rsync -a"].append(rsync(os.path.join(base, "src"), os.path.join(work, "r"), "s1"))
        full = {label: statistics.median(times) for label, times in full.items()}
        print("full backup: " + ", ".join("%s %.3f s" % kv for kv in full.items()))
        ours(ROOT, os.path.join(base, "src"), os.path.join(base, "dest"), time.time())
        rsync(os.path.join(base, "src"), os.path.join(base, "rdest"), "s1")
        unchanged = {label: [] for label, _ in codes}
        for _ in range(args.repeat):
            for label, code in codes:
                r = case(work, base, None, code, 1)
                unchanged[label].append((r["ours"][0], r["rsync"][0]))
        for label, times in unchanged.items():
            mine, theirs = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
            print("unchanged (%s): %.3f s = %.2fx rsync --link-dest (%.3f s)" % (label, mine, mine / theirs, theirs))
        for name, change in CHANGES:
            r = case(work, base, change, ROOT, args.repeat)
            print("%s: ours %.3f s (%.2fx our full), +%d KiB, (copied, linked, moved) %s; "
                  "rsync --link-dest %.3f s, +%d KiB" % (
                      name, r["ours"][0], r["ours"][0] / full["ours"], r["ours"][1], r["ours"][2],
                      r["rsync"][0], r["rsync"][1]))
        print("load after: %s" % (os.getloadavg(),))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
