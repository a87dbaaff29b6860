"""What each value of config.json may be: a parser per kind (text, path,
number, choice, patterns, keep, offsite, schedule) that returns the value
to use or raises Invalid with the problem and its fix. config/__init__.py says which
key takes which parser; this module only judges one value at a time.
"""

import collections
import json
import math
import os
import re
import sys

from ..fs import osutil
from ..fs.pool import MAX_WORKERS
from . import policy
from .excludes import Matcher, PatternError
from .timestamps import ScheduleError, parse_schedule

REQUIRED = object()
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Invalid(ValueError):
    """A value that a parser rejects; the message is the fix."""


class Key(collections.namedtuple("Key", "parse default attr")):
    """A config key: its parser ``parse(value, base_folder)``, its default
    (REQUIRED when it must be given) and the attribute it becomes."""

    def __new__(cls, parse, default, attr=None):
        return super(Key, cls).__new__(cls, parse, default, attr)


def _string(value, base):
    if not isinstance(value, str) or not value.strip():
        raise Invalid("must be a non-empty string, got %s" % _shown(value))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("%s holds a lone surrogate (\\ud800-\\udfff), which is not text: remove it"
                      % _shown(value))
    return value.strip()


# What a single backslash turns into in JSON: "C:\temp" holds a tab.
_ESCAPES = {"\t": "t", "\b": "b", "\f": "f", "\n": "n", "\r": "r"}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_UNSET_RE = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%|\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]")


MAX_NAME = 100


def _no_control(text):
    bad = _CONTROL_RE.search(text)
    if bad:
        raise Invalid("%s holds the control character U+%04X: remove it" % (json.dumps(text), ord(bad.group())))


def _name(value, base):
    """A task's name: visible text of at most MAX_NAME characters (it is in
    every log line, on the page and in web addresses)."""
    text = _string(value, base)
    _no_control(text)
    hidden = next((c for c in text if not c.isprintable() and c != " "), None)
    if hidden is not None:  # U+202E would turn the rest around on the page; U+00A0 looks like a space
        raise Invalid("%s holds the invisible or formatting character U+%04X: remove it"
                      % (json.dumps(text), ord(hidden)))
    if len(text) > MAX_NAME:
        raise Invalid("%s...\" is %d characters long: a name may have %d at most"
                      % (json.dumps(text[:20])[:-1], len(text), MAX_NAME))
    if text.strip() in (".", ".."):
        raise Invalid("%s cannot be a task's name (it is a folder's in a web address): choose a word"
                      % json.dumps(text))
    return text


def _path(value, base):
    """A folder or file path; ~ and environment variables are expanded and a
    relative path is taken from the config file's folder."""
    text = _string(value, base)
    bad = _CONTROL_RE.search(text)
    if bad and bad.group() in _ESCAPES:
        meant = "".join("\\" + _ESCAPES[c] if c in _ESCAPES else c for c in text)
        raise Invalid("%s holds a control character where a backslash was meant: in JSON a single "
                      "backslash starts an escape (\\t, \\b, \\f, \\n, \\r). Write %s or %s"
                      % (json.dumps(text), json.dumps(meant.replace("\\", "/")), json.dumps(meant)))
    _no_control(text)  # any other control character
    expanded = os.path.expandvars(os.path.expanduser(text))
    unset = _UNSET_RE.search(expanded)
    if unset:
        raise Invalid("%s uses the environment variable %s, which is not set here: set it, or write "
                      "the folder out in full" % (json.dumps(text), unset.group(1) or unset.group(2)))
    if not osutil.WINDOWS and _DRIVE_RE.match(expanded):
        raise Invalid("%s looks like a Windows path, but this is %s: write a path of this system, such "
                      "as \"/mnt/backup\"" % (json.dumps(text), sys.platform))
    return os.path.normpath(os.path.join(base, expanded))


def _bool(value, base):
    if not isinstance(value, bool):
        raise Invalid("must be true or false (no quotes), got %s" % _shown(value))
    return value


WEEK_MINUTES = 7 * 24 * 60


def _int_between(low, high):
    """A whole number from ``low`` to ``high``: every number has a range, so
    a value that passes --check can never overflow a timer or a port."""
    def parse(value, base):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be a whole number from %d to %d, got %s" % (low, high, _shown(value)))
        if not low <= value <= high:
            raise Invalid("must be from %d to %d, got %d" % (low, high, value))
        return value
    return parse


def _number_between(low, high):
    """A number above ``low`` (exclusive) and at most ``high``; never NaN or
    infinite."""
    def parse(value, base):
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not low < value <= high):
            raise Invalid("must be a number above %s and at most %s, got %s" % (low, high, _shown(value)))
        return value
    return parse


def _parallel(value, base):
    if value == "auto":
        return value
    try:
        return _int_between(1, MAX_WORKERS)(value, base)
    except Invalid:
        raise Invalid("must be \"auto\" or a number of workers from 1 to %d, got %s"
                      % (MAX_WORKERS, _shown(value)))


def _shown(value):
    """A value as it appears in JSON, shortened for a message."""
    text = json.dumps(value)  # ASCII: escapes any odd character
    return text if len(text) <= 60 else text[:57] + "..."


def _url(value, base):
    text = _string(value, base)
    if not text.lower().startswith(("http://", "https://")):
        raise Invalid("must be an http:// or https:// address, got %s" % _shown(value))
    return text


def _emails(value, base):
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and "@" in v for v in value):
        raise Invalid("must be a list of e-mail addresses such as [\"me@example.com\"], got %s"
                      % _shown(value))
    return tuple(value)


def _choice(options, upper=True):
    def parse(value, base):
        text = value if not isinstance(value, str) else (value.upper() if upper else value.lower())
        if text not in options:
            raise Invalid("must be one of %s, got %s" % (", ".join(options), _shown(value)))
        return text
    return parse


def _patterns(value, base):
    if not isinstance(value, list):
        raise Invalid("must be a list of patterns such as [\"*.tmp\", \"cache/**\"], got %s"
                      % _shown(value))
    try:
        Matcher(value)
    except PatternError as exc:
        raise Invalid(str(exc))
    return tuple(value)


def _keep(value, base):
    try:
        return policy.parse_policy(value)
    except policy.PolicyError as exc:
        raise Invalid(str(exc))


# An rclone remote name (rclone's own rule, ASCII part): what comes before the colon.
_REMOTE_NAME_RE = re.compile(r"^[A-Za-z0-9_.+@-][A-Za-z0-9_. +@-]*$")
# "4M", "512k", "1.5M", "10M:1M" (upload:download) or "off": rclone's --bwlimit, without a timetable.
_BWLIMIT_RE = re.compile(r"^(?:off|[0-9]+(?:\.[0-9]+)?[BKMGTP]?(?::[0-9]+(?:\.[0-9]+)?[BKMGTP]?)?)$", re.I)
OFFSITE_KEYS = ("remote", "keep", "bwlimit", "timeout_minutes")


class Offsite(collections.namedtuple("Offsite", OFFSITE_KEYS)):
    """A task's ``offsite``: the rclone remote path, the keep policy for the
    remote (None: the task's ``keep``), rclone's --bwlimit, the upload's
    time limit in minutes (None: none)."""


def remote_name(remote):
    """The rclone remote name of a remote path ("b2:bucket/x" -> "b2")."""
    return remote.split(":", 1)[0]


def _remote(value, base):
    text = _string(value, base)
    name, colon, _ = text.partition(":")
    example = "such as \"b2:my-bucket/pc1/Documents\" or \"nas:backups/Documents\""
    if not colon or not name:
        raise Invalid("%s is not an rclone remote path: write the remote's name (as set up with \"rclone "
                      "config\"), a colon and the folder there, %s" % (_shown(value), example))
    if len(name) == 1:
        raise Invalid("%s starts with a one-letter name, which rclone takes for a Windows drive: give the "
                      "remote a longer name in \"rclone config\"" % _shown(value))
    if not _REMOTE_NAME_RE.match(name) or name.endswith(" "):
        raise Invalid("%s: \"%s\" is not a remote name rclone accepts (letters, digits, _ . + @ - and "
                      "spaces): write it as \"rclone listremotes\" shows it, %s" % (_shown(value), name, example))
    return text


def _bwlimit(value, base):
    text = _string(value, base)
    if not _BWLIMIT_RE.match(text):
        raise Invalid("must be a bandwidth for rclone such as \"4M\" (4 MiB/s), \"512K\", \"10M:1M\" "
                      "(upload:download) or \"off\", got %s" % _shown(value))
    return text


def _schedule(value, base):
    try:
        return parse_schedule(value)
    except ScheduleError as exc:
        raise Invalid(str(exc))
