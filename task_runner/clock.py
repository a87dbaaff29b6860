"""Time for people and for the history: the machine's local zone, instants
as local wall-clock times and back, and the ISO 8601 text the history keeps.

Nothing here reads the clock except ``LocalZone`` (which asks the system
for an instant's offset): every function takes the instant and a ``zone``
that maps an instant to its UTC offset (``LOCAL``, or a ``FixedZone`` in
tests), so daylight saving is decided where it happens.
"""

import calendar
import datetime
import functools
import re
import time

_EPOCH = datetime.datetime(1970, 1, 1)


class LocalZone(object):
    """The machine's local time zone (honours TZ on POSIX)."""

    def utcoffset(self, ts):
        return time.localtime(ts).tm_gmtoff


class FixedZone(object):
    """A zone with one fixed offset, for tests and for UTC."""

    def __init__(self, seconds):
        self.seconds = seconds

    def utcoffset(self, ts):
        return self.seconds


LOCAL = LocalZone()


def local_datetime(ts, zone):
    """The naive wall-clock datetime of instant ``ts`` in ``zone``."""
    return _EPOCH + datetime.timedelta(seconds=int(ts) + zone.utcoffset(ts))


def format_local(ts, zone, sep="T"):
    """``ts`` as ISO 8601 local time with its UTC offset, to the second:
    2026-11-01T23:56:00+01:00."""
    offset = zone.utcoffset(ts)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return "%s%s%02d:%02d" % (local_datetime(ts, zone).isoformat(sep), sign, hours, minutes)


def short_time(ts, zone, now):
    """``ts`` for people: "2026-12-01 23:56", with the UTC offset only when
    it differs from the machine's offset at ``now`` (another zone, or across
    a daylight-saving change): "2026-03-29 01:30 (+00:00)"."""
    text = local_datetime(ts, zone).strftime("%Y-%m-%d %H:%M")
    offset = zone.utcoffset(ts)
    if offset != LOCAL.utcoffset(now):
        sign = "+" if offset >= 0 else "-"
        text += " (%s%02d:%02d)" % (sign, abs(offset) // 3600, abs(offset) // 60 % 60)
    return text


_ISO_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
                     r"(?:(Z)|([+-])([0-9]{2}):?([0-9]{2}))$")


@functools.lru_cache(maxsize=4096)  # the daemon reads the same history times on every pass
def parse_iso(text):
    """Seconds since the epoch for an ISO 8601 time with offset (as written
    by format_local). None for None; ValueError for anything else (a
    TypeError for a list or an object).
    (datetime.fromisoformat does not exist on Python 3.6.)"""
    if text is None:
        return None
    m = _ISO_RE.match(text)
    if not m:
        raise ValueError("not an ISO 8601 time with offset: %r" % (text,))
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    offset = 0
    if not m.group(7):
        offset = (int(m.group(9)) * 60 + int(m.group(10))) * 60
        if m.group(8) == "-":
            offset = -offset
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - offset


def wall_to_instant(zone, y, mo, d, h, mi):
    """The instant at which the wall clock in ``zone`` reads y-mo-d h:mi.

    Twice on a fall-back day: the first. Never on a spring-forward day: the
    first valid minute after the gap.
    """
    wall = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))
    # The offsets in force a day either side cover any transition near
    # this wall time; each candidate instant is checked against its own.
    offsets = {zone.utcoffset(wall - 86400), zone.utcoffset(wall), zone.utcoffset(wall + 86400)}
    valid = [wall - o for o in offsets if zone.utcoffset(wall - o) == o]
    if valid:
        return min(valid)
    # In a gap: the wall clock jumps from below ``wall`` to above it between
    # lo and hi. Find the first whole minute at which it reads above.
    lo = min(wall - o for o in offsets) // 60
    hi = max(wall - o for o in offsets) // 60 + 1
    while lo < hi:
        mid = (lo + hi) // 2
        t = mid * 60
        if t + zone.utcoffset(t) > wall:
            hi = mid
        else:
            lo = mid + 1
    return lo * 60
