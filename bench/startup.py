#!/usr/bin/env python3
"""What a program costs before it does its job: whole processes, timed.

    python3 bench/startup.py [--repeat N] [--project DIR] [--imports]

Times, as whole processes with bytecode cached (a first run of each writes
it), a bare ``python3 -c pass`` and the programs a user starts: a backup
of 5 small files without ``offsite`` (``backup_now.py T``), ``backup_now.py
--help``, ``scheduled_task_runner.py check`` and ``http_server.py --help``.
The runs are interleaved, repeated, and reported as medians of CPU time
(user + system, from os.wait4: steadier than wall time on a shared
machine) and of wall time, each also as the difference from the bare
start. ``--imports`` adds ``-X importtime``'s cumulative time of each
task_runner module the backup imports (the median of the runs), largest
first, and the number of modules loaded. ``--project`` times another
checkout (for before and after). Standard library only; POSIX only.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def programs(project, config):
    py = sys.executable
    return [
        ("python3 -c pass", [py, "-c", "pass"]),
        ("backup_now.py T (5 files)", [py, os.path.join(project, "backup_now.py"), "--config", config, "T"]),
        ("backup_now.py --help", [py, os.path.join(project, "backup_now.py"), "--help"]),
        ("scheduled_task_runner.py check", [py, os.path.join(project, "scheduled_task_runner.py"), "check",
                                            "--config", config]),
        ("http_server.py --help", [py, os.path.join(project, "http_server.py"), "--help"]),
    ]


def run_once(cmd, env):
    """(CPU seconds, wall seconds) of one process; raises when it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    if proc.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, err.decode(errors="replace")))
    return usage.ru_utime + usage.ru_stime, wall


def import_times(cmd, env):
    """{module: cumulative microseconds} of -X importtime for one run."""
    out = subprocess.run([cmd[0], "-X", "importtime"] + cmd[1:], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, check=True).stderr.decode()
    times = {}
    for line in out.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            times[m.group(3)] = int(m.group(1))
    return times


def make_sandbox(folder):
    src, dest = os.path.join(folder, "src"), os.path.join(folder, "dest")
    os.makedirs(src)
    for i in range(5):
        with open(os.path.join(src, "f%d.txt" % i), "w") as f:
            f.write("file %d\n" % i)
    config = os.path.join(folder, "config.json")
    with open(config, "w") as f:
        json.dump({"tasks": [{"name": "T", "src": src, "dest": dest, "timestamp": "1 23:56", "keep": 3}],
                   "log": {"file": os.path.join(folder, "run.log")},
                   "history_file": os.path.join(folder, "history.json")}, f)
    return config


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--project", default=ROOT, help="the checkout to time (default: this one)")
    p.add_argument("--imports", action="store_true", help="also the import time of each module")
    args = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    with tempfile.TemporaryDirectory() as folder:
        config = make_sandbox(folder)
        cases = programs(os.path.abspath(args.project), config)
        for _, cmd in cases:  # writes the bytecode: what a user's second start finds
            run_once(cmd, env)
        cpu, wall = {name: [] for name, _ in cases}, {name: [] for name, _ in cases}
        for _ in range(args.repeat):
            for name, cmd in cases:
                c, w = run_once(cmd, env)
                cpu[name].append(c)
                wall[name].append(w)
        bare_cpu, bare_wall = statistics.median(cpu[cases[0][0]]), statistics.median(wall[cases[0][0]])
        print("%s, %s, %d runs each (medians), load %s" % (
            sys.version.split()[0], os.path.abspath(args.project), args.repeat,
            " ".join("%.2f" % x for x in os.getloadavg())))
        print("%-32s %10s %12s %10s %12s" % ("", "CPU ms", "over bare", "wall ms", "over bare"))
        for name, _ in cases:
            c, w = statistics.median(cpu[name]), statistics.median(wall[name])
            print("%-32s %10.1f %+12.1f %10.1f %+12.1f" % (name, c * 1e3, (c - bare_cpu) * 1e3, w * 1e3,
                                                          (w - bare_wall) * 1e3))
        if args.imports:
            runs = [import_times(cases[1][1], env) for _ in range(max(3, args.repeat // 3))]
            ours = sorted({m for r in runs for m in r if m.split(".")[0] in ("task_runner", "backup_now")})
            medians = {m: statistics.median(r.get(m, 0) for r in runs) for m in ours}
            print("\n%d task_runner modules imported by the backup; cumulative import time (ms):" % len(ours))
            for m in sorted(medians, key=medians.get, reverse=True)[:25]:
                print("  %7.1f  %s" % (medians[m] / 1e3, m))


if __name__ == "__main__":
    main()
