"""What a service's recurring billing record should be, given the service as it is now.

Billing listeners do not apply one event blindly: deliveries can arrive twice or out of order when
several workers run. Each one instead reconciles the record to plan_billing(service facts), which
depends only on the service's current state, so any order of deliveries ends in the same record.

Billing is in advance: the first cycle is billed on activation, so the next bill date is one cycle
later. Days spent suspended push the next bill date back (they are not billed twice), and a stop
inside a cycle records the prorated final amount: days used / days in the cycle. The amount
follows the service's price until billing stops; a change of price or seats inside a period is
settled on the invoices, from its own event (webapp.lifecycle.invoicing).
"""

import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

from webapp.lifecycle.statuses import BillingCycle as C
from webapp.lifecycle.statuses import BillingStatus, ServiceStatus

CYCLE_STEP = {
    C.WEEKLY: relativedelta(weeks=1),
    C.MONTHLY: relativedelta(months=1),
    C.QUARTERLY: relativedelta(months=3),
    C.SEMI_ANNUAL: relativedelta(months=6),
    C.ANNUAL: relativedelta(years=1),
}

# Monthly equivalent of one cycle's price, for MRR.
MONTHLY_FACTOR = {
    C.WEEKLY: Decimal(52) / Decimal(12),
    C.MONTHLY: Decimal(1),
    C.QUARTERLY: Decimal(1) / Decimal(3),
    C.SEMI_ANNUAL: Decimal(1) / Decimal(6),
    C.ANNUAL: Decimal(1) / Decimal(12),
    C.ONE_TIME: Decimal(0),
}

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ServiceFacts:
    """The parts of a service that billing follows."""

    status: ServiceStatus
    version: int
    price: Decimal
    currency: str
    cycle: C
    activated_on: dt.date | None
    term_end: dt.date | None
    paused_since: dt.date | None  # set while suspended (and kept if cancelled while suspended)
    paused_days: int  # days spent suspended in past, finished suspensions
    stop_on: dt.date | None  # cancellation effective date or expiry date
    # The first bill date when it is not one cycle after activation: an imported service's
    # next bill date as the old tool had it (its billing record keeps it from then on).
    billing_from: dt.date | None = None


@dataclass(frozen=True)
class BillingPlan:
    status: BillingStatus
    amount: Decimal
    currency: str
    cycle: C
    next_bill_date: dt.date
    term_end: dt.date | None
    paused_since: dt.date | None
    credited_pause_days: int
    ends_on: dt.date | None
    stopped_on: dt.date | None
    final_amount: Decimal | None
    service_version: int


def add_cycles(day: dt.date, cycle: C, n: int = 1) -> dt.date:
    return day + CYCLE_STEP[C(cycle)] * n


def monthly_equivalent(amount: Decimal, cycle: C) -> Decimal:
    # A cycle is a StrEnum: its value finds the factor too, without C(cycle) (slow: called
    # once per service in the reports).
    factor = MONTHLY_FACTOR.get(cycle)
    if factor is None:
        factor = MONTHLY_FACTOR[C(cycle)]
    return (amount * factor).quantize(CENT, ROUND_HALF_UP)


def mrr(amounts_by_cycle) -> Decimal:
    """Monthly recurring revenue of per-cycle amounts summed by cycle ({cycle: amount}).

    Rounded per cycle, as the overview has always shown it: the one rule the overview and the
    reports share, so their figures cannot drift apart by a cent."""
    return sum(
        (monthly_equivalent(Decimal(amount), cycle) for cycle, amount in amounts_by_cycle.items()),
        Decimal("0.00"),
    )


def billing_anchor(facts: ServiceFacts) -> dt.date:
    """The bill date cycles are counted from: one cycle after activation (or an imported
    service's given next bill date), moved back by the days spent in finished suspensions
    (those days are not billed)."""
    first = facts.billing_from or add_cycles(facts.activated_on, facts.cycle)
    return first + dt.timedelta(days=facts.paused_days)


def cycle_around(anchor: dt.date, cycle: C, day: dt.date) -> tuple[dt.date, dt.date]:
    """The billing cycle [start, end) holding `day`, counting cycles from `anchor`."""
    period_end = anchor
    while day >= period_end:
        period_end = add_cycles(period_end, cycle)
    period_start = add_cycles(period_end, cycle, -1)
    while day < period_start:
        period_end, period_start = period_start, add_cycles(period_start, cycle, -1)
    return period_start, period_end


def prorated_amount(amount: Decimal, cycle: C, next_bill_date: dt.date, used_until: dt.date):
    """The share of one cycle's amount used from the start of the cycle holding `used_until`."""
    period_start, period_end = cycle_around(next_bill_date, cycle, used_until)
    days_in_cycle = (period_end - period_start).days
    days_used = (used_until - period_start).days
    return (amount * days_used / days_in_cycle).quantize(CENT, ROUND_HALF_UP)


def plan_billing(facts: ServiceFacts, current: BillingPlan | None, today: dt.date):
    """The billing record `facts` call for, or None when the service has none."""
    if facts.activated_on is None or facts.cycle == C.ONE_TIME:
        return None
    if current is None:
        current = BillingPlan(
            status=BillingStatus.ACTIVE,
            amount=facts.price,
            currency=facts.currency,
            cycle=facts.cycle,
            next_bill_date=add_cycles(facts.activated_on, facts.cycle),
            term_end=facts.term_end,
            paused_since=None,
            credited_pause_days=0,
            ends_on=None,
            stopped_on=None,
            final_amount=None,
            service_version=facts.version,
        )
    if current.status == BillingStatus.STOPPED:
        # The final amount is computed: the record no longer follows the service.
        return replace(current, service_version=max(current.service_version, facts.version))

    # Finished suspensions move the next bill date back by the days not served.
    plan = replace(
        current,
        amount=facts.price,
        next_bill_date=billing_anchor(facts),
        credited_pause_days=facts.paused_days,
        term_end=facts.term_end,
        paused_since=facts.paused_since,
        service_version=max(current.service_version, facts.version),
        status=BillingStatus.PAUSED if facts.paused_since else BillingStatus.ACTIVE,
    )
    ending = facts.status in (ServiceStatus.CANCELLED, ServiceStatus.EXPIRED)
    if not ending:
        return replace(plan, ends_on=None)
    if facts.stop_on > today:
        return replace(plan, ends_on=facts.stop_on)
    used_until = min(facts.paused_since or facts.stop_on, facts.stop_on)
    return replace(
        plan,
        status=BillingStatus.STOPPED,
        ends_on=facts.stop_on,
        stopped_on=facts.stop_on,
        final_amount=prorated_amount(plan.amount, plan.cycle, plan.next_bill_date, used_until),
    )
