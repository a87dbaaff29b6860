"""The task key ``keep``: a whole number (the newest N) or a calendar
policy with borg ``prune``'s meaning, read into a ``Policy``. What the
policy keeps is decided in ``snapshots.retention``."""

import collections
import re

RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
POLICY_KEYS = ("within",) + RULES
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "m": 31 * 86400, "y": 365 * 86400}
_WITHIN_RE = re.compile(r"^([1-9][0-9]{0,5})([hdwmy])$")
MAX_COUNT = 100000

Policy = collections.namedtuple("Policy", "within " + " ".join(RULES))  # pragma: no mutate
Policy.__doc__ = "A retention policy: within (seconds or None) and a count (or 0) per rule."  # pragma: no mutate


class PolicyError(ValueError):
    """A ``keep`` value that is not a policy; the message names the fix."""


def parse_policy(value):
    """``keep`` from config.json as a Policy: a whole number N means the
    newest N ("last")."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_COUNT:
            raise PolicyError("must be from 1 to %d, got %d" % (MAX_COUNT, value))
        return Policy(None, value, 0, 0, 0, 0, 0)
    if not isinstance(value, dict):
        raise PolicyError("must be a whole number (the newest N) or an object such as "
                          "{\"daily\": 7, \"weekly\": 4, \"monthly\": 12}")
    unknown = [k for k in value if k not in POLICY_KEYS and not k.startswith("_")]
    if unknown:
        raise PolicyError("unknown rule \"%s\" (rules: %s)" % (unknown[0], ", ".join(POLICY_KEYS)))
    counts = {}
    for rule in RULES:
        n = value.get(rule, 0)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_COUNT:
            raise PolicyError("%s must be a whole number from 0 to %d, got %r" % (rule, MAX_COUNT, n))
        counts[rule] = n
    within = value.get("within")
    seconds = None
    if within is not None:
        m = _WITHIN_RE.match(within) if isinstance(within, str) else None
        if not m:
            raise PolicyError("within must be a number and a unit such as \"2d\" (h hours, d days, w weeks, "
                              "m months, y years), got %r" % (within,))
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None and not any(counts.values()):
        raise PolicyError("keeps nothing: give at least one rule, such as {\"daily\": 7}")
    return Policy(seconds, **counts)
