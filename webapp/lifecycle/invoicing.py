"""What a service owes, line by line: DESIGN.md's invoicing rules as pure functions.

Billing is in advance, per service, on its own anniversary: every served day is billed once, at
the unit price x quantity in force on that day. due_lines() looks at one service's history (its
terms, suspensions, changes and stop) and at what is billed already, and says which lines a bill
run on a given date adds: the periods started and not yet charged, the setup fee, the adjustments
of price and quantity changes, and the credit for the paid days after a stop.

Periods are counted in served days: period k covers the next `length(k)` days the service is not
suspended, starting on the first served day after period k-1, where length(k) is its nominal
length (nominal start k+1 minus nominal start k, months counted from the anchor, not chained).
That one rule gives all of DESIGN.md's: suspended days inside a period push its end and every
later start by their number, and no period starts while the service is suspended.

Nothing here reads the database or the clock: webapp.invoices.bill_run gathers the history.
"""

import calendar
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from webapp.lifecycle.statuses import BillingCycle as C

CENT = Decimal("0.01")
MONTHS = {C.MONTHLY: 1, C.QUARTERLY: 3, C.SEMI_ANNUAL: 6, C.ANNUAL: 12}

PERIOD, SETUP, ONCE, ADJUSTMENT, CREDIT = "period", "setup", "once", "adjustment", "credit"


def cents(amount) -> Decimal:
    """Rounded to the cent, half away from zero (EN 16931): every line, tax and price."""
    return Decimal(amount).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Rate:
    """Unit price and quantity from a change on; the first rate is what the service started
    with. `version` is the service's version after the change: the order changes became
    known in, compared with the version a period's line was priced at."""

    made_on: dt.date
    unit_price: Decimal
    quantity: int
    version: int
    event_id: int | None = None  # None: the terms the service started with

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Pause:
    """Days [start, end) not served; end is the resume day, None while still suspended."""

    start: dt.date
    end: dt.date | None


@dataclass(frozen=True)
class Stop:
    """The first day not served (for a service suspended when it stopped, the day its
    suspension began), and the event that stopped it."""

    day: dt.date
    event_id: int | None  # None for a stop recorded without its event (old or bulk data)

    @property
    def key(self) -> str:
        return f"event:{self.event_id}" if self.event_id is not None else "stop"


@dataclass(frozen=True)
class History:
    service_id: int
    cycle: C
    anchor: dt.date  # the first period's start: activation day, or an import's next bill date
    version: int  # the service's version this history was read at
    rates: tuple[Rate, ...]  # in version order; rates[0] are the starting terms
    pauses: tuple[Pause, ...] = ()
    stop: Stop | None = None
    # No period starting on or after this day is charged (yet): the day a scheduled
    # cancellation takes effect, or the end of a term that will not renew by itself.
    bound: dt.date | None = None
    setup_fee: Decimal = Decimal(0)
    # Periods starting before this day were billed by the tool used before (the company's
    # invoicing start, or an imported one-time service): none is charged here, and no change
    # or stop inside one is settled here.
    outside_before: dt.date | None = None

    def outside(self, start: dt.date) -> bool:
        return self.outside_before is not None and start < self.outside_before


@dataclass(frozen=True)
class Billed:
    """What earlier runs billed for the service."""

    periods_charged: int = 0
    settled_version: int = 0  # changes up to this version need no look
    keys: frozenset[str] = frozenset()  # billing keys of its event lines ("event:<id>")
    # The version each charged period's line was priced at, by period start; needed only for
    # the periods that unsettled changes fall in.
    line_versions: Mapping[dt.date, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    kind: str
    key: str
    amount: Decimal  # signed, rounded to the cent
    unit_price: Decimal
    quantity: int
    period_start: dt.date | None = None
    period_end: dt.date | None = None  # exclusive; None while a suspension holds it open
    event_id: int | None = None
    days: int | None = None  # of an adjustment or credit: the days it is for
    of_days: int | None = None  # ... out of the period's length
    old_amount: Decimal | None = None  # an adjustment's rate before the change


@dataclass(frozen=True)
class Outcome:
    lines: tuple[Line, ...]
    periods_charged: int
    next_bill_date: dt.date | None  # the next period's start; None when it cannot be known
    paid_through: dt.date | None  # the last day the charged periods cover
    settled_version: int
    done: bool  # nothing can ever be due again


@dataclass(frozen=True)
class Period:
    index: int
    start: dt.date
    end: dt.date | None  # exclusive; None while a suspension inside it goes on
    length: int  # days it bills: its nominal length


def nominal_start(anchor: dt.date, cycle: C, k: int) -> dt.date:
    if cycle == C.WEEKLY:
        return anchor + dt.timedelta(weeks=k)
    return _plus_months(anchor, MONTHS[cycle] * k)


def _plus_months(day: dt.date, months: int) -> dt.date:
    """dateutil's `day + relativedelta(months=months)`, at a tenth of its cost: the bill run
    counts every period of every service it looks at."""
    years, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def nominal_length(anchor: dt.date, cycle: C, k: int) -> int:
    return (nominal_start(anchor, cycle, k + 1) - nominal_start(anchor, cycle, k)).days


def nominal_index(anchor: dt.date, cycle: C, day: dt.date) -> int:
    """The nominal period `day` falls in (0 for a day before the anchor)."""
    if day <= anchor:
        return 0
    if cycle == C.WEEKLY:
        return (day - anchor).days // 7
    elapsed = (day.year - anchor.year) * 12 + day.month - anchor.month
    k = max(0, elapsed // MONTHS[cycle])
    while k and nominal_start(anchor, cycle, k) > day:
        k -= 1
    while nominal_start(anchor, cycle, k + 1) <= day:
        k += 1
    return k


class ServedDays:
    """Day arithmetic that skips suspended days."""

    def __init__(self, pauses: tuple[Pause, ...]):
        self.pauses = sorted((p for p in pauses if p.end is None or p.end > p.start), key=_start)

    def first_from(self, day: dt.date) -> dt.date | None:
        """The first served day on or after `day`; None if a suspension holds it open."""
        for p in self.pauses:
            if p.start <= day and (p.end is None or day < p.end):
                if p.end is None:
                    return None
                day = p.end
        return day

    def after(self, start: dt.date, n: int) -> dt.date | None:
        """The day after the n-th served day from `start` (a served day); None if a
        suspension that has not ended comes first."""
        day = start
        for p in self.pauses:
            if (p.end is not None and p.end <= day) or p.start < day:
                continue
            gap = (p.start - day).days
            if gap >= n:
                break
            n -= gap
            if p.end is None:
                return None
            day = p.end
        return day + dt.timedelta(days=n)

    def between(self, a: dt.date, b: dt.date) -> int:
        """Served days in [a, b)."""
        if b <= a:
            return 0
        days = (b - a).days
        for p in self.pauses:
            lo, hi = max(a, p.start), min(b, p.end or b)
            if hi > lo:
                days -= (hi - lo).days
        return days


def _start(p: Pause) -> dt.date:
    return p.start


def periods(h: History, served: ServedDays, first: int = 0) -> Iterator[Period]:
    """The service's periods in order, as far as they can be known (endless: stop early).

    From period `first` on when no suspension moved them (each is then its nominal period:
    a daily run looks at a service's last period or two, not at its years of history);
    from the first period otherwise, the suspended days counted along the way."""
    if not served.pauses:
        k, start = first, nominal_start(h.anchor, h.cycle, first)
        while True:
            end = nominal_start(h.anchor, h.cycle, k + 1)
            yield Period(k, start, end, (end - start).days)
            start, k = end, k + 1
    start, k = served.first_from(h.anchor), 0
    while start is not None:
        length = nominal_length(h.anchor, h.cycle, k)
        end = served.after(start, length)
        yield Period(k, start, end, length)
        if end is None:
            return
        start, k = served.first_from(end), k + 1


def effective_day(rate: Rate, served: ServedDays) -> dt.date | None:
    """The day a change counts from: its own day, or, made while suspended, the resume day
    (None while the suspension goes on)."""
    return served.first_from(rate.made_on)


def rate_on(h: History, served: ServedDays, day: dt.date) -> Rate:
    """The rate in force on `day` as known at the history's version."""
    found = h.rates[0]
    for rate in h.rates[1:]:
        on = effective_day(rate, served)
        if on is None or on > day:
            break
        found = rate
    return found


def _chargeable(h: History, start: dt.date) -> bool:
    """Whether a period starting on `start` is ever to be charged, as things stand."""
    if h.stop is not None and start >= h.stop.day:
        return False
    return h.bound is None or start < h.bound


def due_lines(h: History, billed: Billed, run_date: dt.date) -> Outcome:
    """The lines a bill run on `run_date` adds for the service, and where it then stands."""
    served = ServedDays(h.pauses)
    if C(h.cycle) == C.ONE_TIME:
        return _one_time(h, billed, served, run_date)
    lines: list[Line] = []
    known: list[Period] = []  # from the first period anything below looks at
    charged = billed.periods_charged
    next_start = None
    for p in periods(h, served, _first_needed(h, billed, served)):
        if p.index < billed.periods_charged:
            known.append(p)
            continue
        if h.outside(p.start):
            charged = p.index + 1
            known.append(p)
            continue
        if p.start > run_date or not _chargeable(h, p.start):
            next_start = p.start if _chargeable(h, p.start) else None
            known.append(p)
            break
        rate = rate_on(h, served, p.start)
        lines.append(
            Line(
                PERIOD,
                f"period:{p.start.isoformat()}",
                cents(rate.amount),
                rate.unit_price,
                rate.quantity,
                p.start,
                p.end,
            )
        )
        if p.index == 0 and h.setup_fee:
            lines.append(Line(SETUP, "setup", cents(h.setup_fee), h.setup_fee, 1))
        charged = p.index + 1
        known.append(p)
    charged_periods = [p for p in known if p.index < charged]
    versions = {**billed.line_versions, **{ln.period_start: h.version for ln in lines}}
    pending: list[int] = []
    for group in _same_day_changes(h, billed, served):
        line = _adjustment(h, served, known, charged, versions, group)
        if line is None:
            continue
        if line == "pending":
            pending.append(h.rates[group[0]].version)
        else:
            lines.append(line)
    credit = _credit(h, served, billed, charged_periods)
    if credit is not None:
        lines.append(credit)
    last = charged_periods[-1] if charged_periods else None
    paid_through = last.end - dt.timedelta(days=1) if last and last.end else None
    return Outcome(
        lines=tuple(lines),
        periods_charged=charged,
        next_bill_date=next_start,
        paid_through=paid_through,
        settled_version=min(pending) - 1 if pending else h.version,
        done=h.stop is not None and not pending,
    )


def _same_day_changes(h: History, billed: Billed, served: ServedDays) -> list[list[int]]:
    """The unsettled changes, as runs of rate indexes that count from the same day: several
    changes of one day (seats added and retired, a price and a quantity) are one change, billed
    as one adjustment from the rate before the first to the rate after the last. A change a run
    has billed ends its day's run: it was one, alone or as the last of its day."""
    groups: list[list[int]] = []
    last_day = None
    for i, rate in enumerate(h.rates[1:], start=1):
        if rate.version <= billed.settled_version or rate.version > h.version:
            last_day = None
            continue
        on = effective_day(rate, served)
        if f"event:{rate.event_id}" in billed.keys:
            # Billed already; so were the changes of its day before it, merged into its line.
            if groups and on is not None and last_day == on and groups[-1][-1] == i - 1:
                groups.pop()
            last_day = None
            continue
        if groups and on is not None and on == last_day and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
        last_day = on
    return groups


def _first_needed(h: History, billed: Billed, served: ServedDays) -> int:
    """The first period due_lines looks at: the last one charged, or an earlier one that an
    unsettled change or the stop falls in."""
    first = max(0, billed.periods_charged - 1)
    if served.pauses:
        return 0  # walked from the first period anyway
    days = [
        rate.made_on
        for rate in h.rates[1:]
        if billed.settled_version < rate.version <= h.version
        and f"event:{rate.event_id}" not in billed.keys
    ]
    if h.stop is not None and h.stop.key not in billed.keys:
        days.append(h.stop.day)
    for day in days:
        first = min(first, nominal_index(h.anchor, h.cycle, day))
    return first


def billing_dates(h: History, periods_charged: int) -> tuple[dt.date | None, dt.date | None]:
    """(paid through, next bill date) as things stand: the last day the charged periods cover
    and the start of the first period not charged yet. Either is None when a suspension that
    goes on holds it open; the next bill date is None when no period is to come (a stop, a
    cancellation scheduled, a term that ends without renewing)."""
    served = ServedDays(h.pauses)
    if C(h.cycle) == C.ONE_TIME:
        return None, None if periods_charged or h.outside(h.anchor) else h.anchor
    paid_through = None
    for p in periods(h, served):
        if p.index < periods_charged or h.outside(p.start):
            paid_through = p.end - dt.timedelta(days=1) if p.end else None
            continue
        return paid_through, p.start if _chargeable(h, p.start) else None
    return paid_through, None


def _adjustment(h, served, known, charged, versions, group: list[int]):
    """The line settling the changes rates[group] (of one day), None when they change no
    charged day, or "pending" when that cannot be known yet."""
    rate = h.rates[group[-1]]
    on = effective_day(rate, served)
    if on is None:
        # Made while suspended: it counts from the resume day, which a stop during that
        # suspension means never comes.
        return None if h.stop is not None else "pending"
    if h.stop is not None and on >= h.stop.day:
        return None
    if on < h.anchor:
        # Before the first period (an import's next bill date still to come): every line is
        # priced at it, made by a run after it was known.
        return None
    period = next((p for p in known if p.start <= on and (p.end is None or on < p.end)), None)
    if period is None or period.index >= charged:
        # Its period is charged later, at the rate in force on its first day as then known:
        # settled then (or never charged: nothing to settle).
        start = period.start if period else on
        return "pending" if _chargeable(h, start) else None
    if h.outside(period.start):
        return None  # the tool before billed that period: its changes are its own
    if on == period.start:
        # The period's line was priced knowing the changes up to its version: settle the rest.
        group = [i for i in group if h.rates[i].version > versions.get(period.start, 0)]
        if not group:
            return None
    old = h.rates[group[0] - 1]
    days_left = period.length - served.between(period.start, on)
    amount = (rate.amount - old.amount) * days_left / period.length
    if not amount:
        return None
    return Line(
        ADJUSTMENT,
        f"event:{rate.event_id}",
        cents(amount),
        rate.unit_price,
        rate.quantity,
        on,
        period.end,
        event_id=rate.event_id,
        days=days_left,
        of_days=period.length,
        old_amount=old.amount,
    )


def _credit(h: History, served: ServedDays, billed: Billed, charged_periods) -> Line | None:
    """The credit for the paid days from the stop day on, once."""
    if h.stop is None or h.stop.key in billed.keys:
        return None
    rate = rate_on(h, served, h.stop.day)
    amount, days, length, first, last = Decimal(0), 0, None, None, None
    for p in charged_periods:
        if h.outside(p.start):
            continue  # not billed here: nothing to give back here
        unused = p.length - served.between(p.start, h.stop.day)
        if unused <= 0:
            continue
        amount += rate.amount * unused / p.length
        days, length = days + unused, (length or p.length)
        first, last = first or p, p
    if not days or not cents(amount):
        return None
    return Line(
        CREDIT,
        h.stop.key,
        -cents(amount),
        rate.unit_price,
        rate.quantity,
        h.stop.day,
        last.end,
        event_id=h.stop.event_id,
        days=days,
        of_days=length,
    )


def _one_time(h: History, billed: Billed, served: ServedDays, run_date: dt.date) -> Outcome:
    """Price x quantity once, on the first run on or after activation; no credit later."""
    if h.outside(h.anchor):
        return Outcome((), 1, None, None, h.version, True)  # billed by the tool before
    if billed.periods_charged or h.anchor > run_date:
        waiting = not billed.periods_charged
        return Outcome(
            (), billed.periods_charged, h.anchor if waiting else None, None, h.version, not waiting
        )
    rate = rate_on(h, served, h.anchor)
    lines = [Line(ONCE, "once", cents(rate.amount), rate.unit_price, rate.quantity, h.anchor)]
    if h.setup_fee:
        lines.append(Line(SETUP, "setup", cents(h.setup_fee), h.setup_fee, 1))
    return Outcome(tuple(lines), 1, None, None, h.version, True)
