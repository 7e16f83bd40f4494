"""The one source of the current time. Stored times are naive UTC on every database."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from zoneinfo import ZoneInfo

_frozen: ContextVar[dt.datetime | None] = ContextVar("frozen_now", default=None)


def utcnow() -> dt.datetime:
    return _frozen.get() or dt.datetime.now(dt.UTC).replace(tzinfo=None)


@contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    """Within the block, "now" is `at` (naive UTC) for this thread or task only: the demo seed
    plays a year of history through the real domain functions with it. Tests use time-machine,
    a development dependency; the seed runs from the app's own requirements."""
    token = _frozen.set(at)
    try:
        yield
    finally:
        _frozen.reset(token)


def today() -> dt.date:
    return utcnow().date()


def to_local(value: dt.datetime, timezone: str) -> dt.datetime:
    """A stored (naive UTC) time as naive local time in `timezone`."""
    return value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def from_local(value: dt.datetime, timezone: str) -> dt.datetime:
    """A naive local time in `timezone` as naive UTC, for storing.

    A time the clocks skipped (the hour lost when summer time starts), or one whose UTC falls
    outside the calendar, is a ValueError; a time that happens twice (the hour repeated in
    autumn) is taken as the first one."""
    zone = ZoneInfo(timezone)
    try:
        utc = value.replace(tzinfo=zone).astimezone(dt.UTC)
        back = utc.astimezone(zone).replace(tzinfo=None)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise ValueError(
            f"{value.date().isoformat()} is outside the dates we can record."
        ) from None
    if back != value:
        raise ValueError(
            f"{value:%H:%M} on {value:%Y-%m-%d} did not happen in {timezone}: "
            "the clocks went forward then."
        )
    return utc.replace(tzinfo=None)
