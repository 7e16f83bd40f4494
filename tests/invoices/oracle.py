"""An independent oracle for DESIGN.md "Invoicing": what one service's invoice lines must add up
to, worked out day by day from the service's history alone.

It never asks the app (webapp/lifecycle/invoicing.py, webapp/invoices/bill_run.py) anything: it
follows the rules' one sentence, "every served day is billed once, at the unit price x quantity
in force on that day, in advance", with the periods the rules define:

- nominal period k starts at anchor + k cycles (weekly: 7 days; otherwise calendar months
  counted from the anchor, not chained, the day clamped to the month's end) and lasts
  nominal(k+1) - nominal(k) days, its "days in the period";
- a period is that many served (not suspended) days: suspended days push its end and every later
  start, and a period never starts while the service is suspended;
- a change of price or quantity counts from its own day, or from the resume day when made while
  suspended;
- the stop day is the first day not served: the day of a cancellation now, the day fixed when a
  cancellation at term end was scheduled, or the day the suspension began when the service is
  suspended as it stops; no period starting on or after it is charged;
- one-time services: price x quantity once; a setup fee goes with the first period (or the
  one-time charge).

The expected total after a bill run on date R: for every period that started on or before R
(and before the stop day), each of its days is worth (unit price x quantity in force on the day
it is served) / days in the period, and a day after the stop is worth nothing (it was credited).
Days of a period still to come after R are valued as the rules bill them in advance:

(a) while a cancellation at term end is only scheduled (its day not come yet), the period is
    charged in full; the credit comes with the cancellation itself (ServiceCancelled on its day).
(b) a service suspended on R keeps the paid days left in its current period (no credit line);
    they are valued at the price x quantity in force on R, so a change made during the
    suspension still running is not billed yet: it counts from a resume day that has not come,
    and a stop while suspended would make it never count at all (the credit is at the price in
    force on the suspension's first day).
(c) one-time: price x quantity in force on the activation day, as known when the first bill
    run on or after activation runs (a change made that day before the run counts); later
    changes, suspensions and cancellations change nothing (no adjustment, no credit later).
(d) the setup fee (not multiplied by the quantity) is billed with the first period's line, so
    not at all when that period is never charged (cancelled on its activation day).

Amounts are exact Fractions; the app rounds each line to the cent, so a sum of n lines may
differ from this by at most n x 0.005.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from dateutil.relativedelta import relativedelta

MONTHS = {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}
DAY = dt.timedelta(days=1)


def nominal_start(anchor: dt.date, cycle: str, k: int) -> dt.date:
    """Nominal period k's first day: counted from the anchor each time, never chained, so a
    Jan 31 anchor gives Feb 28 (or 29) and then Mar 31."""
    if cycle == "weekly":
        return anchor + dt.timedelta(days=7 * k)
    return anchor + relativedelta(months=MONTHS[cycle] * k)


def nominal_length(anchor: dt.date, cycle: str, k: int) -> int:
    return (nominal_start(anchor, cycle, k + 1) - nominal_start(anchor, cycle, k)).days


@dataclass(frozen=True)
class Step:
    """One thing that happened to the service, in the order it happened.

    kind: suspend, resume, price (value: Decimal unit price), quantity (value: int), renew,
    cancel_now, schedule (value: the stop day fixed now), undo, cancel_due (the scheduler's
    cancellation on the scheduled day), run (a bill run; value: its date)."""

    day: dt.date
    kind: str
    value: object = None


@dataclass
class History:
    activated: dt.date
    cycle: str
    price: Decimal
    quantity: int = 1
    setup_fee: Decimal = Decimal(0)
    steps: list[Step] = field(default_factory=list)


@dataclass
class _Change:
    field: str  # "price" or "quantity"
    value: object
    order: int
    effective: dt.date | None  # None: made in a suspension that has not ended


@dataclass
class _Pause:
    start: dt.date
    end: dt.date | None  # exclusive (the resume day); None: still suspended


@dataclass
class Facts:
    """The history read once: suspensions, changes with their effective days, stop day."""

    pauses: list[_Pause]
    changes: list[_Change]
    stop: dt.date | None
    last_run: dt.date | None
    first_run_terms: tuple[Fraction, int] | None  # one-time: what the first run charges

    def suspended(self, day: dt.date) -> bool:
        return any(p.start <= day and (p.end is None or day < p.end) for p in self.pauses)

    def terms(self, h: History, day: dt.date) -> tuple[Fraction, int]:
        """Unit price and quantity in force on `day`."""
        price, quantity = Fraction(h.price), h.quantity
        done = sorted(
            (c for c in self.changes if c.effective is not None and c.effective <= day),
            key=lambda c: (c.effective, c.order),
        )
        for c in done:
            if c.field == "price":
                price = Fraction(c.value)
            else:
                quantity = c.value
        return price, quantity


def read(h: History, up_to_run: int | None = None) -> Facts:
    """The facts of the history up to its last bill run (or its `up_to_run`-th, from 0)."""
    runs = [i for i, s in enumerate(h.steps) if s.kind == "run"]
    if up_to_run is not None:
        runs = runs[: up_to_run + 1]
    steps = h.steps[: runs[-1] + 1] if runs else []
    pauses: list[_Pause] = []
    changes: list[_Change] = []
    pending: list[_Change] = []  # made in the suspension running now
    stop = None
    first_run_terms = None
    last_run = None
    for order, s in enumerate(steps):
        suspended = bool(pauses) and pauses[-1].end is None
        if s.kind == "suspend":
            assert not suspended and stop is None
            pauses.append(_Pause(s.day, None))
        elif s.kind == "resume":
            assert suspended and stop is None
            pauses[-1].end = s.day
            for c in pending:
                c.effective = s.day
            pending = []
        elif s.kind in ("price", "quantity"):
            assert stop is None
            change = _Change(s.kind, s.value, order, None if suspended else s.day)
            changes.append(change)
            if suspended:
                pending.append(change)
        elif s.kind in ("cancel_now", "cancel_due"):
            assert stop is None
            # cancel_due happens on the scheduled day itself, so "now" is that day.
            stop = pauses[-1].start if suspended else s.day
        elif s.kind == "run":
            last_run = s.value
            if first_run_terms is None and s.value >= h.activated:
                # One-time: as in force on the activation day, as known now.
                known = Facts(pauses, list(changes), stop, None, None)
                first_run_terms = known.terms(h, h.activated)
        # renew, schedule, undo: no billing effect until a cancellation takes effect.
    return Facts(pauses, changes, stop, last_run, first_run_terms)


@dataclass(frozen=True)
class Period:
    index: int
    start: dt.date
    days: int  # days in the period (nominal length)
    value: Fraction


def periods(h: History, up_to_run: int | None = None) -> list[Period]:
    """The periods charged by the last run (or the `up_to_run`-th), each with what its days are
    worth then.

    Run by run, as the app meets them: a period that had started at a run was charged then and
    keeps that first day, also when the service is suspended or stopped later that same day
    (it then carries over whole, or is credited whole)."""
    count = sum(1 for s in h.steps if s.kind == "run")
    last = count - 1 if up_to_run is None else min(up_to_run, count - 1)
    if last < 0 or h.cycle == "one_time":
        return []
    started: dict[int, dt.date] = {}
    for j in range(last + 1):
        charged = _periods(h, read(h, j), started)
        started.update((p.index, p.start) for p in charged)
    return charged


def _periods(h: History, f: Facts, started: dict[int, dt.date]) -> list[Period]:
    charged = []
    t = h.activated
    k = 0
    while True:
        length = nominal_length(h.activated, h.cycle, k)
        start = started.get(k) or _first_served_from(f, t)
        if k not in started and (
            start is None or start > f.last_run or (f.stop is not None and start >= f.stop)
        ):
            return charged
        value = Fraction(0)
        slots, d, carried = 0, start, False
        while slots < length:
            if f.suspended(d):
                if f.pauses[-1].end is None and d >= f.pauses[-1].start:
                    carried = True  # suspended still: the rest of the paid days wait
                    break
                d += DAY
                continue
            if f.stop is None or d < f.stop:
                price, quantity = f.terms(h, d)
                value += price * quantity / length
            slots += 1
            d += DAY
        if carried and f.stop is None:
            price, quantity = f.terms(h, f.last_run)
            value += price * quantity * (length - slots) / length
        charged.append(Period(k, start, length, value))
        if carried:
            return charged
        t = d
        k += 1


def _first_served_from(f: Facts, day: dt.date) -> dt.date | None:
    """The first day on or after `day` not suspended (None: suspended from then on)."""
    while f.suspended(day):
        if f.pauses[-1].end is None and day >= f.pauses[-1].start:
            return None
        day += DAY
    return day


def expected_total(h: History, up_to_run: int | None = None) -> Fraction:
    """What all the service's lines (charges, adjustments, credits, setup) add up to after its
    last bill run (or its `up_to_run`-th)."""
    f = read(h, up_to_run)
    if h.cycle == "one_time":
        if f.first_run_terms is None:
            return Fraction(0)
        price, quantity = f.first_run_terms
        return price * quantity + Fraction(h.setup_fee)
    charged = periods(h, up_to_run)
    total = sum((p.value for p in charged), Fraction(0))
    if charged:
        total += Fraction(h.setup_fee)
    return total


def period_starts(h: History, up_to_run: int | None = None) -> list[dt.date]:
    """The first days of the periods charged by then (the app's period lines' period_start)."""
    return [p.start for p in periods(h, up_to_run)]
