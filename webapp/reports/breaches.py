"""The reports' SLA breaches, by month and by client, response and resolution counted apart.
Scoped by company (and optionally one client); one grouped statement per kind on its partial
index, whatever the company's size.

Months are the company's own (local) calendar months (webapp.reports.local_months): a breach
at 00:30 on 1 April in London is April's even though it was 31 March in UTC.
"""

import datetime as dt
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from sqlalchemy import case, func, literal, select

from webapp.clients.models import Client
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.sla import BREACH
from webapp.reports.local_months import company_timezone, month_start_utc
from webapp.reports.revenue import months_between
from webapp.services.models import ClientService
from webapp.sla.tracking import MARK_COLUMNS

# Kind -> the incident's breach column (response first, then resolution).
BREACH_COLUMNS = {
    kind: getattr(Incident, column)
    for (kind, level), column in MARK_COLUMNS.items()
    if level == BREACH
}


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
    timezone = company_timezone(company_id)
    months = months_between(first, last)
    bounds = [month_start_utc(m, timezone) for m in [*months, months[-1] + relativedelta(months=1)]]
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
    timezone = company_timezone(company_id)
    start = month_start_utc(first.replace(day=1), timezone)
    end = month_start_utc(last.replace(day=1) + relativedelta(months=1), timezone)
    found: dict[int, dict] = {}
    for kind, column in BREACH_COLUMNS.items():
        # Counted per service on the partial index alone (it holds service_id), then each
        # breached service's client looked up once: joining every breached incident to its
        # service cost twice as much at 100,000 services (docs/benchmarks.md).
        per_service = (
            select(Incident.service_id, func.count().label("n"))
            .where(*_breach_filters(company_id, column, start, end, client_id))
            .group_by(Incident.service_id)
            .subquery()
        )
        for client, name, n in db.session.execute(
            select(ClientService.client_id, Client.name, func.sum(per_service.c.n))
            .select_from(per_service)
            .join(ClientService, ClientService.id == per_service.c.service_id)
            .join(Client, Client.id == ClientService.client_id)
            .group_by(ClientService.client_id, Client.name)
        ):
            row = found.setdefault(client, {"name": name, "response": 0, "resolution": 0})
            row[kind] = int(n)
    rows = sorted(
        (ClientBreaches(c, r["name"], r["response"], r["resolution"]) for c, r in found.items()),
        key=lambda r: (-r.total, r.client_name, r.client_id),
    )
    return rows if limit is None else rows[:limit]
