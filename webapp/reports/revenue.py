"""MRR per month with its movements, and churn, from the revenue-movement ledger.

Two statements per report, whatever the size: the opening balance (sums per currency and cycle
of every row before the first month) and the rows in the range grouped by day, currency, cycle
and kind; both read the ledger's covering index. Folding them into months is pure Python
(fold_mrr, fold_churn), over at most a few thousand groups.

MRR on a day is the overview's figure: per currency, each cycle's summed per-cycle amounts as
a monthly equivalent (lifecycle.billing.mrr). A month's closing is its MRR on its last day, or
on today for the month under way; rows dated after today (a cancellation at term end) have not
happened yet and are left out. Months are calendar months of the billing dates (UTC dates).
"""

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from webapp.billing.models import BillingAdjustment, RevenueMovement
from webapp.clock import today as clock_today
from webapp.extensions import db
from webapp.lifecycle.billing import CENT, mrr
from webapp.lifecycle.revenue import MovementKind as K
from webapp.services.queries import of_client

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class MrrMonth:
    month: dt.date  # the 1st
    currency: str
    opening: Decimal
    new: Decimal
    expansion: Decimal
    resumed: Decimal
    contraction: Decimal  # as a positive amount taken off
    churned: Decimal  # as a positive amount taken off
    closing: Decimal
    earned: Decimal | None  # the month's MRR weighted by calendar days; None until it is over
    adjustments: Decimal  # price-change adjustments dated in the month (signed)


@dataclass(frozen=True)
class ChurnMonth:
    month: dt.date
    services_churned: int
    services_at_start: int
    service_rate: Decimal | None  # None when no service was billing at the start
    revenue_rate: dict[str, Decimal | None]  # churned / opening, per currency
    net_rate: dict[str, Decimal | None]  # (churned + contraction - expansion - resumed) / opening


@dataclass(frozen=True)
class Ledger:
    """The query results the folds work on: plain values, no ORM."""

    opening: dict[tuple[str, str], tuple[Decimal, int]]  # (currency, cycle) -> (amount, services)
    rows: list[tuple[dt.date, str, str, str, Decimal, int]]  # day, currency, cycle, kind, ...


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first days of the months from `first`'s to `last`'s, both included (the days of
    `first` and `last` do not count; none when `first`'s month is after `last`'s). Every
    report's months, the health and SLA figures' too."""
    month, end = first.replace(day=1), last.replace(day=1)
    months = []
    while month <= end:
        months.append(month)
        if month == end:
            break  # not one month further: after December 9999 there is none
        month += relativedelta(months=1)
    return months


def mrr_months(
    company_id: int,
    first: dt.date,
    last: dt.date,
    client_id: int | None = None,
    today: dt.date | None = None,
) -> dict[str, list[MrrMonth]]:
    """Currency -> one MrrMonth per month from `first` to `last` (any day of each)."""
    today = today or clock_today()
    months = months_between(first, last)
    if not months:
        return {}
    ledger = read_ledger(company_id, months, today, client_id)
    adjustments = _adjustments(company_id, months, today, client_id)
    return fold_mrr(ledger, months, today, adjustments)


def churn_months(
    company_id: int,
    first: dt.date,
    last: dt.date,
    client_id: int | None = None,
    today: dt.date | None = None,
) -> list[ChurnMonth]:
    today = today or clock_today()
    months = months_between(first, last)
    if not months:
        return []
    ledger = read_ledger(company_id, months, today, client_id)
    return fold_churn(ledger, months, today, fold_mrr(ledger, months, today, {}))


def mrr_on(company_id: int, day: dt.date, client_id: int | None = None) -> dict[str, Decimal]:
    """MRR per currency on `day` from the ledger (on today: the overview's figure)."""
    ledger = read_ledger(company_id, [day + dt.timedelta(days=1)], day, client_id)
    by_currency: dict[str, dict] = defaultdict(dict)
    for (currency, cycle), (amount, _) in ledger.opening.items():
        by_currency[currency][cycle] = amount
    totals = {currency: mrr(by_currency[currency]) for currency in sorted(by_currency)}
    return {currency: total for currency, total in totals.items() if total}


def read_ledger(
    company_id: int, months: list[dt.date], today: dt.date, client_id: int | None = None
) -> Ledger:
    m = RevenueMovement
    scope = [m.company_id == company_id]
    if client_id is not None:
        scope.append(m.client_id == client_id)
    # Everything before the first month (and nothing after today) is the opening balance.
    cut = min(months[0], today + dt.timedelta(days=1))
    until = min(_month_end(months[-1]), today)
    opening = {
        (currency, str(cycle)): (_money(amount), int(services))
        for currency, cycle, amount, services in db.session.execute(
            select(m.currency, m.cycle, func.sum(m.amount), func.sum(m.services))
            .where(*scope, m.effective_on < cut)
            .group_by(m.currency, m.cycle)
        )
    }
    rows = []
    if until >= months[0]:
        rows = [
            (day, currency, str(cycle), kind, _money(amount), int(services))
            for day, currency, cycle, kind, amount, services in db.session.execute(
                select(
                    m.effective_on,
                    m.currency,
                    m.cycle,
                    m.kind,
                    func.sum(m.amount),
                    func.sum(m.services),
                )
                .where(*scope, m.effective_on >= months[0], m.effective_on <= until)
                .group_by(m.effective_on, m.currency, m.cycle, m.kind)
                .order_by(m.effective_on)
            )
        ]
    return Ledger(opening, rows)


def _adjustments(company_id, months, today, client_id) -> dict[tuple[str, dt.date], Decimal]:
    a = BillingAdjustment
    query = select(a.effective_on, a.currency, func.sum(a.amount)).where(
        a.company_id == company_id,
        a.effective_on >= months[0],
        a.effective_on <= min(_month_end(months[-1]), today),
    )
    if client_id is not None:
        query = query.where(of_client(a.service_id, company_id, client_id))
    totals: dict[tuple[str, dt.date], Decimal] = defaultdict(lambda: ZERO)
    for day, currency, amount in db.session.execute(
        query.group_by(a.effective_on, a.currency)
    ).all():
        totals[(currency, day.replace(day=1))] += _money(amount)
    return totals


def fold_mrr(
    ledger: Ledger, months: list[dt.date], today: dt.date, adjustments: dict
) -> dict[str, list[MrrMonth]]:
    state: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for (currency, cycle), (amount, _) in ledger.opening.items():
        state[currency][cycle] += amount
    rows_by_month = defaultdict(list)
    for row in ledger.rows:
        rows_by_month[row[0].replace(day=1)].append(row)
    currencies = sorted(
        {c for c, cycles in state.items() if any(cycles.values())}
        | {row[1] for row in ledger.rows}
        | {currency for currency, _ in adjustments}
    )
    result = {}
    for currency in currencies:
        amounts = state[currency]
        result[currency] = []
        for month in months:
            rows = [r for r in rows_by_month[month] if r[1] == currency]
            result[currency].append(_fold_month(month, currency, amounts, rows, today, adjustments))
    return result


def _fold_month(month, currency, amounts, rows, today, adjustments) -> MrrMonth:
    """One month of one currency; `amounts` (cycle -> per-cycle amount) is moved to its end."""
    opening = mrr(amounts)
    by_kind: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    by_day = defaultdict(list)
    for day, _, cycle, kind, amount, _ in rows:
        by_kind[kind][cycle] += amount
        by_day[day].append((cycle, amount))
    last_day = _month_end(month)
    complete = last_day < today
    earned_sum = ZERO
    day = month
    while day <= last_day:
        for cycle, amount in by_day.get(day, ()):
            amounts[cycle] += amount  # a movement is in force on its own date
        earned_sum += mrr(amounts)
        day += dt.timedelta(days=1)
    days = calendar.monthrange(month.year, month.month)[1]
    return MrrMonth(
        month=month,
        currency=currency,
        opening=opening,
        new=mrr(by_kind[K.NEW]),
        expansion=mrr(by_kind[K.EXPANSION]),
        resumed=mrr(by_kind[K.RESUMED]),
        contraction=-mrr(by_kind[K.CONTRACTION]),
        churned=-mrr(by_kind[K.CHURNED]),
        closing=mrr(amounts),
        earned=(earned_sum / days).quantize(CENT, ROUND_HALF_UP) if complete else None,
        adjustments=adjustments.get((currency, month), ZERO),
    )


def fold_churn(
    ledger: Ledger, months: list[dt.date], today: dt.date, by_currency: dict[str, list[MrrMonth]]
) -> list[ChurnMonth]:
    running = sum(services for _, services in ledger.opening.values())
    counts = defaultdict(lambda: [0, 0])  # month -> [ended, net change of services billing]
    for day, _, _, _, _, services in ledger.rows:
        month = counts[day.replace(day=1)]
        month[0] += -services if services < 0 else 0
        month[1] += services
    result = []
    for i, month in enumerate(months):
        ended, change = counts[month]
        revenue, net = {}, {}
        for currency, rows in by_currency.items():
            m = rows[i]
            revenue[currency] = _ratio(m.churned, m.opening)
            net[currency] = _ratio(m.churned + m.contraction - m.expansion - m.resumed, m.opening)
        result.append(ChurnMonth(month, ended, running, _ratio(ended, running), revenue, net))
        running += change
    return result


def _ratio(part, whole) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def _month_end(month: dt.date) -> dt.date:
    return _next_month(month) - dt.timedelta(days=1)


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
