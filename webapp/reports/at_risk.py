"""The reports' revenue at risk: running services whose term ends soon without auto-renew or
whose health is poor or critical, and cancellations that take effect later, with their MRR.
Scoped by company (and optionally one client); a few statements on indexes, whatever the
company's size.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, cast, func, literal, or_, select

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import RUNNING, ServiceStatus
from webapp.lifecycle.statuses import BillingCycle as C
from webapp.services.models import ClientService

RISK_DAYS = 90

SHOWN = 50  # rows of each list on the page; the CSV has them all

POOR_BELOW = 60  # poor and critical health (lifecycle.health.BAND_RANGES)

TERM_ENDING = "term ending"

POOR_HEALTH = "poor health"

CANCELLATION = "cancellation scheduled"


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
    rows: list[RiskRow]  # largest MRR first (the first `limit` when one was given)
    totals: dict[str, Decimal]  # per currency: each service once, whatever its reasons
    scheduled: list[RiskRow] = field(default_factory=list)  # revenue already leaving
    scheduled_totals: dict[str, Decimal] = field(default_factory=dict)
    count: int = 0  # services at risk, all of them
    scheduled_count: int = 0


# A service's MRR as the reports round it (webapp.lifecycle.billing.monthly_equivalent, to the
# cent, half up), in whole cents and integer arithmetic, so that SQLite (whose NUMERIC is a
# float) and PostgreSQL sum and sort exactly what Python computes: the unit price in cents x
# the quantity x the cycle's monthly factor as a fraction (tests/reports/test_at_risk_in_sql.py).
_FACTOR = {
    C.WEEKLY: (13, 3),  # 52/12
    C.MONTHLY: (1, 1),
    C.QUARTERLY: (1, 3),
    C.SEMI_ANNUAL: (1, 6),
    C.ANNUAL: (1, 12),
}


def mrr_cents():
    """The SQL expression of a service's MRR in cents: 0 while it brings nothing in (suspended,
    or cancelled while suspended) and for a one-time service."""
    cycle = ClientService.billing_cycle
    num = case({c: n for c, (n, _) in _FACTOR.items()}, value=cycle, else_=0)
    den = case({c: d for c, (_, d) in _FACTOR.items()}, value=cycle, else_=1)
    cents = cast(func.round(ClientService.price * 100), BigInteger)
    monthly = (cents * ClientService.quantity * num * 2 + den) // (den * 2)
    earning = or_(
        ClientService.status == ServiceStatus.ACTIVE,
        and_(
            ClientService.status == ServiceStatus.CANCELLED,
            ClientService.suspended_since.is_(None),
        ),
    )
    return case((earning, monthly), else_=0)


def revenue_at_risk(
    company_id: int,
    client_id: int | None = None,
    today: dt.date | None = None,
    limit: int | None = None,
) -> AtRisk:
    """Running services whose term ends within 90 days without auto-renew, or whose health is
    poor or critical (each listed once, with its reasons); and, on their own, cancellations
    that take effect later. Dates are billing's (UTC) dates, like the renewals page's. With a
    `limit`, only that many of each list, the largest first (the page shows 50); the totals
    and counts are always of all of them, summed in SQL."""
    today = today or utcnow().date()
    scope = [ClientService.company_id == company_id]
    if client_id is not None:
        scope.append(ClientService.client_id == client_id)
    term_ending = and_(
        ClientService.term_end <= today + dt.timedelta(days=RISK_DAYS),
        ClientService.auto_renew.is_(False),
    )
    poor_health = ClientService.health_score < POOR_BELOW
    # A service with a cancellation scheduled is not at risk: it is leaving (listed apart).
    at_risk = and_(
        *scope,
        ClientService.status.in_(RUNNING),
        ClientService.cancellation_effective_on.is_(None),
        or_(term_ending, poor_health),
    )
    leaving = and_(
        *scope,
        ClientService.cancellation_effective_on.is_not(None),
        or_(
            # Running until its cancellation at term end (even on the day, before the
            # scheduler's run), or cancelled earlier with a later end date.
            ClientService.status.in_(RUNNING),
            ClientService.cancellation_effective_on > today,
        ),
    )
    rows = _rows(at_risk, limit, term_ending, poor_health)
    scheduled = _rows(leaving, limit)
    totals, count = _totals(at_risk)
    scheduled_totals, scheduled_count = _totals(leaving)
    return AtRisk(rows, totals, scheduled, scheduled_totals, count, scheduled_count)


def _rows(where, limit, term_ending=None, poor_health=None) -> list[RiskRow]:
    mrr = mrr_cents().label("mrr")
    reasons = (
        [case((term_ending, True), else_=False), case((poor_health, True), else_=False)]
        if term_ending is not None
        else [literal(False), literal(False)]
    )
    query = (
        select(
            ClientService.id,
            ClientService.name,
            ClientService.client_id,
            Client.name,
            ClientService.status,
            ClientService.term_end,
            ClientService.health_score,
            mrr,
            ClientService.currency,
            ClientService.cancellation_effective_on,
            *reasons,
        )
        .join(Client, Client.id == ClientService.client_id)
        .where(where)
    )
    if limit is not None:
        query = query.order_by(
            mrr.desc(), ClientService.currency, ClientService.name, ClientService.id
        ).limit(limit)
    found = []
    for (sid, name, client, client_name, status, term_end, score, cents, currency,
         effective_on, ending, poor) in db.session.execute(query):  # fmt: skip
        why = (TERM_ENDING,) * bool(ending) + (POOR_HEALTH,) * bool(poor) or (CANCELLATION,)
        money = Decimal(int(cents)).scaleb(-2)
        found.append(
            RiskRow(
                sid,
                name,
                client,
                client_name,
                status,
                why,
                term_end,
                score,
                money,
                currency,
                effective_on,
            )  # fmt: skip
        )
    # Python's order, whatever the database's collation (names of equal MRR).
    return sorted(found, key=lambda r: (-r.mrr, r.currency, r.service_name, r.service_id))


def _totals(where) -> tuple[dict[str, Decimal], int]:
    totals, count = {}, 0
    for currency, cents, n in db.session.execute(
        select(ClientService.currency, func.sum(mrr_cents()), func.count())
        .select_from(ClientService)
        .where(where)
        .group_by(ClientService.currency)
    ):
        totals[currency] = Decimal(int(cents)).scaleb(-2)
        count += n
    return dict(sorted(totals.items())), count
