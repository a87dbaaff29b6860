#!/usr/bin/env python3
"""Benchmark the backup engine against cp -a and rsync, in one run.

    python3 bench/bench.py [--dir DIR] [--repeat N] [--json FILE] [--quick]

Builds trees in a temporary folder (on /dev/shm when present, so the disk
does not dominate), then times, as whole processes, a full snapshot and an
unchanged-tree incremental snapshot made by the project's own run_task
(what backup_now.py calls), and the whole `backup_now.py` process (what a
user waits for: interpreter start-up, imports, config, history, log and the
flush before publishing included), against `cp -a`, `rsync -a` and
`rsync -a --link-dest` where those exist. Each is repeated and the median
reported, with ratios to the reference tools and the peak memory (max RSS)
of the project's runs. Then the flush before publishing: syncfs() of the
destination's file system against os.sync() while another file system has
unwritten data (a busy machine). Standard library only; POSIX only (it
reads rusage from os.wait4).
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
BACKUP_NOW = os.path.join(ROOT, "backup_now.py")

# name: (number of files, bytes per file, files per folder)
TREES = {
    "small": (20000, 4096, 100),
    "large": (20, 50 * 1024 * 1024, 20),
    "tiny": (200000, 16, 500),
}
QUICK = {"small": (2000, 4096, 100), "large": (4, 8 * 1024 * 1024, 4), "tiny": (20000, 16, 500)}


def build_tree(root, count, size, per_dir):
    block = os.urandom(min(size, 1024 * 1024))
    for i in range(count):
        folder = os.path.join(root, "d%04d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(folder)
        with open(os.path.join(folder, "f%06d.bin" % i), "wb") as f:
            left = size
            while left > 0:
                f.write(block[:left])
                left -= len(block)


def timed(cmd):
    """(seconds, max RSS in MiB) of one process; raises when it fails. For
    our own runs (``--worker``) the seconds are those of run_task itself,
    as the worker reports them: interpreter start-up is listed apart."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if cmd[1:2] == [os.path.abspath(__file__)]:
        seconds = json.loads(out.decode())["seconds"]
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%s): %s" % (cmd[0], proc.returncode, err[-500:]))
    return seconds, usage.ru_maxrss / 1024.0


def fresh(path):
    if os.path.exists(path):
        shutil.rmtree(path)


def write_config(work, src, dest, incremental=True):
    path = os.path.join(work, "config-%s.json" % ("inc" if incremental else "full"))
    with open(path, "w") as f:
        json.dump({"tasks": [{"name": "bench", "src": src, "dest": dest, "default": True,
                              "incremental": incremental}],
                   "log": {"level": "WARNING"}, "history_limit": 5}, f)
    return path


def ours(config, low=False):
    return [sys.executable, os.path.abspath(__file__), "--worker", config] + (["--low"] if low else [])


def ours_process(config):
    return [sys.executable, BACKUP_NOW, "--config", config]


def worker(config_path, low=False):
    """Run the default task of ``config_path`` with run_task and print how
    long run_task took (the same call backup_now.py makes); ``low``: at low
    priority, as scheduled runs are."""
    sys.path.insert(0, ROOT)
    from task_runner.config import load_config, select_tasks
    from task_runner.runs.runner import run_task
    config = load_config(config_path)
    task, = select_tasks(config)
    start = time.perf_counter()
    outcome = run_task(config, task, "manual", low_priority=low)
    seconds = time.perf_counter() - start
    if outcome.status != "success":
        sys.exit("run_task: %s: %s" % (outcome.status, outcome.message))
    print(json.dumps({"seconds": seconds}))


def startup_seconds(repeat):
    """Median time to start Python and import what backup_now.py imports."""
    code = "import sys; sys.path.insert(0, %r); import task_runner.runs.runner, task_runner.commands.cli" % ROOT
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.check_call([sys.executable, "-c", code])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def only_snapshot(dest):
    names = [n for n in os.listdir(dest) if os.path.isdir(os.path.join(dest, n)) and n[:1].isdigit()
             and not n.endswith(".partial")]  # not .locks, not a snapshot's NAME.index
    return os.path.join(dest, sorted(names)[-1])


def bench_tree(work, name, spec, repeat):
    src = os.path.join(work, name + "-src")
    build_tree(src, *spec)
    out = os.path.join(work, name + "-out")
    results = {}

    def measure(label, prepare, cmd_factory, cleanup):
        times, rss = [], []
        for _ in range(repeat):
            prepare()
            t, m = timed(cmd_factory())
            times.append(t)
            rss.append(m)
            cleanup()
        results[label] = {"median_s": statistics.median(times), "runs_s": times, "max_rss_mib": max(rss)}
        print("  %-22s median %7.3f s  (%s)" % (label, statistics.median(times),
                                                ", ".join("%.3f" % t for t in times)), flush=True)

    # Full copy into an empty destination.
    dest = os.path.join(out, "ours")
    measure("ours full", lambda: (fresh(out), os.makedirs(out)), lambda: ours(write_config(work, src, dest)),
            lambda: fresh(out))
    measure("backup_now.py full", lambda: (fresh(out), os.makedirs(out)),
            lambda: ours_process(write_config(work, src, dest)), lambda: fresh(out))
    measure("ours full, low priority", lambda: (fresh(out), os.makedirs(out)),
            lambda: ours(write_config(work, src, dest), low=True), lambda: fresh(out))
    if shutil.which("cp"):
        measure("cp -a", lambda: (fresh(out), os.makedirs(out)),
                lambda: ["cp", "-a", src, os.path.join(out, "cp")], lambda: fresh(out))
    if shutil.which("rsync"):
        measure("rsync -a", lambda: (fresh(out), os.makedirs(out)),
                lambda: ["rsync", "-a", src + "/", os.path.join(out, "rsync") + "/"], lambda: fresh(out))

    # Incremental over an unchanged tree: one earlier snapshot exists.
    fresh(out)
    os.makedirs(out)
    timed(ours(write_config(work, src, dest)))
    first = only_snapshot(dest)

    def drop_newer():
        for n in os.listdir(dest):
            path = os.path.join(dest, n)
            if path in (first, first + ".index"):  # the earlier snapshot and its index (moved files) stay
                continue
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        time.sleep(1.05)  # the next snapshot needs its own second-resolution name
    measure("ours incremental", drop_newer, lambda: ours(write_config(work, src, dest)), drop_newer)
    measure("backup_now.py incremental", drop_newer, lambda: ours_process(write_config(work, src, dest)),
            drop_newer)
    if shutil.which("rsync"):
        target = os.path.join(out, "rsync-link")
        measure("rsync --link-dest", lambda: fresh(target),
                lambda: ["rsync", "-a", "--link-dest=" + first, src + "/", target + "/"], lambda: fresh(target))
    fresh(out)
    shutil.rmtree(src)
    return results


def bench_flush(work, busy_dir, megabytes, repeat):
    """Median seconds of flush_filesystem(work) and of os.sync() while
    ``busy_dir`` (another file system) holds ``megabytes`` not yet written."""
    sys.path.insert(0, ROOT)
    from task_runner.fs import osutil
    out = {"flush_filesystem": [], "os.sync": []}
    block = os.urandom(1024 * 1024)
    for _ in range(repeat):
        for label, flush in (("flush_filesystem", lambda: osutil.flush_filesystem(work)),
                             ("os.sync", os.sync)):
            os.sync()
            dirty = os.path.join(busy_dir, "task_runner_bench_dirty.bin")
            with open(dirty, "wb") as f:
                for _ in range(megabytes):
                    f.write(block)
            start = time.perf_counter()
            flush()
            out[label].append(time.perf_counter() - start)
            os.remove(dirty)
    os.sync()
    return {k: statistics.median(v) for k, v in out.items()}


def ratio(results, a, b):
    if a in results and b in results and results[b]["median_s"] > 0:
        return results[a]["median_s"] / results[b]["median_s"]
    return None


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                   help="where to build the trees (default /dev/shm when present)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each tool (median reported)")
    p.add_argument("--json", metavar="FILE", help="write the numbers here")
    p.add_argument("--quick", action="store_true", help="trees a tenth of the size (a smoke test)")
    p.add_argument("--trees", default="small,large,tiny", help="which trees, comma-separated")
    p.add_argument("--busy-dir", default="/var/tmp",
                   help="a folder on another file system, dirtied for the flush comparison")
    p.add_argument("--busy-mb", type=int, default=256, help="megabytes left unwritten there")
    p.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    p.add_argument("--low", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.worker:
        return worker(args.worker, args.low)
    if not hasattr(os, "wait4"):
        sys.exit("bench.py needs POSIX (os.wait4)")
    specs = QUICK if args.quick else TREES
    work = tempfile.mkdtemp(prefix="task_runner_bench_", dir=args.dir)
    report = {"python": sys.version.split()[0], "dir": work, "repeat": args.repeat, "trees": {},
              "startup_s": startup_seconds(args.repeat)}
    print("python start-up and imports (not included in 'ours' times): %.3f s" % report["startup_s"])
    try:
        for name in args.trees.split(","):
            spec = specs[name]
            print("%s: %d files of %d bytes" % (name, spec[0], spec[1]), flush=True)
            report["trees"][name] = {"spec": spec, "results": bench_tree(
                work, name, spec, args.repeat if name != "tiny" else max(1, min(args.repeat, 3)))}
        if args.busy_dir and os.path.isdir(args.busy_dir):
            report["flush"] = bench_flush(work, args.busy_dir, args.busy_mb, args.repeat)
            print("flush before publishing, %d MB unwritten in %s: flush_filesystem %.3f s, os.sync %.3f s"
                  % (args.busy_mb, args.busy_dir, report["flush"]["flush_filesystem"], report["flush"]["os.sync"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\n| tree | measure | ratio | target |\n| --- | --- | --- | --- |")
    rows = [
        ("small", "ours full / cp -a", "ours full", "cp -a", "<= 1.2"),
        ("small", "backup_now.py full / cp -a", "backup_now.py full", "cp -a", "<= 1.5"),
        ("small", "ours full at low priority / ours full", "ours full, low priority", "ours full", "~ 1.0"),
        ("small", "backup_now.py incremental / rsync --link-dest", "backup_now.py incremental",
         "rsync --link-dest", "-"),
        ("small", "ours incremental / rsync --link-dest", "ours incremental", "rsync --link-dest", "<= 1.0"),
        ("small", "ours incremental / ours full", "ours incremental", "ours full", "<= 0.3"),
        ("large", "ours full / cp -a", "ours full", "cp -a", "<= 1.1"),
        ("large", "backup_now.py full / cp -a", "backup_now.py full", "cp -a", "-"),
        ("large", "ours incremental / rsync --link-dest", "ours incremental", "rsync --link-dest", "<= 1.0"),
        ("tiny", "ours full / cp -a", "ours full", "cp -a", "-"),
    ]
    report["ratios"] = []
    for tree, label, a, b, target in rows:
        if tree not in report["trees"]:
            continue
        r = ratio(report["trees"][tree]["results"], a, b)
        if r is None:
            continue
        report["ratios"].append({"tree": tree, "measure": label, "ratio": r, "target": target})
        print("| %s | %s | %.2fx | %s |" % (tree, label, r, target))
    for tree, data in report["trees"].items():
        res = data["results"]
        if "ours full" in res:
            print("| %s | peak memory of ours full | %.1f MiB | %s |" % (
                tree, res["ours full"]["max_rss_mib"], "< 40 MiB" if tree == "tiny" else "-"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
