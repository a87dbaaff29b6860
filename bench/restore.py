#!/usr/bin/env python3
"""Benchmark a restore against cp -a, in one run.

    python3 bench/restore.py [--dir DIR] [--repeat N] [--files N] [--project PATH]

Builds a tree of 4 KiB files (100 a folder) on /dev/shm when present, backs
it up once with the project's backup_now.py, then times as whole processes
(what a user waits for) `backup_now.py --restore --to NEW` into a new folder
and `cp -a` of the same snapshot, each repeated, and prints the medians and
their ratio. ``--project`` names another checkout to time the same way (an
older commit, to measure a change before and after on the same tree).
POSIX only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench import build_tree  # noqa: E402  (the same trees as bench.py)


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--project", action="append", default=[], help="another checkout to time too")
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="restore-bench-", dir=args.dir)
    try:
        src, dest = os.path.join(work, "src"), os.path.join(work, "dest")
        build_tree(src, args.files, 4096, 100)
        config = os.path.join(work, "config.json")
        with open(config, "w") as f:
            json.dump({"tasks": [{"name": "T", "src": src, "dest": dest, "default": True}]}, f)
        subprocess.run([sys.executable, os.path.join(ROOT, "backup_now.py"), "--config", config], check=True,
                       stdout=subprocess.DEVNULL)
        snapshot = os.path.join(dest, os.listdir(dest)[0])
        projects = [ROOT] + [os.path.abspath(x) for x in args.project]
        times = {"cp -a": []}
        times.update((proj, []) for proj in projects)
        for i in range(args.repeat):  # interleaved: a noisy moment hits every tool alike
            out = os.path.join(work, "out")
            times["cp -a"].append(timed(["cp", "-a", snapshot, out]))
            shutil.rmtree(out)
            for proj in projects:
                times[proj].append(timed([sys.executable, os.path.join(proj, "backup_now.py"), "--config", config,
                                          "--restore", "--to", out]))
                shutil.rmtree(out)
        base = statistics.median(times["cp -a"])
        print("restore of %d files of 4 KiB, medians of %d, whole processes" % (args.files, args.repeat))
        for name, values in times.items():
            med = statistics.median(values)
            print("  %-40s %7.2f s  %5.2fx cp -a" % (name if name == "cp -a" else "backup_now --restore (%s)"
                                                   % os.path.basename(name), med, med / base))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
