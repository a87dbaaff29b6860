"""A real network share on this machine, for the sshfs test and the share
benchmark (bench/share.py): two network namespaces joined by a veth pair,
an SSH server (openssh-server, a key made for the run) in one, and an
sshfs mount whose ssh runs in the other (``ip netns exec``), optionally
with a delay on the link (iptables NFQUEUE and bench/nfq_delay.c holding
each packet; this kernel has no netem).

Needs root, ``ip``, ``sshd`` and ``sshfs`` (and for a delay ``iptables``
and a C compiler with libnetfilter-queue). ``missing()`` says what is
missing. Everything it starts it stops: no namespace, mount, process or
rule is left behind, also when setting up fails half-way.
"""

import os
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_IP, CLIENT_IP = "10.213.77.1", "10.213.77.2"
SSHD = "/usr/sbin/sshd"


def missing(delay=False):
    """Why a share cannot be made here (a sentence), or None."""
    if os.name == "nt" or os.geteuid() != 0:
        return "making a share needs root on Linux (network namespaces, a FUSE mount)"
    needed = ["ip", "sshfs", "ssh", "ssh-keygen", "fusermount"] + (["iptables", "cc"] if delay else [])
    absent = [name for name in needed if shutil.which(name) is None]
    if not os.path.exists(SSHD):
        absent.append(SSHD + " (openssh-server)")
    if not os.path.exists("/dev/fuse"):
        absent.append("/dev/fuse")
    if absent:
        return "missing: %s (Debian: apt-get install sshfs openssh-server iproute2)" % ", ".join(absent)
    return None


def _run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Share(object):
    """``with Share(work) as share:`` mounts a fresh empty folder of the
    server at ``share.mount`` (the server's copy is ``share.served``),
    logged in as ``user`` (root, or an ordinary account such as nobody),
    with ``delay_us`` added to each packet each way."""

    def __init__(self, work, delay_us=0, user="root"):
        self.work = tempfile.mkdtemp(prefix="share-", dir=work)
        self.delay_us, self.user = delay_us, user
        tag = "%d%d" % (os.getpid() % 100000, int(time.time() * 1000) % 100)
        self.server_ns, self.client_ns, self.veth = "trs" + tag, "trc" + tag, "trv" + tag
        self.served = os.path.join(self.work, "served")
        self.mount = os.path.join(self.work, "mnt")
        self._undo = []
        self._procs = []

    def __enter__(self):
        try:
            self._network()
            self._server()
            if self.delay_us:
                self._delay()
            self._mount()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except (OSError, subprocess.SubprocessError):
                pass
        shutil.rmtree(self.work, ignore_errors=True)

    def _in(self, ns, *cmd):
        return ("ip", "netns", "exec", ns) + cmd

    def _start(self, cmd):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stderr.close()
        self._undo.append(stop)
        return proc

    def _network(self):
        for ns in (self.server_ns, self.client_ns):
            _run("ip", "netns", "add", ns)
            self._undo.append(lambda ns=ns: _run("ip", "netns", "del", ns))
            _run(*self._in(ns, "ip", "link", "set", "lo", "up"))
        _run("ip", "link", "add", self.veth + "s", "type", "veth", "peer", "name", self.veth + "c")
        for end, ns, ip in (("s", self.server_ns, SERVER_IP), ("c", self.client_ns, CLIENT_IP)):
            _run("ip", "link", "set", self.veth + end, "netns", ns)
            _run(*self._in(ns, "ip", "addr", "add", ip + "/30", "dev", self.veth + end))
            _run(*self._in(ns, "ip", "link", "set", self.veth + end, "up"))

    def _server(self):
        keys = os.path.join(self.work, "keys")
        os.mkdir(keys, 0o700)
        for name in ("host", "user"):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(keys, name))
        shutil.copy(os.path.join(keys, "user.pub"), os.path.join(keys, "authorized_keys"))
        os.chmod(self.work, 0o755)
        for path in (keys, os.path.join(keys, "authorized_keys")):
            os.chmod(path, 0o755 if path == keys else 0o644)
        os.mkdir(self.served)
        if self.user != "root":
            import pwd
            account = pwd.getpwnam(self.user)
            os.chown(self.served, account.pw_uid, account.pw_gid)
        config = os.path.join(keys, "sshd_config")
        with open(config, "w") as f:
            f.write("ListenAddress %s\nHostKey %s\nPidFile none\nAuthorizedKeysFile %s\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                    "Subsystem sftp internal-sftp\nForceCommand internal-sftp\nLogLevel ERROR\n"
                    % (SERVER_IP, os.path.join(keys, "host"), os.path.join(keys, "authorized_keys")))
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
        self._sshd = self._start(self._in(self.server_ns, SSHD, "-D", "-e", "-f", config))
        self.key = os.path.join(keys, "user")

    def _delay(self):
        helper = os.path.join(self.work, "nfq_delay")
        _run("cc", "-O2", "-o", helper, os.path.join(ROOT, "bench", "nfq_delay.c"), "-lnetfilter_queue")
        for ns, end in ((self.server_ns, "s"), (self.client_ns, "c")):
            self._start(self._in(ns, helper, "0", str(self.delay_us)))
            time.sleep(0.2)  # bound to the queue before packets go to it
            _run(*self._in(ns, "iptables", "-A", "OUTPUT", "-o", self.veth + end, "-j", "NFQUEUE",
                           "--queue-num", "0"))

    def _mount(self):
        os.mkdir(self.mount)
        ssh = "ip netns exec %s ssh" % self.client_ns
        options = ("ssh_command=%s,IdentityFile=%s,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,"
                   "BatchMode=yes,LogLevel=ERROR" % (ssh, self.key))
        for attempt in range(50):  # sshd takes a moment to listen
            proc = subprocess.run(["sshfs", "%s@%s:%s" % (self.user, SERVER_IP, self.served), self.mount,
                                   "-o", options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=60)
            if proc.returncode == 0:
                break
            if self._sshd.poll() is not None or attempt == 49:
                raise RuntimeError("sshfs could not mount: %s %s" % (
                    proc.stderr.strip(), self._sshd.stderr.read().decode("utf-8", "replace")
                    if self._sshd.poll() is not None else ""))
            time.sleep(0.1)
        self._undo.append(lambda: _run("fusermount", "-u", "-z", self.mount))
