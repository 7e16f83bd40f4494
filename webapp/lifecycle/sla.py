"""SLA policies and the SLA clock: how many minutes of the policy's hours have passed.

A policy runs either around the clock (24x7) or in the company's business hours: a weekly
schedule of local opening times in the company's time zone. Local times are turned into UTC
day by day with zoneinfo, so a daylight-saving change moves the window, not its length;
around the clock, a 23-hour day counts 23 hours. Suspensions are given as intervals during
which the clock is paused. All times in and out are naive UTC datetimes, as stored.
"""

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC
WEEKDAYS = range(7)  # Monday is 0


@dataclass(frozen=True)
class SlaTargets:
    response_minutes: int
    resolution_minutes: int
    availability_target: str  # percent, as text so it stays exact
    warning_percent: int = 80
    around_the_clock: bool = False


DEFAULTS = {
    "basic": SlaTargets(480, 2880, "99.0"),
    "standard": SlaTargets(240, 1440, "99.5"),
    "premium": SlaTargets(60, 480, "99.9", around_the_clock=True),
    "enterprise": SlaTargets(15, 240, "99.95", around_the_clock=True),
}


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "UTC"
    # weekday -> (opens, closes) in local time; a day not listed is closed.
    week: dict[int, tuple[dt.time, dt.time]] = field(
        default_factory=lambda: {d: (dt.time(8), dt.time(18)) for d in range(5)}
    )


def _windows(start: dt.datetime, end: dt.datetime, hours: BusinessHours | None):
    """The UTC intervals of counted time that overlap [start, end)."""
    if hours is None:  # around the clock
        yield start, end
        return
    zone = ZoneInfo(hours.timezone)
    local_day = start.replace(tzinfo=UTC).astimezone(zone).date() - dt.timedelta(days=1)
    last_day = end.replace(tzinfo=UTC).astimezone(zone).date()
    while local_day <= last_day:
        if local_day.weekday() in hours.week:
            opens, closes = hours.week[local_day.weekday()]
            w_start = (
                dt.datetime.combine(local_day, opens, zone).astimezone(UTC).replace(tzinfo=None)
            )
            w_end = (
                dt.datetime.combine(local_day, closes, zone).astimezone(UTC).replace(tzinfo=None)
            )
            lo, hi = max(w_start, start), min(w_end, end)
            if lo < hi:
                yield lo, hi
        local_day += dt.timedelta(days=1)


def _minus(interval, pauses):
    """Parts of `interval` outside every pause."""
    parts = [interval]
    for p_start, p_end in pauses:
        next_parts = []
        for lo, hi in parts:
            if p_end <= lo or p_start >= hi:
                next_parts.append((lo, hi))
                continue
            if lo < p_start:
                next_parts.append((lo, p_start))
            if p_end < hi:
                next_parts.append((p_end, hi))
        parts = next_parts
    return parts


def elapsed_minutes(start, end, hours: BusinessHours | None, pauses=()) -> float:
    """Minutes of policy time between start and end, less paused time."""
    if end <= start:
        return 0.0
    total = dt.timedelta()
    for window in _windows(start, end, hours):
        for lo, hi in _minus(window, pauses):
            total += hi - lo
    return total.total_seconds() / 60


def deadline(start, minutes: float, hours: BusinessHours | None, pauses=(), horizon_days=366):
    """When `minutes` of policy time will have passed since start (naive UTC)."""
    remaining = dt.timedelta(minutes=minutes)
    horizon = start + dt.timedelta(days=horizon_days)
    for window in _windows(start, horizon, hours):
        for lo, hi in _minus(window, pauses):
            if hi - lo >= remaining:
                return lo + remaining
            remaining -= hi - lo
    raise ValueError("no deadline within the horizon: the policy has no open hours")
