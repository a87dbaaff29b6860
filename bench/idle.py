#!/usr/bin/env python3
"""What an idle scheduler costs, and how fast Ctrl+C stops it (issue 20).

    python3 bench/idle.py [--seconds 180] [--drive] [--quick]

Starts the real scheduled_task_runner.py with one monthly task that is not
due (in a temporary folder), lets it settle for 5 s, then measures for
``--seconds`` its CPU time and its voluntary context switches (how often it
woke), and prints them per hour (target: under 0.1 s of CPU an hour). Then
sends SIGINT (Ctrl+C) and prints how long it took to exit (target: under
1 s). Linux only (it reads /proc); the Windows lane checks Ctrl+C and
Ctrl+Break there. ``--drive``: the task's backup drive is missing, so after
its first backup fails the scheduler watches for the drive (issue 34: one
stat a minute). ``--quick``: 30 s, a smoke check.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def usage(pid):
    """(CPU seconds, voluntary context switches) of process ``pid`` and its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    switches = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
    return cpu, switches


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=180.0)
    p.add_argument("--drive", action="store_true", help="a task waiting for its backup drive")
    p.add_argument("--quick", action="store_true", help="measure 30 s only")
    args = p.parse_args()
    if args.quick:
        args.seconds = 30.0
    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(os.path.join(folder, "src"))
        day = 1 if time.localtime().tm_mday > 2 else 20  # never due during the measurement
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"tasks": [{"name": "T", "src": "src", "dest": "usb/dest" if args.drive else "dest",
                                  "timestamp": "%d 12:00" % day}], "missed_task_days": 5 if args.drive else 0}, f)
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "scheduled_task_runner.py"), "--config",
                                 os.path.join(folder, "config.json")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)
            cpu0, sw0 = usage(proc.pid)
            time.sleep(args.seconds)
            cpu1, sw1 = usage(proc.pid)
            if args.drive:
                with open(os.path.join(folder, "executed_tasks.json")) as f:
                    runs = json.load(f)["runs"]
                print("waiting for its drive after: %s" % ", ".join("%s %s" % (r["trigger"], r["status"])
                                                                    for r in runs))
            per_hour = 3600.0 / args.seconds
            print("idle for %.0f s: %.3f s of CPU (%.3f s an hour), %d wake-ups (%.0f an hour)"
                  % (args.seconds, cpu1 - cpu0, (cpu1 - cpu0) * per_hour, sw1 - sw0, (sw1 - sw0) * per_hour))
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            print("Ctrl+C (SIGINT): exited with %d after %.3f s" % (proc.returncode, time.monotonic() - started))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
