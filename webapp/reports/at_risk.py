"""The reports' revenue at risk: running services whose term ends soon without auto-renew or
whose health is poor or critical, and cancellations that take effect later, with their MRR.
Scoped by company (and optionally one client); a few statements on indexes, whatever the
company's size.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import or_, select

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.billing import monthly_equivalent
from webapp.lifecycle.statuses import RUNNING, ServiceStatus
from webapp.services.models import ClientService

RISK_DAYS = 90

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
    ClientService.quantity,
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
    # A service with a cancellation scheduled is not at risk: it is leaving (listed below).
    running = [
        *scope,
        ClientService.status.in_(RUNNING),
        ClientService.cancellation_effective_on.is_(None),
    ]
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
                ClientService.cancellation_effective_on.is_not(None),
                or_(
                    # Running until its cancellation at term end (even on the day, before
                    # the scheduler's run), or cancelled earlier with a later end date.
                    ClientService.status.in_(RUNNING),
                    ClientService.cancellation_effective_on > today,
                ),
            )
        )
    ]
    return AtRisk(
        _largest_first(at_risk), _totals(at_risk), _largest_first(scheduled), _totals(scheduled)
    )


def _risk_row(row, reasons) -> RiskRow:
    (sid, name, client, client_name, status, term_end, score, price, cycle, currency,
     suspended_since, effective_on, quantity) = row  # fmt: skip
    # Revenue that is coming in: not while suspended (nor a cancellation made while suspended).
    earning = status == ServiceStatus.ACTIVE or (
        status == ServiceStatus.CANCELLED and suspended_since is None
    )
    # A cycle costs the unit price times the quantity.
    mrr = monthly_equivalent(Decimal(price) * quantity, cycle) if earning else Decimal("0.00")
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
