"""Finding and running rclone.

rclone is started with its arguments as a list (never through a shell),
with ``--use-json-log`` so that its errors and its transfer statistics are
read as JSON lines. Everything it says passes through ``redact`` before it
is logged, recorded or shown: passwords and keys from the environment
(RCLONE_CONFIG_PASS, RCLONE_CONFIG_<NAME>_SECRET_ACCESS_KEY...), the
user:password part of addresses, signatures and keys in query strings and
in on-the-fly remotes (``:s3,secret_access_key=...:bucket``).

A run stops within 2 s when its stop event is set or its time is up:
rclone is asked to end (SIGTERM; on Windows it is ended at once), then
killed after ``STOP_GRACE`` seconds.
"""

import collections
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time

from ..fs import priority
from ..errors import BackupError

logger = logging.getLogger(__name__)

MIN_VERSION = (1, 60)  # Debian 12's rclone; every option used here is older
STOP_GRACE = 1.5
HOW_TO_GET = ("install rclone (Windows: winget install Rclone.Rclone; Linux: the distribution's rclone "
              "package or https://rclone.org/downloads/), or name the program in config.json as "
              "\"rclone\": \"C:/Tools/rclone.exe\"")

# rclone's documented exit codes (rclone.org/docs/#exit-code).
EXIT_CODES = {
    1: "an error rclone did not classify",
    2: "rclone did not understand its command (a bad option or remote path)",
    3: "a folder was not found on the remote",
    4: "a file was not found",
    5: "a temporary error (the next try may work)",
    6: "less serious errors (some files were not copied)",
    7: "a fatal error (account suspended, over quota...)",
    8: "the transfer limit was reached",
    9: "no files were transferred",
}


# rclone's bounds unless the environment sets its own (RCLONE_<FLAG>, which
# rclone reads; a flag given on its command line would override a user's).
# rclone's defaults (1 min to connect, 5 min of silence, 10 low-level tries,
# 3 whole tries) kept an upload to an S3 server that was down busy for over
# 10 minutes, and a listing alone for over 10 (measured, issue 30). With
# these an unreachable remote fails within a minute or two (S3 refusing
# connections: 17 s; killed mid-upload: under 1 s), a silent one after a
# minute per try; one whole try, because a failed upload is tried again on
# the program's own schedule (retry_minutes) and resumes where it stopped.
BOUNDS = (("RCLONE_CONTIMEOUT", "20s"), ("RCLONE_TIMEOUT", "60s"), ("RCLONE_LOW_LEVEL_RETRIES", "3"),
          ("RCLONE_RETRIES", "1"))


class RcloneError(BackupError):
    """rclone is missing, too old, or a command of it failed; the message
    says what to do."""


Result = collections.namedtuple("Result", "code stats error output data damaged")
Result.__new__.__defaults__ = ((),)
Result.__doc__ = """What one rclone command did: exit ``code`` (None when it was stopped),
its last ``stats`` (dict, may be empty), its last ``error`` (redacted text or
None), its standard output as text (``output``) and as bytes (``data``), and
the files rclone found different after it wrote them (``damaged``: their
paths in the destination; "corrupted on transfer": a hash that differs)."""
MAX_DAMAGED = 100000  # damaged files remembered of one command (each is sent again: resend.py)


def find(configured=None, which=shutil.which):
    """The rclone program: ``configured`` (config.json's "rclone") or
    rclone on PATH. RcloneError says how to get it when there is none."""
    if configured:
        if os.path.isfile(configured):
            return configured
        raise RcloneError("rclone was not found at %s (config.json \"rclone\"): correct the path, or %s"
                          % (configured, HOW_TO_GET))
    found = which("rclone")
    if found is None:
        raise RcloneError("rclone was not found on PATH; it is needed for \"offsite\": %s" % HOW_TO_GET)
    return found


def parse_version(text):
    """(major, minor, patch) from ``rclone version``'s first line, or None."""
    m = re.search(r"rclone v?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def version_problem(found):
    """Why the version ``found`` (parse_version) will not do, or None."""
    if found is None:
        return "the program did not say which rclone version it is: %s" % HOW_TO_GET
    if found[:2] < MIN_VERSION:
        return "rclone %s is too old; %d.%d or newer is needed: %s" % (
            ".".join(map(str, found)), MIN_VERSION[0], MIN_VERSION[1], HOW_TO_GET)
    return None


# -- Secrets never leave this module -------------------------------------------

_SECRET_NAME = re.compile(r"PASS|SECRET|KEY|TOKEN|CREDENTIAL|AUTH", re.I)
_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_QUERY = re.compile(r"(?i)([?&][^=&\s]*(?:key|token|sig|signature|secret|pass|credential)[^=&\s]*=)[^&\s\"]+")
_CONNECTION = re.compile(r"(?i)([,:][^,:=\s]*(?:key|token|secret|pass|credential|account)[^,:=\s]*=)"
                         r"(\"[^\"]*\"|'[^']*'|[^,:\s]+)")
_HEADER = re.compile(r"(?i)(authorization|x-amz-security-token)(\s*[:=]\s*)(\S.*)")
HIDDEN = "***"


def secrets_of(environ):
    """The values of environment variables whose names say they are secret
    (4 characters or more: shorter ones would hide ordinary words)."""
    return sorted((v for k, v in environ.items() if _SECRET_NAME.search(k) and len(v) >= 4),
                  key=len, reverse=True)


def redact(text, secrets=()):
    """``text`` without ``secrets`` or anything that looks like a credential."""
    if not text:
        return text
    for secret in secrets:
        text = text.replace(secret, HIDDEN)
    text = _USERINFO.sub(r"\1" + HIDDEN + "@", text)
    text = _QUERY.sub(r"\1" + HIDDEN, text)
    text = _CONNECTION.sub(r"\1" + HIDDEN, text)
    return _HEADER.sub(r"\1\2" + HIDDEN, text)


# -- What went wrong, in words ------------------------------------------------

_DAMAGED = re.compile(r"corrupted on transfer|failed to authenticate decrypted block|not an encrypted file",
                      re.I)  # (the last two are crypt's)
_PARTIAL = re.compile(r"\.[0-9a-f]{8}\.partial$")  # rclone's name for a local file it is writing
FULL = "the remote is full (or over its quota): free space there or raise the quota"
_FULL = re.compile(r"no space left|remaining disk space|quota|insufficient storage|\b507\b|storage full|"
                   r"EntityTooLarge", re.I)
_CAUSES = [
    (_DAMAGED, "a file rclone copied has another hash than its source (damaged on the remote, or on the way)"),
    (re.compile(r"didn't find section in config file|not found in config file", re.I), "rclone's config has no remote of that name: check it with \"rclone listremotes\" and "
                       "set it up with \"rclone config\""),
    (re.compile(r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|\b401\b|\b403\b|unauthori[sz]ed|"
                r"permission denied|invalid_grant|bad credentials|authentication failed", re.I),
     "the remote refused the sign-in or the access: check the credentials with \"rclone config\""),
    (_FULL, FULL),
    (re.compile(r"read-only file system|read only", re.I), "the remote cannot be written to (read-only)"),
    (re.compile(r"connection refused|no such host|i/o timeout|network is unreachable|dial tcp|"
                r"connection reset|timeout|EOF", re.I),
     "the remote cannot be reached: check the network connection and that the remote is up"),
    (re.compile(r"InternalError|ServiceUnavailable|StatusCode: 5[0-9][0-9]|\b50[0-9] ", re.I),
     "the remote reported a fault of its own (a server error; it may refuse writes): the next try may work"),
    (re.compile(r"directory not found|bucket does not exist|NoSuchBucket|not found", re.I),
     "the folder or bucket was not found on the remote: check the \"offsite\" remote path"),
]


def is_full(error):
    """Whether rclone's ``error`` says the remote is full or over its quota."""
    return bool(error and _FULL.search(error))


def cause_of(error):
    """The likely cause (a sentence) of rclone's ``error``, or None."""
    return next((c for pattern, c in _CAUSES if error and pattern.search(error)), None)


def explain(code, error):
    """A sentence for a user from rclone's exit ``code`` and its last
    ``error`` (already redacted): the likely cause first, then rclone's
    words (also when the cause is not one known here)."""
    what = EXIT_CODES.get(code, "exit code %s" % code)
    text = cause_of(error) or ("rclone failed: %s" % what)
    if error:
        text += " (rclone: %s)" % error.strip().splitlines()[0][:300]
    return text


def explain_stop(what, error):
    """A sentence for a command ended after its time limit (``what``: "no
    answer within 10 minutes"): rclone's last error, what it likely means,
    when it said one."""
    if not error:
        return "%s, and rclone reported no error before it" % what
    cause = cause_of(error)
    return "%s; %s (rclone: %s)" % (what, cause or "rclone's last error", error.strip().splitlines()[0][:300])


# -- Running it -----------------------------------------------------------------

class Rclone(object):
    """One rclone program, run with ``environ`` (default: this process's,
    so rclone finds its own config and RCLONE_CONFIG_PASS). ``bwlimit`` is
    passed to transfers; with ``low_priority`` rclone runs below normal
    priority (osutil.low_priority_process)."""

    def __init__(self, path, environ=None, bwlimit=None, low_priority=False, log=logger):
        self.path = path
        self.environ = dict(os.environ if environ is None else environ)
        for key, value in BOUNDS:
            self.environ.setdefault(key, value)
        self.bwlimit, self.low_priority, self.log = bwlimit, low_priority, log
        self.secrets = secrets_of(self.environ)
        self._described = {}  # what describe said, for the life of this object (one upload, one check)
        self._types = None  # what remote_types said, likewise

    def redact(self, text):
        return redact(text, self.secrets)

    def run(self, args, stop_event=None, on_stats=None, timeout=None, stdin=None, quiet=False):
        """Run ``rclone ARGS`` and wait for it; a Result. ``on_stats(dict)``
        hears rclone's statistics every second (transfers only). Stopped by
        ``stop_event`` or after ``timeout`` seconds: Result code None.
        rclone's errors are logged as warnings (``quiet``: at DEBUG, for a
        command whose failure the caller expects and explains)."""
        argv = [self.path] + list(args) + ["--use-json-log", "--stats-log-level", "NOTICE"]
        if on_stats is not None:
            argv += ["--stats", "1s"]
        self.log.debug("running rclone %s", self.redact(" ".join(args)))
        for attempt in (1, 2):
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.environ,
                                        **priority.child_process_options(self.low_priority))
                break
            except OSError as exc:
                # Windows' "internal error" (1359) is passing: seen under Wine on a loaded machine, once a start.
                if attempt == 1 and getattr(exc, "winerror", None) == 1359:
                    time.sleep(1.0)
                    continue
                raise RcloneError("rclone could not be started (%s): %s. %s" % (
                    self.path, exc.strerror or exc, HOW_TO_GET))
        box = {"stats": {}, "error": None, "out": b"", "damaged": []}
        readers = [threading.Thread(target=self._read_log, args=(proc.stderr, box, on_stats, quiet)),
                   threading.Thread(target=self._read_out, args=(proc, box, stdin))]
        for t in readers:
            t.daemon = True
            t.start()
        stopped = _wait(proc, stop_event, timeout)
        for t in readers:
            t.join(5.0)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        out = box["out"].decode("utf-8", "replace")
        return Result(None if stopped else proc.returncode, box["stats"], box["error"], out, box["out"],
                      tuple(box["damaged"]))

    @staticmethod
    def _read_out(proc, box, stdin):
        if stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except OSError:
                pass
        box["out"] = proc.stdout.read()

    def _read_log(self, stream, box, on_stats, quiet):
        for raw in iter(stream.readline, b""):
            line = self.redact(raw.decode("utf-8", "replace").strip())
            try:
                item = json.loads(line)
            except ValueError:
                item = {"level": "notice", "msg": line}
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("stats"), dict):
                box["stats"] = item["stats"]
                if item["stats"].get("lastError"):
                    box["error"] = self.redact(str(item["stats"]["lastError"]))
                if on_stats is not None:
                    on_stats(item["stats"])
                continue
            msg = "%s%s" % (item.get("object", "") and item["object"] + ": ", item.get("msg", ""))
            if item.get("level") in ("error", "critical", "alert", "emergency"):
                box["error"] = msg
                damaged = item.get("object") if _DAMAGED.search(item.get("msg", "")) else None
                if isinstance(damaged, str):
                    damaged = _PARTIAL.sub("", damaged)  # a local file rclone was writing: the file's own name
                    if damaged not in box["damaged"][-1:] and len(box["damaged"]) < MAX_DAMAGED:
                        box["damaged"].append(damaged)
                self.log.log(logging.DEBUG if quiet else logging.WARNING, "rclone: %s", msg)
            else:
                self.log.debug("rclone: %s", msg)

    # -- Commands that only read ------------------------------------------------
    def output(self, args, what, stop_event=None, timeout=None):
        """The standard output of ``rclone ARGS``; RcloneError (saying
        ``what`` failed, and why) when it fails."""
        result = self.run(args, stop_event=stop_event, timeout=timeout)
        if result.code is None:
            raise RcloneError("%s: stopped before it finished" % what)
        if result.code != 0:
            raise RcloneError("%s failed: %s" % (what, explain(result.code, result.error)))
        return result.output

    def version(self):
        return parse_version(self.output(["version"], "rclone version", timeout=30))

    def remotes(self):
        """The remote names rclone's config defines (with the environment's), without contacting any."""
        return list(self.remote_types())

    def remote_types(self):
        """{remote name: its type ("local", "alias", "s3"...)}, in rclone's
        order, without contacting any. Asked once for the life of this object."""
        if self._types is None:
            out = self.output(["listremotes", "--long"], "rclone listremotes", timeout=30)
            pairs = (line.split(":", 1) for line in out.splitlines() if ":" in line)
            self._types = collections.OrderedDict((name.strip(), kind.strip()) for name, kind in pairs)
        return self._types

    def describe(self, remote, options=()):
        """``rclone backend features REMOTE`` as a dict ({} when unknown):
        "Features" (its flags: "Copy", "IsLocal"...), "Root" (for a local
        remote, the folder it is), "Precision"... ``options`` are rclone
        flags that may change them (``--sftp-copy-is-hardlink``). Asked once
        per remote and options: the check before an upload and the upload
        itself need the same answer."""
        key = (remote, tuple(options))
        if key not in self._described:
            try:
                data = json.loads(self.output(["backend", "features", remote] + list(options),
                                              "rclone backend features", timeout=60))
            except (RcloneError, ValueError):
                data = None
            self._described[key] = data if isinstance(data, dict) and isinstance(data.get("Features"), dict) else {}
        return self._described[key]

    def features(self, remote, options=()):
        """rclone's feature flags of the backend of ``remote`` ({} when unknown)."""
        return self.describe(remote, options).get("Features", {})


def _wait(proc, stop_event, timeout):
    """Wait for ``proc``; end it when ``stop_event`` is set or ``timeout``
    (seconds) is over. True when it was ended that way."""
    limit = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            proc.wait(0.1)
            return False
        except subprocess.TimeoutExpired:
            pass
        if (stop_event is not None and stop_event.is_set()) or (limit is not None and time.monotonic() > limit):
            break
    proc.terminate()
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return True
