"""The reports' health, SLA and risk figures: health bands by month, SLA breaches by month
and by client, and revenue at risk. Scoped by company (and optionally one client); each
figure is a few grouped statements on indexes, whatever the company's size.

Months are the company's own (local) calendar months: a breach at 00:30 on 1 April in London
is April's even though it was 31 March in UTC.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import case, func, literal, select

from webapp.clock import to_local, utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.health.history import live_totals
from webapp.health.models import HealthBandMonth
from webapp.incidents.models import Incident
from webapp.lifecycle.billing import monthly_equivalent
from webapp.lifecycle.sla import BREACH
from webapp.lifecycle.statuses import RUNNING, ServiceStatus
from webapp.reports.revenue import months_between
from webapp.services.models import Client, ClientService
from webapp.sla.tracking import MARK_COLUMNS

RISK_DAYS = 90

POOR_BELOW = 60  # poor and critical health (lifecycle.health.BAND_RANGES)

TERM_ENDING = "term ending"

POOR_HEALTH = "poor health"

CANCELLATION = "cancellation scheduled"

# Kind -> the incident's breach column (response first, then resolution).
BREACH_COLUMNS = {
    kind: getattr(Incident, column)
    for (kind, level), column in MARK_COLUMNS.items()
    if level == BREACH
}


def _timezone(company_id: int) -> str:
    return db.session.scalar(select(Company.timezone).where(Company.id == company_id)) or "UTC"


def _month_start_utc(month: dt.date, timezone: str) -> dt.datetime:
    """Local midnight on the month's first day, as naive UTC. Where the clocks skip midnight
    (a few zones change at 00:00) this is the moment the day began."""
    local = dt.datetime(month.year, month.month, 1, tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class BandMonth:
    month: dt.date
    healthy: int
    fair: int
    poor: int
    critical: int
    unscored: int
    live: bool = False  # the current month: the services' scores now, not a stored row


def band_months(
    company_id: int,
    first: dt.date,
    last: dt.date,
    client_id: int | None = None,
    today: dt.date | None = None,
) -> list[BandMonth]:
    """Running services per band, month by month up to the current one (`today`: the
    company's local date by default). Past months are the rows the nightly run stored (zeros
    where it did not run); the current month is live, the overview's own figure."""
    today = today or to_local(utcnow(), _timezone(company_id)).date()
    current = today.replace(day=1)
    months = [m for m in months_between(first, last) if m <= current]
    if not months:
        return []
    query = (
        select(
            HealthBandMonth.month,
            func.sum(HealthBandMonth.healthy),
            func.sum(HealthBandMonth.fair),
            func.sum(HealthBandMonth.poor),
            func.sum(HealthBandMonth.critical),
            func.sum(HealthBandMonth.unscored),
        )
        .where(
            HealthBandMonth.company_id == company_id,
            HealthBandMonth.month >= months[0],
            HealthBandMonth.month <= months[-1],
            HealthBandMonth.month < current,
        )
        .group_by(HealthBandMonth.month)
    )
    if client_id is not None:
        query = query.where(HealthBandMonth.client_id == client_id)
    stored = {month: [int(n or 0) for n in counts] for month, *counts in db.session.execute(query)}
    result = []
    for month in months:
        if month == current:
            result.append(BandMonth(month, **live_totals(company_id, client_id), live=True))
        else:
            result.append(BandMonth(month, *stored.get(month, [0] * 5)))
    return result


@dataclass(frozen=True)
class BreachMonth:
    month: dt.date
    response: int
    resolution: int

    @property
    def total(self) -> int:
        return self.response + self.resolution


@dataclass(frozen=True)
class ClientBreaches:
    client_id: int
    client_name: str
    response: int
    resolution: int

    @property
    def total(self) -> int:
        return self.response + self.resolution


def _breach_filters(company_id, column, start, end, client_id):
    filters = [
        Incident.company_id == company_id,
        column.is_not(None),  # the partial index's condition, said outright
        column >= start,
        column < end,
    ]
    if client_id is not None:
        # The client's services by the client_id index (the incidents' own company_id
        # keeps the tenancy): with company_id too, SQLite would read the whole company's.
        filters.append(
            Incident.service_id.in_(
                select(ClientService.id).where(ClientService.client_id == client_id)
            )
        )
    return filters


def breach_months(
    company_id: int, first: dt.date, last: dt.date, client_id: int | None = None
) -> list[BreachMonth]:
    """Breaches per company-local month, response and resolution counted apart (each at most
    once per incident). A breach is dated by its deadline, so one recorded late lands in the
    month it happened. One statement per kind on its partial index: the local month
    boundaries are turned into UTC here and the rows bucketed by a CASE over them (no
    dialect's date functions)."""
    timezone = _timezone(company_id)
    months = months_between(first, last)
    bounds = [
        _month_start_utc(m, timezone) for m in [*months, months[-1] + relativedelta(months=1)]
    ]
    counts = {kind: [0] * len(months) for kind in BREACH_COLUMNS}
    for kind, column in BREACH_COLUMNS.items():
        whens = [(column < b, i) for i, b in enumerate(bounds[1:-1])]
        bucket = case(*whens, else_=len(months) - 1) if whens else literal(0)
        rows = (
            select(bucket.label("bucket"))
            .where(*_breach_filters(company_id, column, bounds[0], bounds[-1], client_id))
            .subquery()
        )
        # Grouped outside: PostgreSQL will not match a GROUP BY expression whose bound
        # parameters differ from the select list's.
        for i, n in db.session.execute(select(rows.c.bucket, func.count()).group_by(rows.c.bucket)):
            counts[kind][int(i)] = n
    return [
        BreachMonth(month, counts["response"][i], counts["resolution"][i])
        for i, month in enumerate(months)
    ]


def breaches_by_client(
    company_id: int,
    first: dt.date,
    last: dt.date,
    client_id: int | None = None,
    limit: int | None = 10,
) -> list[ClientBreaches]:
    """Clients by their breaches in the months `first` to `last` (company-local), most first
    (then by name); `limit` None for all of them (the CSV)."""
    timezone = _timezone(company_id)
    start = _month_start_utc(first.replace(day=1), timezone)
    end = _month_start_utc(last.replace(day=1) + relativedelta(months=1), timezone)
    found: dict[int, dict] = {}
    for kind, column in BREACH_COLUMNS.items():
        for client, name, n in db.session.execute(
            select(ClientService.client_id, Client.name, func.count())
            .select_from(Incident)
            .join(ClientService, ClientService.id == Incident.service_id)
            .join(Client, Client.id == ClientService.client_id)
            .where(*_breach_filters(company_id, column, start, end, client_id))
            .group_by(ClientService.client_id, Client.name)
        ):
            row = found.setdefault(client, {"name": name, "response": 0, "resolution": 0})
            row[kind] = n
    rows = sorted(
        (ClientBreaches(c, r["name"], r["response"], r["resolution"]) for c, r in found.items()),
        key=lambda r: (-r.total, r.client_name, r.client_id),
    )
    return rows if limit is None else rows[:limit]


@dataclass(frozen=True)
class RiskRow:
    service_id: int
    service_name: str
    client_id: int
    client_name: str
    status: ServiceStatus
    reasons: tuple[str, ...]
    term_end: dt.date
    health_score: int | None
    mrr: Decimal  # monthly equivalent; 0 while suspended (it brings nothing in now)
    currency: str
    cancellation_effective_on: dt.date | None = None


@dataclass(frozen=True)
class AtRisk:
    rows: list[RiskRow]  # largest MRR first
    totals: dict[str, Decimal]  # per currency: each service once, whatever its reasons
    scheduled: list[RiskRow] = field(default_factory=list)  # revenue already leaving
    scheduled_totals: dict[str, Decimal] = field(default_factory=dict)


_RISK_COLUMNS = (
    ClientService.id,
    ClientService.name,
    ClientService.client_id,
    Client.name,
    ClientService.status,
    ClientService.term_end,
    ClientService.health_score,
    ClientService.price,
    ClientService.billing_cycle,
    ClientService.currency,
    ClientService.suspended_since,
    ClientService.cancellation_effective_on,
)


def revenue_at_risk(
    company_id: int, client_id: int | None = None, today: dt.date | None = None
) -> AtRisk:
    """Running services whose term ends within 90 days without auto-renew, or whose health is
    poor or critical (each listed once, with its reasons); and, on their own, cancellations
    that take effect later. Dates are billing's (UTC) dates, like the renewals page's."""
    today = today or utcnow().date()
    scope = [ClientService.company_id == company_id]
    if client_id is not None:
        scope.append(ClientService.client_id == client_id)
    base = select(*_RISK_COLUMNS).join(Client, Client.id == ClientService.client_id)
    running = [*scope, ClientService.status.in_(RUNNING)]
    reasons: dict[int, list[str]] = defaultdict(list)
    rows: dict[int, tuple] = {}
    for reason, condition in (
        (
            TERM_ENDING,
            [
                ClientService.term_end <= today + dt.timedelta(days=RISK_DAYS),
                ClientService.auto_renew.is_(False),
            ],
        ),
        (POOR_HEALTH, [ClientService.health_score < POOR_BELOW]),
    ):
        for row in db.session.execute(base.where(*running, *condition)):
            rows[row[0]] = row
            reasons[row[0]].append(reason)
    at_risk = [_risk_row(row, reasons[sid]) for sid, row in rows.items()]
    scheduled = [
        _risk_row(row, [CANCELLATION])
        for row in db.session.execute(
            base.where(
                *scope,
                ClientService.status == ServiceStatus.CANCELLED,
                ClientService.cancellation_effective_on > today,
            )
        )
    ]
    return AtRisk(
        _largest_first(at_risk), _totals(at_risk), _largest_first(scheduled), _totals(scheduled)
    )


def _risk_row(row, reasons) -> RiskRow:
    (sid, name, client, client_name, status, term_end, score, price, cycle, currency,
     suspended_since, effective_on) = row  # fmt: skip
    # Revenue that is coming in: not while suspended (nor a cancellation made while suspended).
    earning = status == ServiceStatus.ACTIVE or (
        status == ServiceStatus.CANCELLED and suspended_since is None
    )
    mrr = monthly_equivalent(Decimal(price), cycle) if earning else Decimal("0.00")
    return RiskRow(
        sid, name, client, client_name, status, tuple(reasons), term_end, score, mrr, currency,
        effective_on,
    )  # fmt: skip


def _largest_first(rows: list[RiskRow]) -> list[RiskRow]:
    return sorted(rows, key=lambda r: (-r.mrr, r.currency, r.service_name, r.service_id))


def _totals(rows: list[RiskRow]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Decimal("0.00")) + row.mrr
    return dict(sorted(totals.items()))
