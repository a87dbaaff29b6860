"""Pure schedule logic: parse a ``timestamp`` and find its occurrences.

Nothing here reads the clock: every function takes ``now`` (seconds since
the epoch, as from ``time.time()``) and a ``zone`` that maps an instant to
its UTC offset. Occurrences are wall-clock times in that zone, turned into
instants one at a time, so daylight saving is handled where it happens:

* a wall time that does not exist (spring forward, 02:30 in New York) runs
  once at the first valid minute after the gap (03:00);
* a wall time that occurs twice (fall back) runs once, at the first.

Forms of ``timestamp`` (a string, or a list of strings meaning their union):
``"D HH:MM"`` monthly on day D (the month's last day when it is shorter),
``"HH:MM"`` daily, ``"Mon,Thu HH:MM"`` weekly, or a 5-field cron expression.
"""

import calendar
import datetime
import re

from ..clock import LOCAL, local_datetime, wall_to_instant

_ONE_DAY = datetime.timedelta(days=1)
# How far to look for an occurrence. Dates repeat their weekdays every 28
# years (a leap day on a Monday: "0 0 29 2 mon" under the AND rule of
# "*/n"); a skipped century leap year (2100) can stretch that gap to 40.
HORIZON_DAYS = 366 * 41
# Whether an expression can match at all is checked over one whole cycle.
_CYCLE_YEARS = range(2000, 2028)

DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july",
               "august", "september", "october", "november", "december"]
_SHORT_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

# ASCII digits only: "\d" would also take "\u00b2" or full-width digits.
_TIME_RE = r"([0-9]{1,2}):([0-9]{2})"
_MONTHLY_RE = re.compile(r"^([0-9]{1,2})\s+" + _TIME_RE + r"$")
_DAILY_RE = re.compile(r"^" + _TIME_RE + r"$")
_WEEKLY_RE = re.compile(r"^([A-Za-z]+(?:\s*,\s*[A-Za-z]+)*)\s+" + _TIME_RE + r"$")

FORMS_HELP = ('use "D HH:MM" (monthly, e.g. "1 23:56"), "HH:MM" (daily), '
              '"Mon,Thu HH:MM" (weekly) or a 5-field cron expression such as "30 2 * * 1-5"')


class ScheduleError(ValueError):
    """A timestamp that cannot be parsed; the message names the fix."""


class Rule(object):
    """One timestamp string: which dates match, and which times on them."""

    def __init__(self, text, kind, minutes, hours, doms=None, months=None, dows=None,
                 dom_star=True, dow_star=True, clamp_day=None):
        self.text = text
        self.kind = kind  # "monthly", "daily", "weekly" or "cron"
        self.times = sorted((h, m) for h in hours for m in minutes)
        self.doms = frozenset(doms or range(1, 32))
        self.months = frozenset(months or range(1, 13))
        self.dows = frozenset(dows or range(7))  # 0 = Sunday
        self.dom_star = dom_star
        self.dow_star = dow_star
        self.clamp_day = clamp_day

    def matches_date(self, day):
        if day.month not in self.months:
            return False
        if self.clamp_day is not None:
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == min(self.clamp_day, last)
        dom_ok = day.day in self.doms
        dow_ok = (day.weekday() + 1) % 7 in self.dows
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        # Classic cron: both restricted, either may match.
        return dom_ok or dow_ok

    def describe(self):
        if self.kind == "monthly":
            (h, m), = self.times
            text = "monthly on day %d at %02d:%02d" % (self.clamp_day, h, m)
            if self.clamp_day > 28:
                text += " (on the last day in shorter months)"
            return text
        if self.kind == "daily":
            return "daily at %02d:%02d" % self.times[0]
        if self.kind == "weekly":
            days = ", ".join(_SHORT_DAYS[d] for d in sorted(self.dows))
            return "weekly on %s at %02d:%02d" % (days, self.times[0][0], self.times[0][1])
        return "cron \"%s\" (minute hour day month weekday)" % self.text


class Schedule(object):
    """The union of one or more rules. Occurrences are instants (floats)."""

    def __init__(self, rules):
        self.rules = list(rules)

    def describe(self):
        return "; ".join(r.describe() for r in self.rules)

    def _instants_on(self, day, zone):
        found = set()
        for rule in self.rules:
            if rule.matches_date(day):
                for h, m in rule.times:
                    found.add(wall_to_instant(zone, day.year, day.month, day.day, h, m))
        return sorted(found)

    def next_after(self, now, zone=LOCAL):
        """The first occurrence strictly after ``now``, or None."""
        # Start a day early: around a fall-back the wall date of an instant
        # and of ``now`` can differ.
        day = local_datetime(now, zone).date() - _ONE_DAY
        for _ in range(HORIZON_DAYS):
            for t in self._instants_on(day, zone):
                if t > now:
                    return t
            day += _ONE_DAY
        return None

    def latest_at_or_before(self, now, zone=LOCAL):
        """The newest occurrence at or before ``now``, or None."""
        day = local_datetime(now, zone).date() + _ONE_DAY
        for _ in range(HORIZON_DAYS):
            for t in reversed(self._instants_on(day, zone)):
                if t <= now:
                    return t
            day -= _ONE_DAY
        return None

    def upcoming(self, now, count, zone=LOCAL):
        """The next ``count`` occurrences after ``now``."""
        out = []
        t = now
        while len(out) < count:
            t = self.next_after(t, zone)
            if t is None:
                break
            out.append(t)
        return out


def _check_time(h, m):
    h, m = int(h), int(m)
    if not 0 <= h <= 23:
        raise ScheduleError("hour must be 0-23, got %d" % h)
    if not 0 <= m <= 59:
        raise ScheduleError("minute must be 0-59, got %d" % m)
    return h, m


def _name_index(token, names):
    """Index of an English name or its 3-letter abbreviation, any case."""
    low = token.strip().lower()
    for i, full in enumerate(names):
        if low == full or low == full[:3]:
            return i
    return None


def _day_number(name):
    index = _name_index(name, DAY_NAMES)
    if index is None:
        raise ScheduleError("unknown day name %r: use Mon, Tue, Wed, Thu, Fri, Sat, Sun "
                            "or the full English names" % name.strip())
    return index


# (name, low, high, names, value of the first name) of the five cron fields.
_CRON_FIELDS = [
    ("minute", 0, 59, None, 0),
    ("hour", 0, 23, None, 0),
    ("day of month", 1, 31, None, 0),
    ("month", 1, 12, MONTH_NAMES, 1),
    ("day of week", 0, 7, DAY_NAMES, 0),
]


_DIGITS = re.compile(r"^[0-9]+$")


def _cron_value(token, field):
    name, low, high, names, first = field
    if _DIGITS.match(token):
        value = int(token)
    else:
        index = _name_index(token, names) if names else None
        if index is None:
            raise ScheduleError("%s: %r is not a number%s" % (
                name, token, " or an English name" if names else ""))
        value = index + first
    if not low <= value <= high:
        raise ScheduleError("%s must be %d-%d, got %d" % (name, low, high, value))
    return value


def _cron_field(text, field):
    name, low, high = field[:3]
    values = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError("%s: empty item in %r" % (name, text))
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not _DIGITS.match(step_text) or int(step_text) == 0:
                raise ScheduleError("%s: step must be a whole number >= 1, got %r" % (name, step_text))
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _cron_value(a, field), _cron_value(b, field)
            if start > end:
                raise ScheduleError("%s: range %s runs backwards" % (name, base))
        else:
            start = _cron_value(base, field)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    if name == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)  # 7 is Sunday too
    return values


def _parse_cron(text):
    parts = text.split()
    fields = [_cron_field(p, f) for p, f in zip(parts, _CRON_FIELDS)]
    minutes, hours, doms, months, dows = fields
    rule = Rule(text, "cron", minutes, hours, doms, months, dows,
                dom_star=parts[2].startswith("*"), dow_star=parts[4].startswith("*"))
    if not any(rule.matches_date(datetime.date(y, m, d)) for y in _CYCLE_YEARS
               for m in rule.months for d in range(1, calendar.monthrange(y, m)[1] + 1)):
        # (A weekday restriction can never be the cause: within 28 years
        # every date falls on every weekday.)
        raise ScheduleError("%r never matches a real date (no month has that day)" % text)
    return rule


def parse_rule(text):
    """Parse one timestamp string into a Rule; ScheduleError names the fix."""
    if not isinstance(text, str):
        raise ScheduleError("must be a string such as \"1 23:56\", got %s" % type(text).__name__)
    text = " ".join(text.split())
    if not text:
        raise ScheduleError("is empty: " + FORMS_HELP)
    m = _MONTHLY_RE.match(text)
    if m:
        day = int(m.group(1))
        if not 1 <= day <= 31:
            raise ScheduleError("day must be 1-31, got %d" % day)
        h, mi = _check_time(m.group(2), m.group(3))
        return Rule(text, "monthly", [mi], [h], clamp_day=day)
    m = _DAILY_RE.match(text)
    if m:
        h, mi = _check_time(m.group(1), m.group(2))
        return Rule(text, "daily", [mi], [h])
    m = _WEEKLY_RE.match(text)
    if m:
        dows = {_day_number(n) for n in m.group(1).split(",")}
        h, mi = _check_time(m.group(2), m.group(3))
        return Rule(text, "weekly", [mi], [h], dows=dows, dow_star=False)
    if len(text.split()) == 5:
        return _parse_cron(text)
    raise ScheduleError("%r is not a schedule: %s" % (text, FORMS_HELP))


def parse_schedule(value):
    """Parse a ``timestamp`` value (string or non-empty list of strings)."""
    if isinstance(value, list):
        if not value:
            raise ScheduleError("is an empty list: give at least one time, or remove the key "
                                "to run the task only on demand")
        rules = []
        for i, item in enumerate(value):
            try:
                rules.append(parse_rule(item))
            except ScheduleError as exc:
                raise ScheduleError("[%d]: %s" % (i, exc))
        return Schedule(rules)
    return Schedule([parse_rule(value)])
