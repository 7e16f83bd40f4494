"""A date range from the query string (`from`, `to`: YYYY-MM-DD, both inclusive), the same on
a page and on its CSV export.

Dates are the company's calendar days: a stored time (naive UTC) is in the range when it falls
on one of those days in the company's time zone, so an incident opened at 00:30 in London on
1 April is an April incident, even though it was 23:30 UTC on 31 March.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

# The days a filter can name: wider than any row's (contracts start from 2000 to 2099), and far
# enough inside Python's years 1 to 9999 that a day's midnight in any zone, and the day after
# it, are still dates (year 1 east of UTC, or the day after 9999-12-31, overflow).
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2999, 12, 31)


def _day(text: str | None) -> dt.date | None:
    # A value that is not a date is ignored, as the pages ignore any other unknown filter value.
    try:
        day = dt.date.fromisoformat(text) if text and len(text) == 10 else None
    except ValueError:
        return None
    # Past either end: the nearest day in range, which selects the same rows (none is older
    # or newer), so "to 9999-12-31" still means "whenever".
    return min(max(day, EARLIEST), LATEST) if day else None


def local_midnight_utc(day: dt.date, zone: str) -> dt.datetime:
    """The start of `day` in `zone`, as naive UTC. A midnight the clocks skip (a few zones
    change at 00:00) is taken with the offset before the change: still the day's first instant."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(zone))
    return start.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class DateRange:
    first: dt.date | None = None  # `from`, inclusive
    last: dt.date | None = None  # `to`, inclusive

    @classmethod
    def from_args(cls, args) -> "DateRange":
        return cls(_day(args.get("from")), _day(args.get("to")))

    @property
    def args(self) -> dict[str, str | None]:
        """For url_for: the range as the query string carries it (None leaves a bound out)."""
        return {
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
        }

    def on_dates(self, column) -> list:
        """Conditions on a Date column."""
        found = []
        if self.first:
            found.append(column >= self.first)
        if self.last:
            found.append(column <= self.last)
        return found

    def on_times(self, column, zone: str) -> list:
        """Conditions on a naive-UTC DateTime column: [first 00:00, the day after last 00:00)
        in `zone`, so both bounds are plain comparisons an index on the column can serve."""
        found = []
        if self.first:
            found.append(column >= local_midnight_utc(self.first, zone))
        if self.last:
            found.append(column < local_midnight_utc(self.last + dt.timedelta(days=1), zone))
        return found
