#!/usr/bin/env python3
"""Benchmark the offsite upload against plain ``rclone copy``.

    python3 bench/offsite.py [--rclone PATH] [--files N] [--repeat N] [--remote KIND] [--json FILE]

Builds a tree of N files of 4 KiB (default 20,000, 100 a folder) as a
snapshot in a temporary folder (on /dev/shm when present), then, each
repeated and the median reported:

* reference: ``rclone copy SNAPSHOT REMOTE/ref`` into an empty remote;
* first upload: the project's upload of the same snapshot into an empty
  remote (listing, manifest, copy, manifest upload, retention listing);
* unchanged re-run: the upload of a second snapshot with the same files
  (what a run of an unchanged tree makes): bytes sent, files sent, bytes
  copied on the remote's side, seconds;
* stop: seconds from a stop request (Ctrl+C, shutdown) to the end of an
  upload running at --bwlimit 1M to a local folder (the goal: under 2 s);
* on the wire (S3 and WebDAV): one more round, not timed, through a
  counting proxy (bench/wire.py): the requests rclone makes and the bytes
  both ways, for the reference copy, the first upload and the re-run.

The remote is a local folder (``local``), or ``rclone serve s3`` /
``rclone serve webdav`` / ``rclone serve sftp`` of a local folder on
127.0.0.1 (real HTTP, signed S3 requests; SSH with a user and password,
host keys made in the temporary folder), or OpenSSH's sshd with its
internal SFTP server (``openssh``: needs /usr/sbin/sshd and ssh-keygen;
an SFTP server that makes hard links, which ``rclone serve sftp`` does
not; with rclone's own hash check, as a user's remote has it: each
``md5sum`` the server runs is counted, through a wrapper on its PATH, and
reported for the reference copy, the first upload and the re-run).
rclone's config is a file in the temporary folder; remotes come from
environment variables. Standard library only (and the servers named).

Measured 2026-11-29, 20,000 files, medians (docs/DEVELOPMENT.md has the
table): an unchanged re-run sent 100.06% of the tree before unchanged
files were linked and 0.06% (the manifest) after, on a local folder
(2.28 s -> 1.00 s; 1.19x -> 0.50x of ``rclone copy``) and over OpenSSH's
SFTP (15.5 s -> 9.98 s; 1.06x -> 0.68x); ``rclone serve sftp`` makes no
hard links and still gets 100.06% (22.5 s -> 21.5 s).
"""

import argparse
import getpass
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from task_runner.config import Offsite  # noqa: E402
from task_runner.offsite import rclone, upload  # noqa: E402
from tests.helpers import make_task  # noqa: E402
from tests.rclone_tools import SSHD_CONFIG  # noqa: E402
import wire  # noqa: E402  (bench/wire.py, beside this file)

MTIME = 1700000000


def build_tree(root, count, size=4096, per_dir=100):
    block = os.urandom(size)
    for i in range(count):
        folder = os.path.join(root, "d%04d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(folder)
        path = os.path.join(folder, "f%06d.bin" % i)
        with open(path, "wb") as f:
            f.write(block)
        os.utime(path, (MTIME, MTIME))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_openssh(root, env):
    """OpenSSH's sshd (internal-sftp, a key of its own) on 127.0.0.1,
    serving ``root`` by its absolute path; the process."""
    port, folder = free_port(), os.path.join(os.path.dirname(root), "ssh")
    os.makedirs(folder)
    for name in ("hostkey", "userkey"):
        subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(folder, name)])
    os.makedirs(os.path.join(folder, "bin"))
    with open(os.path.join(folder, "bin", "md5sum"), "w") as f:  # counts, then runs the real one
        f.write('#!/bin/sh\necho x >> %s\nexec /usr/bin/md5sum "$@"\n' % md5sum_log(root))
    os.chmod(os.path.join(folder, "bin", "md5sum"), 0o755)
    with open(os.path.join(folder, "sshd_config"), "w") as f:
        f.write(SSHD_CONFIG.format(port=port, dir=folder) + "SetEnv PATH=%s/bin:/usr/bin:/bin\n" % folder)
    if not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", 0o755)  # sshd's privilege separation folder
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", os.path.join(folder, "sshd_config")])
    env.update(RCLONE_CONFIG_R_TYPE="sftp", RCLONE_CONFIG_R_HOST="127.0.0.1", RCLONE_CONFIG_R_PORT=str(port),
               RCLONE_CONFIG_R_USER=getpass.getuser(), RCLONE_CONFIG_R_KEY_FILE=os.path.join(folder, "userkey"),
               RCLONE_CONFIG_R_KNOWN_HOSTS_FILE="none")
    return wait_listening(proc, port, "sshd")


def md5sum_log(root):
    return os.path.join(os.path.dirname(root), "md5sum.log")


def md5sums(tmp):
    """How many md5sum the OpenSSH server has run so far (0 for other remotes)."""
    try:
        with open(md5sum_log(os.path.join(tmp, "served"))) as f:
            return len(f.read().splitlines())
    except OSError:
        return 0


def wait_listening(proc, port, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("%s did not start" % what)


def start_server(rclone_path, kind, root, env):
    """(process, remote name) of ``rclone serve KIND`` of ``root``."""
    if kind == "openssh":
        return start_openssh(root, env)
    port = free_port()
    cmd = [rclone_path, "serve", kind, root, "--addr", "127.0.0.1:%d" % port]
    env["RCLONE_CACHE_DIR"] = os.path.join(os.path.dirname(root), "cache")  # serve sftp's host keys
    if kind == "s3":
        cmd += ["--auth-key", "BENCHKEY,BENCHSECRET"]
        env.update(RCLONE_CONFIG_R_TYPE="s3", RCLONE_CONFIG_R_PROVIDER="Rclone", RCLONE_CONFIG_R_REGION="us-east-1",
                   RCLONE_CONFIG_R_ENDPOINT="http://127.0.0.1:%d" % port, RCLONE_CONFIG_R_ACCESS_KEY_ID="BENCHKEY",
                   RCLONE_CONFIG_R_SECRET_ACCESS_KEY="BENCHSECRET")
    elif kind == "sftp":
        cmd += ["--user", "bench", "--pass", "benchpass"]
        obscured = subprocess.check_output([rclone_path, "obscure", "benchpass"], env=env).decode().strip()
        env.update(RCLONE_CONFIG_R_TYPE="sftp", RCLONE_CONFIG_R_HOST="127.0.0.1", RCLONE_CONFIG_R_PORT=str(port),
                   RCLONE_CONFIG_R_USER="bench", RCLONE_CONFIG_R_PASS=obscured,
                   RCLONE_CONFIG_R_KNOWN_HOSTS_FILE="none")
    else:
        env.update(RCLONE_CONFIG_R_TYPE="webdav", RCLONE_CONFIG_R_URL="http://127.0.0.1:%d" % port,
                   RCLONE_CONFIG_R_VENDOR="rclone")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wait_listening(proc, port, "rclone serve %s" % kind)


def remote_base(kind, tmp, n):
    """A fresh remote path for repeat ``n``."""
    if kind == "openssh":
        return "R:" + os.path.join(tmp, "served", "bucket", "r%d" % n)
    if kind == "local":
        return "R:" + os.path.join(tmp, "remote", "r%d" % n)
    return "R:bucket/r%d" % n if kind in ("s3", "sftp") else "R:r%d" % n


def one_round(rc, kind, tmp, dest, names, n):
    """(reference seconds, first Uploaded, re-run Uploaded, md5sums the
    server ran for each of the three) into fresh remotes."""
    counts = [md5sums(tmp)]
    start = time.perf_counter()
    res = rc.run(["copy", os.path.join(dest, names[0]), remote_base(kind, tmp, n) + "-ref"])
    reference = time.perf_counter() - start
    if res.code != 0:
        raise SystemExit("rclone copy failed: %s" % res.error)
    counts.append(md5sums(tmp))
    task = make_task(os.path.join(tmp, "src"), dest, offsite=Offsite(remote_base(kind, tmp, n), None, None, None))
    kept = os.path.join(tmp, "kept-%d.manifest.json.gz" % n)  # as the program keeps it (offsite/record.py)
    first = upload.upload_snapshot(rc, task, names[0], "bench", kept=kept)
    counts.append(md5sums(tmp))
    again = upload.upload_snapshot(rc, task, names[1], "bench", kept=kept)
    counts.append(md5sums(tmp))
    return reference, first, again, [b - a for a, b in zip(counts, counts[1:])]


def wire_round(rclone_path, kind, tmp, dest, names, env):
    """For an HTTP remote (s3, webdav): {what: (requests, bytes on the
    wire)} of the reference copy, the first upload and the unchanged
    re-run, each into a fresh remote, through wire.CountingProxy (not
    timed: rclone logs every request)."""
    key = "RCLONE_CONFIG_R_ENDPOINT" if kind == "s3" else "RCLONE_CONFIG_R_URL"
    proxy = wire.CountingProxy(int(env[key].rsplit(":", 1)[1]))
    log, counter = wire.counting_logger()
    rc = rclone.Rclone(rclone_path, environ=dict(env, RCLONE_DUMP="headers", **{key: "http://127.0.0.1:%d"
                                                                                % proxy.port}), log=log)
    counts, last = {}, [0, 0]

    def measured(what):
        now = [counter.count, proxy.total()]
        counts[what] = (now[0] - last[0], now[1] - last[1])
        last[:] = now
    try:
        if rc.run(["copy", os.path.join(dest, names[0]), remote_base(kind, tmp, 99) + "-ref"]).code != 0:
            raise SystemExit("rclone copy failed (counted round)")
        measured("rclone_copy")
        task = make_task(os.path.join(tmp, "src"), dest, offsite=Offsite(remote_base(kind, tmp, 99), None, None,
                                                                         None))
        kept = os.path.join(tmp, "kept-wire.manifest.json.gz")
        upload.upload_snapshot(rc, task, names[0], "bench", log=log, kept=kept)
        measured("first_upload")
        upload.upload_snapshot(rc, task, names[1], "bench", log=log, kept=kept)
        measured("rerun")
    finally:
        proxy.close()
    return counts


def stop_time(rc, tmp, dest, name, n):
    """Seconds from the stop request to the upload's return, 1 s into a
    slow (--bwlimit 1M) upload to a local remote."""
    import threading
    task = make_task(os.path.join(tmp, "src"), dest,
                     offsite=Offsite("R:" + os.path.join(tmp, "stop", str(n)), None, "1M", None))
    stop, ended = threading.Event(), {}

    def work():
        try:
            upload.upload_snapshot(rc, task, name, "bench", stop_event=stop)
        except rclone.RcloneError:
            pass
        ended["at"] = time.perf_counter()
    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(1.0)
    asked = time.perf_counter()
    stop.set()
    thread.join()
    return ended["at"] - asked if ended["at"] >= asked else None  # None: it ended before (a small tree)


def summary(args, rounds, stops, wired):
    """The bench's results (medians of ``rounds``), by name."""
    tree_bytes = args.files * 4096
    med = lambda values: statistics.median(values)
    result = {
        "remote": args.remote, "files": args.files, "tree_bytes": tree_bytes, "repeat": args.repeat,
        "rclone_copy_seconds": med([r[0] for r in rounds]),
        "first_upload_seconds": med([r[1].seconds for r in rounds]),
        "rerun_seconds": med([r[2].seconds for r in rounds]),
        "rerun_bytes_sent": med([r[2].bytes for r in rounds]),
        "rerun_files_sent": med([r[2].files for r in rounds]),
        "rerun_server_side_bytes": med([r[2].server_side_bytes for r in rounds]),
        "server_md5sums_rclone_copy": med([r[3][0] for r in rounds]),
        "server_md5sums_first_upload": med([r[3][1] for r in rounds]),
        "server_md5sums_rerun": med([r[3][2] for r in rounds]),
        "stop_seconds": med(stops) if stops else "not measured: the upload ended before it was stopped",
        "stop_seconds_max": max(stops) if stops else None,
    }
    for what, (requests, wire_bytes) in sorted(wired.items()):
        result["wire_requests_" + what] = requests
        result["wire_bytes_" + what] = wire_bytes
    result["first_upload_ratio"] = round(result["first_upload_seconds"] / result["rclone_copy_seconds"], 2)
    result["rerun_bytes_percent"] = round(100.0 * result["rerun_bytes_sent"] / tree_bytes, 2)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rclone", default=os.environ.get("TASK_RUNNER_RCLONE") or shutil.which("rclone"))
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--remote", choices=("local", "s3", "webdav", "sftp", "openssh"), default="local")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    if not args.rclone:
        raise SystemExit("no rclone: pass --rclone PATH or set TASK_RUNNER_RCLONE")
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = tempfile.mkdtemp(prefix="offsite_bench_", dir=base)
    server = None
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        env.update(RCLONE_CONFIG=os.path.join(tmp, "rclone.conf"), RCLONE_CONFIG_R_TYPE="local")
        dest = os.path.join(tmp, "dest")
        names = ["2026-01-01_10-00-00", "2026-01-02_10-00-00"]
        build_tree(os.path.join(dest, names[0]), args.files)
        subprocess.check_call(["cp", "-a", os.path.join(dest, names[0]), os.path.join(dest, names[1])])
        if args.remote != "local":
            os.makedirs(os.path.join(tmp, "served", "bucket"))
            server = start_server(args.rclone, args.remote, os.path.join(tmp, "served"), env)
        rc = rclone.Rclone(args.rclone, environ=env)
        rounds = [one_round(rc, args.remote, tmp, dest, names, n) for n in range(args.repeat)]
        wired = wire_round(args.rclone, args.remote, tmp, dest, names, env) if args.remote in ("s3", "webdav") \
            else {}
        local_rc = rclone.Rclone(args.rclone, environ=dict(env, RCLONE_CONFIG_R_TYPE="local"))
        stops = [t for t in (stop_time(local_rc, tmp, dest, names[0], n) for n in range(args.repeat))
                 if t is not None]
        result = summary(args, rounds, stops, wired)
        for key, value in result.items():
            print("%-26s %s" % (key, round(value, 3) if isinstance(value, float) else value))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
