"""Failure notifications: a webhook, a dead-man's-switch ping URL, e-mail.

Sending never blocks or fails a backup: each message goes out on its own
daemon thread, with a timeout per attempt and at most ``tries`` attempts
with backoff; failures are logged. A program that is about to exit calls
``flush()`` to give messages in flight a bounded time to leave.
"""

import collections
import functools
import json
import logging
import os
import threading
import time

from ..history.records import run_time

# smtplib, ssl, email, urllib and socket are imported when a message is sent, not
# by every program at start-up (about 30 ms on a small machine).

logger = logging.getLogger(__name__)

FAILURES = ("failed", "interrupted", "skipped")
SCHEDULED = ("schedule", "missed", "retry", "first", "drive")  # the triggers of runs for a scheduled time
TRIES = 3
BACKOFF = 2.0  # seconds before the 2nd try; doubled for each next one

Result = collections.namedtuple("Result", "channel ok detail")


def is_failure(record, partial_is_failure=False):
    status = record.get("status")
    return status in FAILURES or (partial_is_failure and status == "partial")


class Notifier(object):
    """Sends notifications as configured in ``settings`` (config.notify).

    ``sleep`` and ``timeout`` are injectable so tests stay fast."""

    def __init__(self, settings, sleep=time.sleep, environ=None):
        self.settings = settings
        self.sleep = sleep
        self.environ = os.environ if environ is None else environ
        self._threads = []
        self._lock = threading.Lock()

    @property
    def active(self):
        s = self.settings
        return bool(s is not None and (s.webhook or s.ping_url or s.email))

    # -- events ----------------------------------------------------------
    def run_started(self, record):
        if self.active and self.settings.ping_url:
            self._spawn(self._ping, self.settings.ping_url.rstrip("/") + "/start")

    def run_finished(self, record, log_lines=(), previous=None):
        """Called with the final record of a run (or a skipped record), and
        the task's run before it (see previous_run), so that one failing
        occurrence is told about once, however often it is retried, and
        a recovery once (with ``"recovered": true``), also under "failure"."""
        if not self.active:
            return
        s = self.settings
        failed = is_failure(record, s.partial_is_failure)
        if s.ping_url and record.get("status") != "skipped":
            url = s.ping_url.rstrip("/")
            self._spawn(self._ping, url + "/fail" if failed else url)
        was_failing = previous is not None and is_failure(previous, s.partial_is_failure)
        if failed and s.on != "always" and _told_already(record, previous, was_failing):
            return
        if not failed and was_failing:
            record = dict(record, recovered=True)
        elif not failed and s.on != "always":
            return
        if s.webhook:
            self._spawn(self._webhook, record)
        if s.email:
            self._spawn(self._email, record, list(log_lines))

    def upload_finished(self, record, recovered=False):
        """Called with the final record of an offsite upload
        (task_runner.offsite.service): sent on failure, on recovery (the
        first success after a failure) and, with "on": "always", every
        time. The ping URL is the runs' own and is not used."""
        if not self.active:
            return
        s = self.settings
        if not (record.get("status") in FAILURES or recovered or s.on == "always"):
            return
        message = dict(record, task="%s (offsite copy)" % record.get("task"), kind="offsite",
                       recovered=recovered)
        if s.webhook:
            self._spawn(self._webhook, message)
        if s.email:
            self._spawn(self._email, message, [])

    def send_test(self):
        """Send a test message through every configured channel now, once
        each; returns a Result per channel."""
        record = {"id": 0, "task": "test", "status": "test", "trigger": "manual",
                  "message": "test message from backup_now.py --test-notify",
                  "started": None, "finished": None}
        results = []
        s = self.settings
        for channel, func, args in (("webhook", self._webhook, (record,)),
                                    ("ping_url", self._ping, ((s.ping_url or "").rstrip("/"),)),
                                    ("email", self._email, (record, ["(test)"]))):
            if not getattr(s, channel):
                continue
            try:
                func(*args)
                results.append(Result(channel, True, "sent"))
            except Exception as exc:
                results.append(Result(channel, False, _describe(exc)))
        return results

    def flush(self, timeout):
        """Wait up to ``timeout`` seconds for messages still being sent."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # -- delivery ----------------------------------------------------------
    def _spawn(self, func, *args):
        _load_senders()  # here, in one thread: imports racing in threads can deadlock (Python 3.8)
        thread = threading.Thread(target=self._with_retries, args=(func,) + args, name="notify")
        thread.daemon = True
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _with_retries(self, func, *args):
        delay = BACKOFF
        for attempt in range(1, TRIES + 1):
            try:
                func(*args)
                return
            except Exception as exc:
                if attempt == TRIES:
                    logger.warning("could not send a notification (%s) after %d tries: %s",
                                   func.__name__.strip("_"), TRIES, _describe(exc))
                    return
                self.sleep(delay)
                delay *= 2

    def _open(self, url, data=None, headers=None):
        urllib = _load_senders().urllib
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                         headers=dict(headers or {}, **{"User-Agent": "task-runner"}))
        with urllib.request.urlopen(request, timeout=self.settings.timeout) as resp:
            resp.read(65536)

    def _ping(self, url):
        self._open(url)

    def _webhook(self, record):
        body = json.dumps(record, ensure_ascii=False).encode("utf-8")
        self._open(self.settings.webhook, body, {"Content-Type": "application/json; charset=utf-8"})

    def _email(self, record, log_lines):
        senders = _load_senders()
        smtplib, ssl, EmailMessage = senders.smtplib, senders.ssl, senders.EmailMessage
        e = self.settings.email
        msg = EmailMessage()
        msg["Subject"] = "[backup] %s %s" % (record.get("task"), record.get("status"))
        msg["From"] = e.sender
        msg["To"] = ", ".join(e.to)
        lines = ["Backup task %s: %s" % (record.get("task"), record.get("status")),
                 "", record.get("message") or "", "", "Run record:",
                 json.dumps(record, indent=1, ensure_ascii=False)]
        if log_lines:
            lines += ["", "Last log lines of this run:"] + list(log_lines)
        msg.set_content("\n".join(lines))
        password = None
        if e.password_env:
            password = self.environ.get(e.password_env)
            if password is None:
                raise RuntimeError("the environment variable %s (notify.email.password_env) is not set"
                                   % e.password_env)
        if e.ssl:  # implicit TLS, usually port 465
            connection = smtplib.SMTP_SSL(e.smtp_host, e.smtp_port, timeout=self.settings.timeout,
                                          context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(e.smtp_host, e.smtp_port, timeout=self.settings.timeout)
        with connection as smtp:
            if e.starttls and not e.ssl:
                smtp.starttls(context=ssl.create_default_context())
            if e.username:
                smtp.login(e.username, password or "")
            smtp.send_message(msg)


def _told_already(record, previous, was_failing):
    """True when a failure of ``record``'s occurrence was told about (the
    run before it failed for the same occurrence), or its occurrence is
    older than one already tried (the clock was set back: that one was
    told about, or coalesced into the newer one)."""
    mine = run_time(record, "scheduled_for")
    if mine is None or previous is None:
        return False
    theirs = run_time(previous, "scheduled_for")
    return theirs is not None and (theirs > mine or (theirs == mine and was_failing))


def previous_run(runs, record):
    """The run of ``record``'s task that a notification compares it with:
    the newest finished one before it; for a scheduled, caught-up or retried
    run (or a skipped record), the newest earlier one for the same
    occurrence, else the newest of those kinds, so neither a manual run in
    between nor a clock set back makes an occurrence's failure news again."""
    earlier = [r for r in runs if r.get("task") == record.get("task") and r.get("id") != record.get("id")
               and r.get("status") != "running"]
    if record.get("trigger") in SCHEDULED:
        earlier = [r for r in earlier if r.get("trigger") in SCHEDULED]
        same = [r for r in earlier if record.get("scheduled_for") is not None
                and r.get("scheduled_for") == record.get("scheduled_for")]
        earlier = same or earlier
    return earlier[-1] if earlier else None


Senders = collections.namedtuple("Senders", "smtplib socket ssl urllib EmailMessage")


@functools.lru_cache(maxsize=None)
def _load_senders():
    """The modules that send messages, imported on first use (not by every
    program at start-up). Called first by the thread that starts a delivery
    (_spawn), never first by two delivery threads at once."""
    import smtplib
    import socket
    import ssl
    import urllib.request
    from email.message import EmailMessage
    return Senders(smtplib, socket, ssl, urllib, EmailMessage)


def _describe(exc):
    if isinstance(exc, _load_senders().socket.timeout):
        return "timed out"
    reason = getattr(exc, "reason", None)
    return "%s: %s" % (type(exc).__name__, reason or exc)


class RunLogCapture(logging.Handler):
    """Keeps the last ``limit`` log lines of one task's run (for the e-mail)."""

    def __init__(self, task, limit=30):
        super(RunLogCapture, self).__init__(logging.INFO)
        self.task = task
        self.lines = collections.deque(maxlen=limit)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record):
        if getattr(record, "task", None) == self.task:
            try:
                self.lines.append(self.format(record))
            except Exception:
                pass
