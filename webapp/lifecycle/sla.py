"""SLA policies and the SLA clock: how many minutes of the policy's hours have passed.

A policy runs either around the clock (24x7) or in the company's business hours: a weekly
schedule of local opening times in the company's time zone. Local times are turned into UTC
day by day with zoneinfo, so a daylight-saving change moves the window, not its length;
around the clock, a 23-hour day counts 23 hours. Suspensions are given as intervals during
which the clock is paused. All times in and out are naive UTC datetimes, as stored.
"""

import dataclasses
import datetime as dt
import functools
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


def targets_with(defaults: SlaTargets, **overrides) -> SlaTargets:
    """The level's defaults with the service's own values where it has them."""
    return dataclasses.replace(defaults, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "UTC"
    # weekday -> (opens, closes) in local time; a day not listed is closed. A closing time at
    # or before the opening time is on the next day: (22:00, 06:00) is a night shift, and
    # (00:00, 00:00) the whole day.
    week: dict[int, tuple[dt.time, dt.time]] = field(
        default_factory=lambda: {d: (dt.time(8), dt.time(18)) for d in range(5)}
    )

    def to_json(self) -> dict:
        return {
            str(day): [opens.strftime("%H:%M"), closes.strftime("%H:%M")]
            for day, (opens, closes) in sorted(self.week.items())
        }

    @classmethod
    def from_json(cls, timezone: str, week: dict | None) -> "BusinessHours":
        """Raises ValueError for a day other than 0-6 or a time that is not HH:MM."""
        if week is None:
            return cls(timezone)
        parsed = {}
        for day, (opens, closes) in week.items():
            if int(day) not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday (0 is Monday, 6 is Sunday)")
            parsed[int(day)] = (_local_time(opens), _local_time(closes))
        return cls(timezone, parsed)


def _local_time(text: str) -> dt.time:
    # "24:00" closes at the end of the day: midnight, which (being <= the opening) is the next day.
    return dt.time(0) if text == "24:00" else dt.time.fromisoformat(text)


def _windows(start: dt.datetime, end: dt.datetime, hours: BusinessHours | None):
    """The UTC intervals of counted time that overlap [start, end)."""
    if hours is None:  # around the clock
        yield start, end
        return
    zone = ZoneInfo(hours.timezone)
    local_day = start.replace(tzinfo=UTC).astimezone(zone).date() - dt.timedelta(days=1)
    last_day = end.replace(tzinfo=UTC).astimezone(zone).date()
    reach = start  # overlapping windows (a night shift into the next day's hours) count once
    while local_day <= last_day:
        if local_day.weekday() in hours.week:
            opens, closes = hours.week[local_day.weekday()]
            w_start, w_end = _day_window(hours.timezone, local_day, opens, closes)
            lo, hi = max(w_start, reach), min(w_end, end)
            if lo < hi:
                yield lo, hi
                reach = hi
        local_day += dt.timedelta(days=1)


@functools.lru_cache(maxsize=8192)
def _day_window(timezone: str, local_day: dt.date, opens: dt.time, closes: dt.time):
    """A day's business hours in UTC. Cached: a list of incidents asks for the same few
    days hundreds of times, and each time zone conversion looks up the zone's rules."""
    zone = ZoneInfo(timezone)
    closing_day = local_day + dt.timedelta(days=1) if closes <= opens else local_day
    return (
        _utc(dt.datetime.combine(local_day, opens, zone)),
        _utc(dt.datetime.combine(closing_day, closes, zone)),
    )


def _utc(local: dt.datetime) -> dt.datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


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
    """When `minutes` of policy time will have passed since start (naive UTC).

    None when that time never comes within the horizon: the clock is paused with no end in
    sight (a suspension still in force), or the policy has no open hours."""
    remaining = dt.timedelta(minutes=minutes)
    horizon = start + dt.timedelta(days=horizon_days)
    for window in _windows(start, horizon, hours):
        for lo, hi in _minus(window, pauses):
            if hi - lo >= remaining:
                return lo + remaining
            remaining -= hi - lo
    return None


# --- Incidents against a policy -------------------------------------------------------------

RESPONSE, RESOLUTION = "response", "resolution"
WARNING, BREACH = "warning", "breach"
FOREVER = dt.datetime(9999, 1, 1)


@dataclass(frozen=True)
class IncidentTimes:
    opened_at: dt.datetime
    responded_at: dt.datetime | None = None  # the first response (acknowledged)
    resolved_at: dt.datetime | None = None

    def stopped(self, kind: str) -> dt.datetime | None:
        # Resolving an incident is also its first response (whichever came first counts).
        if kind == RESPONSE:
            answers = [t for t in (self.responded_at, self.resolved_at) if t is not None]
            return min(answers, default=None)
        return self.resolved_at


@dataclass(frozen=True)
class Mark:
    kind: str  # RESPONSE or RESOLUTION
    level: str  # WARNING or BREACH
    at: dt.datetime | None  # None: not reachable while the clock is paused


@dataclass(frozen=True)
class Verdict:
    due: list[Mark]  # reached now, not yet recorded; a warning is left out when its breach is due
    passed: list[Mark]  # reached but not worth an event: the warning of a breach due together
    next_check: dt.datetime | None  # when the next pending mark falls due, if any


def marks(times: IncidentTimes, targets: SlaTargets, hours, pauses=()) -> list[Mark]:
    """The four points of an incident's SLA: a warning and a breach for response and resolution.

    `pauses` are (start, end) intervals with end None for a suspension still in force."""
    clock = None if targets.around_the_clock else hours
    closed = [(lo, hi or FOREVER) for lo, hi in pauses]
    # A year of policy time past the opening, plus however long the clock stood still.
    horizon = 366 + sum((hi - lo).days for lo, hi in pauses if hi is not None)
    result = []
    for kind, minutes in (
        (RESPONSE, targets.response_minutes),
        (RESOLUTION, targets.resolution_minutes),
    ):
        warn = minutes * targets.warning_percent / 100
        for level, limit in ((WARNING, warn), (BREACH, minutes)):
            at = deadline(times.opened_at, limit, clock, closed, horizon_days=horizon)
            result.append(Mark(kind, level, at))
    return result


def evaluate(
    times: IncidentTimes,
    targets: SlaTargets,
    hours,
    pauses,
    now: dt.datetime,
    recorded: frozenset[tuple[str, str]] = frozenset(),
) -> Verdict:
    """Which marks have been reached and not yet recorded, and when to look again.

    A mark is reached when its time passed before the clock stopped (the first response for
    response, resolution for both), or, while the clock still runs, before now: an answer at
    the very minute of the target is in time. `recorded` holds the (kind, level) pairs already
    recorded, so each is reported once. A warning goes unannounced (passed) when its breach is
    due with it or its clock has stopped: nobody needs telling to hurry then."""
    due, passed, pending = [], [], []
    for mark in marks(times, targets, hours, pauses):
        if (mark.kind, mark.level) in recorded or mark.at is None:
            continue
        stopped = times.stopped(mark.kind)
        if mark.at >= (stopped or now):
            if stopped is None:
                pending.append(mark.at)
            continue
        due.append(mark)
    breaches = {m.kind for m in due if m.level == BREACH}
    passed = [
        m
        for m in due
        if m.level == WARNING and (m.kind in breaches or times.stopped(m.kind) is not None)
    ]
    due = [m for m in due if m not in passed]
    return Verdict(due, passed, min(pending) if pending else None)
