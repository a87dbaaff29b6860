import unittest

from task_runner.clock import LOCAL, FixedZone, format_local, parse_iso, short_time, wall_to_instant
from task_runner.config.timestamps import ScheduleError, parse_schedule
from tests.helpers import UTC, TZMixin, ts


class ParseErrorsTest(unittest.TestCase):
    FORMS = ('use "D HH:MM" (monthly, e.g. "1 23:56"), "HH:MM" (daily), "Mon,Thu HH:MM" (weekly) or a '
             '5-field cron expression such as "30 2 * * 1-5"')
    # (timestamp, the whole message; None: valid)
    CASES = [
        ('32 23:56', 'day must be 1-31, got 32'),
        ('0 10:00', 'day must be 1-31, got 0'),
        ('1 24:00', 'hour must be 0-23, got 24'),
        ('1 23:60', 'minute must be 0-59, got 60'),
        ('Funday 10:00', "unknown day name 'Funday': use Mon, Tue, Wed, Thu, Fri, Sat, Sun or the full English "
                         "names"),
        ('', 'is empty: ' + FORMS),
        ('tomorrow', "'tomorrow' is not a schedule: " + FORMS),
        ('61 * * * *', 'minute must be 0-59, got 61'),
        ('* * * 13 *', 'month must be 1-12, got 13'),
        ('* * * * 8', 'day of week must be 0-7, got 8'),
        ('*/0 * * * *', "minute: step must be a whole number >= 1, got '0'"),
        ('5-1 * * * *', 'minute: range 5-1 runs backwards'),
        ('0 0 30 2 *', "'0 0 30 2 *' never matches a real date (no month has that day)"),
        ('0 0 * foo *', "month: 'foo' is not a number or an English name"),
        ('0 24 * * *', 'hour must be 0-23, got 24'),
        ('60 0 * * *', 'minute must be 0-59, got 60'),
        ('0 0 0 * *', 'day of month must be 1-31, got 0'),
        ('0 0 32 * *', 'day of month must be 1-31, got 32'),
        ('0 0 * 0 *', 'month must be 1-12, got 0'),
        ('0 0 * * mon-sun', 'day of week: range mon-sun runs backwards'),
        ('0 0 * *', "'0 0 * *' is not a schedule: " + FORMS),
        ('0 0 * * * *', "'0 0 * * * *' is not a schedule: " + FORMS),
        ('1,,2 0 * * *', "minute: empty item in '1,,2'"),
        ('*/x 0 * * *', "minute: step must be a whole number >= 1, got 'x'"),
        ('Mon,Funday 08:00', "unknown day name 'Funday': use Mon, Tue, Wed, Thu, Fri, Sat, Sun or the full English "
                             "names"),
        ('1 1:5', "'1 1:5' is not a schedule: " + FORMS),
        ('\xb2 * * * *', "minute: '\xb2' is not a number"),
        ('*/\u0661 * * * *', "minute: step must be a whole number >= 1, got '\u0661'"),
        ('\uff11\uff12:00', "'１２:00' is not a schedule: " + FORMS),
        ('1 \uff11\uff12:00', "'1 １２:00' is not a schedule: " + FORMS),
        ('0 0 31 4 mon-fri', None),
        ('0 0 */14 2 mon', None),
        ('0 0 30 2 */2', "'0 0 30 2 */2' never matches a real date (no month has that day)"),
    ]

    def test_errors_name_the_problem(self):
        for text, expected in self.CASES:
            with self.subTest(text=text):
                if expected is None:
                    parse_schedule(text)
                    continue
                with self.assertRaises(ScheduleError) as ctx:
                    parse_schedule(text)
                self.assertEqual(str(ctx.exception), expected)

    def test_not_a_string(self):
        cases = [
            (5, 'must be a string such as "1 23:56", got int'),
            (["1 10:00", "1 99:00"], "[1]: hour must be 0-23, got 99"),
            ([], "is an empty list: give at least one time, or remove the key to run the task only on demand"),
        ]
        for value, message in cases:
            with self.subTest(value=value):
                with self.assertRaises(ScheduleError) as ctx:
                    parse_schedule(value)
                self.assertEqual(str(ctx.exception), message)


class NextAfterTest(unittest.TestCase):
    # (timestamp, now, expected next occurrence), all in UTC.
    CASES = [
        ("1 23:56", "2026-11-27T10:00:00+00:00", "2026-12-01T23:56:00+00:00"),
        ("1 23:56", "2026-12-01T23:56:00+00:00", "2027-01-01T23:56:00+00:00"),  # strictly after
        ("1 23:56", "2026-12-01T23:55:59+00:00", "2026-12-01T23:56:00+00:00"),
        ("31 23:00", "2026-02-01T00:00:00+00:00", "2026-02-28T23:00:00+00:00"),  # last day
        ("31 23:00", "2028-02-01T00:00:00+00:00", "2028-02-29T23:00:00+00:00"),  # leap year
        ("30 08:00", "2026-02-27T00:00:00+00:00", "2026-02-28T08:00:00+00:00"),
        ("29 08:00", "2026-04-29T08:00:00+00:00", "2026-05-29T08:00:00+00:00"),
        ("31 23:00", "2026-04-01T00:00:00+00:00", "2026-04-30T23:00:00+00:00"),
        ("12:00", "2026-11-27T12:00:00+00:00", "2026-11-28T12:00:00+00:00"),
        ("7:05", "2026-11-27T06:00:00+00:00", "2026-11-27T07:05:00+00:00"),
        ("Mon 08:00", "2026-11-27T10:00:00+00:00", "2026-11-30T08:00:00+00:00"),  # Fri -> Mon
        ("mon,THURSDAY 08:00", "2026-11-30T09:00:00+00:00", "2026-12-03T08:00:00+00:00"),
        ("30 2 * * 1-5", "2026-11-27T03:00:00+00:00", "2026-11-30T02:30:00+00:00"),
        ("*/15 * * * *", "2026-11-27T10:07:00+00:00", "2026-11-27T10:15:00+00:00"),
        ("0 0 31 * *", "2026-04-01T00:00:00+00:00", "2026-05-31T00:00:00+00:00"),  # cron: no clamp
        ("0 0 29 2 *", "2026-01-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
        ("0 12 1 * mon", "2026-11-27T00:00:00+00:00", "2026-11-30T12:00:00+00:00"),  # dom OR dow
        ("0 12 * * 7", "2026-11-27T00:00:00+00:00", "2026-11-29T12:00:00+00:00"),  # 7 = Sunday
        ("0 12 * * 0", "2026-11-27T00:00:00+00:00", "2026-11-29T12:00:00+00:00"),
        ("0 9 * jan-mar *", "2026-11-27T00:00:00+00:00", "2027-01-01T09:00:00+00:00"),
        ("0 9 1 */6 *", "2026-08-01T00:00:00+00:00", "2027-01-01T09:00:00+00:00"),
        ("5/20 1 * * *", "2026-11-27T01:06:00+00:00", "2026-11-27T01:25:00+00:00"),
        ("0 0 * * sun,sat", "2026-11-27T00:00:00+00:00", "2026-11-28T00:00:00+00:00"),
        (["1 23:56", "15 12:00"], "2026-12-02T00:00:00+00:00", "2026-12-15T12:00:00+00:00"),
        # Across the 1st of a month, and the end of a year.
        ("12:00", "2026-11-30T13:00:00+00:00", "2026-12-01T12:00:00+00:00"),
        ("12:00", "2026-12-31T13:00:00+00:00", "2027-01-01T12:00:00+00:00"),
        ("Tue 08:00", "2026-11-27T10:00:00+00:00", "2026-12-01T08:00:00+00:00"),
        ("0 0 * * *", "2026-11-30T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
        ("1 00:00", "2026-11-30T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
        # The ends of each field.
        ("59 23 * * *", "2026-11-27T10:00:00+00:00", "2026-11-27T23:59:00+00:00"),
        ("0 0 * * *", "2026-11-27T10:00:00+00:00", "2026-11-28T00:00:00+00:00"),
        ("00:00", "2026-11-27T23:59:00+00:00", "2026-11-28T00:00:00+00:00"),
        ("23:59", "2026-11-27T23:58:59+00:00", "2026-11-27T23:59:00+00:00"),
        ("0 0 5-5 * *", "2026-11-27T00:00:00+00:00", "2026-12-05T00:00:00+00:00"),
        ("0 0 1-31/10 * *", "2026-11-27T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
        ("0 0 * * 1-5/2", "2026-11-28T00:00:00+00:00", "2026-11-30T00:00:00+00:00"),  # Mon, Wed, Fri
        ("0 0 * * 1-5/2", "2026-11-30T00:00:00+00:00", "2026-12-02T00:00:00+00:00"),
        ("0 0 1 12 *", "2027-01-01T00:00:00+00:00", "2027-12-01T00:00:00+00:00"),
        ("0 9 * * 1-5", "2026-11-26T10:00:00+00:00", "2026-11-27T09:00:00+00:00"),  # Thu -> Fri, the range's end
        ("0 * * * *", "2026-11-27T22:30:00+00:00", "2026-11-27T23:00:00+00:00"),  # hour 23 of "*"
        ("59 * * * *", "2026-11-27T23:00:00+00:00", "2026-11-27T23:59:00+00:00"),  # minute 59 of "*"
    ]

    # Every name and abbreviation: (field text, what it must equal)
    NAMES = [("jan", "1"), ("feb", "2"), ("mar", "3"), ("apr", "4"), ("may", "5"), ("jun", "6"),
             ("jul", "7"), ("aug", "8"), ("sep", "9"), ("oct", "10"), ("nov", "11"), ("dec", "12"),
             ("january", "1"), ("DECEMBER", "12"), ("September", "9")]
    DAYS = [("sun", "0"), ("mon", "1"), ("tue", "2"), ("wed", "3"), ("thu", "4"), ("fri", "5"),
            ("sat", "6"), ("SUNDAY", "7"), ("Wednesday", "3"), ("friday", "5")]

    def test_names_mean_their_numbers(self):
        start = ts("2026-11-27T10:00:00+00:00")
        for name, number in self.NAMES:
            with self.subTest(month=name):
                self.assertEqual(parse_schedule("0 9 1 %s *" % name).upcoming(start, 3, UTC),
                                 parse_schedule("0 9 1 %s *" % number).upcoming(start, 3, UTC))
        for name, number in self.DAYS:
            with self.subTest(day=name):
                self.assertEqual(parse_schedule("0 9 * * %s" % name).upcoming(start, 3, UTC),
                                 parse_schedule("0 9 * * %s" % number).upcoming(start, 3, UTC))
                weekly = name.capitalize() + " 09:00"
                self.assertEqual(parse_schedule(weekly).upcoming(start, 3, UTC),
                                 parse_schedule("0 9 * * %s" % number).upcoming(start, 3, UTC))

    def test_table(self):
        for timestamp, now, expected in self.CASES:
            with self.subTest(timestamp=timestamp, now=now):
                got = parse_schedule(timestamp).next_after(ts(now), UTC)
                self.assertEqual(format_local(got, UTC), expected)

    def test_no_drift_over_many_months(self):
        sched = parse_schedule("31 23:00")
        t = ts("2026-01-01T00:00:00+00:00")
        seen = []
        for _ in range(14):
            t = sched.next_after(t, UTC)
            seen.append(format_local(t, UTC)[:10])
        self.assertEqual(seen[:4], ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"])
        self.assertEqual(seen[12:], ["2027-01-31", "2027-02-28"])

    def test_other_offset(self):
        zone = FixedZone(3600)
        got = parse_schedule("1 23:56").next_after(ts("2026-11-27T10:00:00+01:00"), zone)
        self.assertEqual(format_local(got, zone), "2026-12-01T23:56:00+01:00")


class LatestTest(unittest.TestCase):
    CASES = [
        ("1 23:56", "2026-11-27T10:00:00+00:00", "2026-11-01T23:56:00+00:00"),
        ("1 23:56", "2026-11-01T23:56:00+00:00", "2026-11-01T23:56:00+00:00"),  # at counts
        ("1 23:56", "2026-11-01T23:55:59+00:00", "2026-10-01T23:56:00+00:00"),
        ("31 23:00", "2026-03-01T00:00:00+00:00", "2026-02-28T23:00:00+00:00"),
        ("0 0 29 2 *", "2026-11-27T00:00:00+00:00", "2024-02-29T00:00:00+00:00"),
        ("Mon 08:00", "2026-11-27T10:00:00+00:00", "2026-11-23T08:00:00+00:00"),
    ]

    def test_table(self):
        for timestamp, now, expected in self.CASES:
            with self.subTest(timestamp=timestamp, now=now):
                got = parse_schedule(timestamp).latest_at_or_before(ts(now), UTC)
                self.assertEqual(format_local(got, UTC), expected)


class DaylightSavingTest(TZMixin, unittest.TestCase):
    # (TZ, timestamp, now, expected next occurrences)
    CASES = [
        # New York springs forward 2026-03-08 02:00 -> 03:00: 02:30 does not exist.
        ("America/New_York", "30 2 * * *", "2026-03-07T12:00:00-05:00",
         ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
        ("America/New_York", "8 02:30", "2026-03-01T00:00:00-05:00",
         ["2026-03-08T03:00:00-04:00", "2026-04-08T02:30:00-04:00"]),
        # Every 15 minutes across the gap: 02:00-02:45 collapse into one run at 03:00.
        ("America/New_York", "*/15 * * * *", "2026-03-08T01:40:00-05:00",
         ["2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]),
        # Falls back 2026-11-01 02:00 -> 01:00: 01:30 happens twice, runs at the first.
        ("America/New_York", "30 1 * * *", "2026-10-31T12:00:00-04:00",
         ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        ("America/New_York", "0,30 1 * * *", "2026-11-01T00:50:00-04:00",
         ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"]),
        # London springs forward 2026-03-29 01:00 -> 02:00, falls back 2026-10-25 02:00 -> 01:00.
        ("Europe/London", "29 01:30", "2026-03-01T00:00:00+00:00",
         ["2026-03-29T02:00:00+01:00", "2026-04-29T01:30:00+01:00"]),
        ("Europe/London", "01:30", "2026-10-24T12:00:00+01:00",
         ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]),
    ]

    def test_table(self):
        for tz, timestamp, now, expected in self.CASES:
            with self.subTest(tz=tz, timestamp=timestamp):
                self.set_tz(tz)
                got = parse_schedule(timestamp).upcoming(ts(now), len(expected), LOCAL)
                self.assertEqual([format_local(t, LOCAL) for t in got], expected)

    def test_fall_back_runs_once_after_the_first(self):
        # Standing at the second 01:30 (EST), the first one (EDT) already passed.
        self.set_tz("America/New_York")
        sched = parse_schedule("30 1 * * *")
        second = ts("2026-11-01T01:30:00-05:00")
        self.assertEqual(format_local(sched.latest_at_or_before(second, LOCAL), LOCAL),
                         "2026-11-01T01:30:00-04:00")
        self.assertEqual(format_local(sched.next_after(second, LOCAL), LOCAL),
                         "2026-11-02T01:30:00-05:00")

    def test_wall_to_instant_gap_and_overlap(self):
        self.set_tz("America/New_York")
        self.assertEqual(format_local(wall_to_instant(LOCAL, 2026, 3, 8, 2, 59), LOCAL),
                         "2026-03-08T03:00:00-04:00")
        self.assertEqual(format_local(wall_to_instant(LOCAL, 2026, 11, 1, 1, 0), LOCAL),
                         "2026-11-01T01:00:00-04:00")


class IsoTest(unittest.TestCase):
    def test_parse_iso_refuses_other_text(self):
        for text in ("2026-11-27 10:00", "2026-11-27T10:00:00", "yesterday"):
            with self.subTest(text=text):
                with self.assertRaises(ValueError) as ctx:
                    parse_iso(text)
                self.assertEqual(str(ctx.exception), "not an ISO 8601 time with offset: %r" % text)
        self.assertIsNone(parse_iso(None))
        self.assertEqual(format_local(0, UTC), "1970-01-01T00:00:00+00:00")
        self.assertEqual(format_local(0, FixedZone(-90 * 60)), "1969-12-31T22:30:00-01:30")

    def test_round_trip_and_forms(self):
        for zone in (UTC, FixedZone(3600), FixedZone(-5 * 3600 - 1800)):
            with self.subTest(offset=zone.seconds):
                t = 1795000000
                self.assertEqual(parse_iso(format_local(t, zone)), t)
        self.assertEqual(parse_iso("2026-01-01T00:00:00Z"), parse_iso("2026-01-01T01:00:00+0100"))
        self.assertIsNone(parse_iso(None))
        with self.assertRaises(ValueError):
            parse_iso("2026-01-01 00:00")


class DescribeTest(unittest.TestCase):
    def test_words(self):
        cases = [
            ("1 23:56", "monthly on day 1 at 23:56"),
            ("31 23:00", "monthly on day 31 at 23:00 (on the last day in shorter months)"),
            ("9:05", "daily at 09:05"),
            ("thu,Mon 08:00", "weekly on Mon, Thu at 08:00"),
            ("30 2 * * 1-5", 'cron "30 2 * * 1-5" (minute hour day month weekday)'),
            ("28 10:00", "monthly on day 28 at 10:00"),  # every month has a 28th
            ("29 10:00", "monthly on day 29 at 10:00 (on the last day in shorter months)"),
            (["1 23:56", "Sat 10:00"], "monthly on day 1 at 23:56; weekly on Sat at 10:00"),
            ("Fri,Wed,Tue,Sun 07:00", "weekly on Sun, Tue, Wed, Fri at 07:00"),
            ("thursday,MONDAY,sat 07:00", "weekly on Mon, Thu, Sat at 07:00"),
        ]
        for text, words in cases:
            with self.subTest(text=text):
                self.assertEqual(parse_schedule(text).describe(), words)


class ShortTimeTest(TZMixin, unittest.TestCase):
    def test_offset_only_where_it_matters(self):
        self.set_tz("Europe/London")
        winter, summer = ts("2026-01-15T12:00:00+00:00"), ts("2026-07-15T12:00:00+01:00")
        self.assertEqual(short_time(winter, LOCAL, winter), "2026-01-15 12:00")
        self.assertEqual(short_time(summer, LOCAL, summer), "2026-07-15 12:00")
        self.assertEqual(short_time(summer, LOCAL, winter), "2026-07-15 12:00 (+01:00)")  # across a change
        self.assertEqual(short_time(winter, FixedZone(-5 * 3600), winter), "2026-01-15 07:00 (-05:00)")
        self.assertEqual(short_time(summer, FixedZone(0), summer), "2026-07-15 11:00 (+00:00)")
        self.assertEqual(short_time(winter, FixedZone(5 * 3600 + 30 * 60), winter), "2026-01-15 17:30 (+05:30)")


class RareCronTest(unittest.TestCase):
    """Valid expressions that match only some years must work for ever."""

    CASES = [
        # (expression, after, next occurrence): checked against cronie.
        ("0 0 */14 1 mon", "2026-01-01T00:00:00+00:00", "2029-01-01T00:00:00+00:00"),
        ("0 0 */12 12 sun", "2027-01-01T00:00:00+00:00", "2030-12-01T00:00:00+00:00"),
        ("0 0 */14 3 wed", "2034-04-01T00:00:00+00:00", "2045-03-01T00:00:00+00:00"),
        ("0 0 29 2 *", "2096-03-01T00:00:00+00:00", "2104-02-29T00:00:00+00:00"),
        # */n in a day field counts as unrestricted (the AND rule), like "*":
        ("0 0 */10 * fri", "2026-11-27T00:00:00+00:00", "2026-12-11T00:00:00+00:00"),
        # N/step runs from N to the end of the field:
        ("5/20 3 * * *", "2026-11-27T03:06:00+00:00", "2026-11-27T03:25:00+00:00"),
        ("5/20 3 * * *", "2026-11-27T03:45:00+00:00", "2026-11-28T03:05:00+00:00"),
        ("0 0 5-5 * *", "2026-11-27T00:00:00+00:00", "2026-12-05T00:00:00+00:00"),
    ]

    def test_table(self):
        for text, after, expected in self.CASES:
            with self.subTest(text=text, after=after):
                found = parse_schedule(text).next_after(ts(after), UTC)
                self.assertEqual(format_local(found, UTC), expected)


if __name__ == "__main__":
    unittest.main()
