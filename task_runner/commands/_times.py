"""Times as the scheduler's verbs show them to people."""

import time

from ..clock import LOCAL, parse_iso, short_time


def when(ts):
    """An instant for people: local time, the UTC offset only where it matters."""
    return short_time(ts, LOCAL, time.time()) if ts is not None else "-"


def recorded(iso):
    """A recorded ISO time for people (as _when); the text as it is when it
    cannot be read (a hand-edited history)."""
    try:
        return when(parse_iso(iso)) if iso else "?"
    except ValueError:
        return str(iso)
