#!/usr/bin/env python3
"""Benchmark backups to a network share made on this machine, in one run.

    sudo python3 bench/share.py [--delay-us 1000] [--repeat 3] [--files 5000]
                                [--folders 50] [--big 20] [--workers 8,16] [--other DIR]
                                [--restore | --remove] [--json FILE]

The share: an sshfs mount served by an SSH server in another network
namespace, joined by a veth pair, each packet held ``--delay-us`` each way
by an NFQUEUE delayer (bench/nfq_delay.c; this kernel has no netem); see
tests/share.py. The tree (on /dev/shm): ``--files`` files of 4 KiB in
``--folders`` folders plus ``--big`` files of 5 MB. Timed as whole
processes, the tools interleaved in each round (the machine is shared):
``cp -a``; ``rsync -a``; ``rsync -a --link-dest`` against that rsync copy,
nothing changed; ``backup_now.py`` full and then unchanged (incremental,
into the same destination), with ``"parallel": 1``, ``"auto"`` and each
count of ``--workers``; with ``--other DIR``, also the backup_now.py of
another checkout (before a change: no "parallel" key). With ``--restore``,
restores instead: a snapshot of the tree is made on /dev/shm, then each
round times ``cp -a`` of it onto the share and ``backup_now.py restore``
of it onto the share with each ``"parallel"``. With ``--remove``,
deleting the tree from the share (as a stopped run deletes its
``.partial``): ``rm -rf`` against removal.remove_tree with 1 worker and
with auto (16 on the share). Medians and ratios
are printed. Needs root, sshfs,
openssh-server, iptables and a C compiler with libnetfilter-queue;
otherwise it says what is missing and exits 0. It stops and removes all
it starts.
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
sys.path.insert(0, ROOT)

from tests import share  # noqa: E402  (after the path is set)

BACKUP_NOW = os.path.join(ROOT, "backup_now.py")


def build_tree(src, files, folders, big):
    block = os.urandom(4096)
    for i in range(files):
        folder = os.path.join(src, "d%03d" % (i % folders))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "f%05d" % i), "wb") as f:
            f.write(block)
    os.makedirs(os.path.join(src, "big"), exist_ok=True)
    for i in range(big):
        with open(os.path.join(src, "big", "b%02d" % i), "wb") as f:
            f.write(os.urandom(5 * 1024 * 1024))


def timed(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, proc.stderr[-800:]))
    return seconds


def backup_now(work, src, dest, parallel, program=BACKUP_NOW):
    """The command that runs backup_now.py (``program``) for ``src`` ->
    ``dest``; ``parallel`` None leaves the key out (another checkout)."""
    config = os.path.join(work, "config-%s.json" % os.path.basename(dest))
    task = {"name": "bench", "src": src, "dest": dest, "default": True}
    if parallel is not None:
        task["parallel"] = parallel
    with open(config, "w") as f:
        json.dump({"tasks": [task], "log": {"level": "WARNING", "file": os.path.join(work, "bench.log")},
                   "history_file": os.path.join(work, "history.json")}, f)
    return [sys.executable, program, "--config", config]


def one_round(work, src, mount, number, parallels, times):
    """Each tool once, into fresh destinations named for round ``number``."""
    def dest(name):
        return os.path.join(mount, "%s-%d" % (name, number))
    times.setdefault("cp -a", []).append(timed(["cp", "-a", src, dest("cp")]))
    times.setdefault("rsync -a", []).append(timed(["rsync", "-a", src + "/", dest("rsync") + "/"]))
    times.setdefault("rsync --link-dest, unchanged", []).append(timed(
        ["rsync", "-a", "--link-dest=" + dest("rsync"), src + "/", dest("linked") + "/"]))
    for index, parallel in enumerate(parallels):
        if isinstance(parallel, tuple):  # ("other", checkout)
            program, label, parallel = os.path.join(parallel[1], "backup_now.py"), parallel[1], None
        else:
            program, label = BACKUP_NOW, "parallel %s" % (parallel,)
        target = dest("ours-%d" % index)
        times.setdefault("backup_now full, %s" % label, []).append(
            timed(backup_now(work, src, target, parallel, program)))
        times.setdefault("backup_now unchanged, %s" % label, []).append(
            timed(backup_now(work, src, target, parallel, program)))


def restore_round(work, snapshot_dest, mount, number, parallels, times):
    """cp -a of the snapshot, then backup_now.py restore of it, onto the share."""
    snapshot = os.path.join(snapshot_dest, sorted(os.listdir(snapshot_dest))[-1])
    times.setdefault("cp -a", []).append(timed(["cp", "-a", snapshot, os.path.join(mount, "cp-%d" % number)]))
    for index, parallel in enumerate(parallels):
        program, label = BACKUP_NOW, "parallel %s" % (parallel,)
        if isinstance(parallel, tuple):  # ("other", checkout): its own "auto"
            program, label, parallel = os.path.join(parallel[1], "backup_now.py"), parallel[1], "auto"
        target = os.path.join(mount, "restored-%d-%d" % (index, number))
        command = backup_now(work, os.path.join(work, "src"), snapshot_dest, parallel, program)
        times.setdefault("backup_now restore, %s" % label, []).append(timed(command + ["restore", "--to", target]))


def remove_round(src, mount, number, times):
    """Copy the tree onto the share (untimed) and time deleting it, each way."""
    code = "import sys; sys.path.insert(0, %r); from task_runner.fs import removal; removal.remove_tree(sys.argv[1]%s)"
    for label, command in (("rm -rf", ["rm", "-rf"]),
                           ("remove_tree, 1 worker", [sys.executable, "-c", code % (ROOT, ", workers=1")]),
                           ("remove_tree, auto", [sys.executable, "-c", code % (ROOT, "")])):
        tree = os.path.join(mount, "tree-%d" % number)
        timed(["cp", "-a", src, tree])
        times.setdefault(label, []).append(timed(command + [tree]))


def report(times, delay_us):
    medians = {name: statistics.median(values) for name, values in times.items()}
    first = "cp -a" if "cp -a" in medians else "rm -rf"
    link_dest = medians.get("rsync --link-dest, unchanged")
    print("\n%d us added each way (%s ms round trip); medians of %d" % (
        delay_us, "%g" % (2 * delay_us / 1000.0), len(times[first])))
    print("| tool | median s | / %s |%s" % (first, " / rsync --link-dest |" if link_dest else ""))
    print("| --- | --- | --- |%s" % (" --- |" if link_dest else ""))
    for name, seconds in medians.items():
        print("| %s | %.2f | %.2fx |%s" % (name, seconds, seconds / medians[first],
                                          " %.2fx |" % (seconds / link_dest) if link_dest else ""))
    return medians


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-us", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--folders", type=int, default=50)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--workers", default="", help="worker counts to time besides 1 and auto, e.g. 8,16")
    parser.add_argument("--other", action="append", default=[], metavar="DIR",
                        help="another checkout whose backup_now.py is timed too (e.g. before a change)")
    parser.add_argument("--restore", action="store_true", help="time restores onto the share instead of backups")
    parser.add_argument("--remove", action="store_true", help="time deleting the tree from the share instead")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    why = share.missing(delay=args.delay_us > 0)
    if why:
        print("skipped: " + why)
        return 0
    parallels = [1, "auto"] + [int(n) for n in args.workers.split(",") if n]
    parallels += [("other", os.path.abspath(path)) for path in args.other]
    work = tempfile.mkdtemp(prefix="share-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        src = os.path.join(work, "src")
        build_tree(src, args.files, args.folders, args.big)
        times = {}
        snapshot_dest = os.path.join(work, "snapshots")
        if args.restore:
            timed(backup_now(work, src, snapshot_dest, 1))
        with share.Share(work, delay_us=args.delay_us) as mount:
            for number in range(args.repeat):
                if args.remove:
                    remove_round(src, mount.mount, number, times)
                elif args.restore:
                    restore_round(work, snapshot_dest, mount.mount, number, parallels, times)
                else:
                    one_round(work, src, mount.mount, number, parallels, times)
                print("round %d done" % (number + 1), file=sys.stderr)
        medians = report(times, args.delay_us)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"delay_us": args.delay_us, "times": times, "medians": medians}, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
