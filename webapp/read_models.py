"""What the dashboards show: plain queries over the same tables, scoped to one company."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, or_, select, union_all
from sqlalchemy.orm import joinedload

from webapp.charts import sparkline
from webapp.clock import today
from webapp.date_range import DateRange
from webapp.extensions import db
from webapp.lifecycle.billing import mrr
from webapp.lifecycle.health import BAND_RANGES, band
from webapp.lifecycle.statuses import RUNNING, BillingStatus, DeliveryStatus, ServiceStatus
from webapp.models import (
    Client,
    ClientService,
    DomainEvent,
    HealthSnapshot,
    Incident,
    ListenerDelivery,
    RecurringBilling,
    SlaAlert,
    User,
)

SORTS = {
    "name": ClientService.name,
    "client": Client.name,
    "status": ClientService.status,
    "price": ClientService.price,
    "term_end": ClientService.term_end,
    "health": ClientService.health_score,
}


@dataclass(frozen=True)
class ServiceCounts:
    by_status: dict[str, int]
    bands: dict[str, int]  # running services per health band (those not yet scored left out)


def service_counts(company_id: int) -> ServiceCounts:
    """Services per status, and running ones per health band, from one read of the
    (company_id, status, health_score) index: at most 101 groups a status, put into bands
    here, where a CASE in SQL would be evaluated on each of 100,000 rows."""
    rows = db.session.execute(
        select(ClientService.status, ClientService.health_score, func.count())
        .where(ClientService.company_id == company_id)
        .group_by(ClientService.status, ClientService.health_score)
    ).all()
    by_status = dict.fromkeys((s.value for s in ServiceStatus), 0)
    bands = dict.fromkeys(BAND_RANGES, 0)
    for status, score, n in rows:
        by_status[status.value] += n
        if status in RUNNING and score is not None:
            bands[band(score)] += n
    return ServiceCounts(by_status, bands)


def mrr_by_currency(company_id: int) -> dict[str, Decimal]:
    """Monthly recurring revenue of running billing, as each cycle's monthly equivalent."""
    rows = db.session.execute(
        select(RecurringBilling.currency, RecurringBilling.cycle, func.sum(RecurringBilling.amount))
        .where(
            RecurringBilling.company_id == company_id,
            RecurringBilling.status == BillingStatus.ACTIVE,
        )
        .group_by(RecurringBilling.currency, RecurringBilling.cycle)
    ).all()
    by_currency: dict[str, dict] = {}
    for currency, cycle, amount in rows:
        by_currency.setdefault(currency, {})[cycle] = Decimal(amount)
    return {currency: mrr(by_currency[currency]) for currency in sorted(by_currency)}


RENEWALS_PER_PAGE = 50


@dataclass(frozen=True)
class RenewalPage:
    services: list
    total: int
    page: int
    pages: int


def first_ids_across(parts, order: list[str], limit: int, offset: int = 0):
    """The ids of the first rows (after `offset`) across `parts`, in `order`: the labels of
    the columns each part selects beside its `id`, ending with `id`. One statement.

    A query on `column IN (a, b)` ordered by another column makes SQLite read and sort every
    matching row (100,000 running services, thousands of open incidents) to return a
    handful. Asked per value instead, each part (ordered and limited by the caller to
    offset + limit) walks its own index in order and stops; the parts are merged here."""
    merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    return (
        select(merged.c.id).order_by(*(merged.c[key] for key in order)).limit(limit).offset(offset)
    )


def running_in_order(filters, order, limit: int, offset: int = 0):
    """The first running services in `order` (columns of ClientService, ending with its id),
    each with its client: read per status along the (company_id, status, first order column)
    index and merged (first_ids_across)."""
    parts = [
        select(ClientService.id, *order)
        .where(ClientService.status == status, *filters)
        .order_by(*order)
        .limit(offset + limit)
        for status in RUNNING
    ]
    first = first_ids_across(parts, [column.key for column in order], limit, offset)
    return db.session.scalars(
        select(ClientService)
        .options(joinedload(ClientService.client, innerjoin=True))
        .where(ClientService.id.in_(first))
        .order_by(*order)
    ).all()


def _term_ends_filters(company_id: int, days: int) -> list:
    until = today() + dt.timedelta(days=days)
    return [ClientService.company_id == company_id, ClientService.term_end <= until]


def term_ends(company_id: int, days: int, limit: int, offset: int = 0):
    return running_in_order(
        _term_ends_filters(company_id, days),
        (ClientService.term_end, ClientService.id),
        limit,
        offset,
    )


def term_ends_page(company_id: int, days: int, page: int = 1) -> RenewalPage:
    """One page of the terms ending within `days`: a big MSP has thousands in 90 days."""
    total = db.session.scalar(
        select(func.count()).where(
            ClientService.status.in_(RUNNING), *_term_ends_filters(company_id, days)
        )
    )
    pages = max(1, -(-total // RENEWALS_PER_PAGE))
    page = min(max(1, page), pages)
    offset = (page - 1) * RENEWALS_PER_PAGE
    return RenewalPage(term_ends(company_id, days, RENEWALS_PER_PAGE, offset), total, page, pages)


@dataclass(frozen=True)
class AlertRow:
    alert: SlaAlert
    service_name: str
    client_name: str
    acknowledged_by: str | None


def alerts(
    company_id: int, state: str = "open", kind: str = "", limit: int = 100
) -> list[AlertRow]:
    """Alerts, unacknowledged first (oldest first: the longest waiting), then acknowledged.

    Two queries rather than one ordered by "acknowledged or not": acknowledged alerts pile
    up for ever, and are read newest first along the (company_id, acknowledged_at) index up
    to the limit instead of being sorted whole. Both are asked whatever the rows, so a page
    issues the same statements however many there are."""
    acker = db.aliased(User)
    base = (
        select(SlaAlert, ClientService.name, Client.name, acker.name)
        .join(ClientService, SlaAlert.service_id == ClientService.id)
        .join(Client, ClientService.client_id == Client.id)
        .outerjoin(acker, SlaAlert.acknowledged_by_id == acker.id)
        .where(SlaAlert.company_id == company_id)
    )
    if kind:
        base = base.where(SlaAlert.kind == kind)
    rows = []
    for is_open in {"open": (True,), "acknowledged": (False,)}.get(state, (True, False)):
        if is_open:
            query = base.where(SlaAlert.acknowledged_at.is_(None)).order_by(
                SlaAlert.created_at, SlaAlert.id
            )
        else:
            query = base.where(SlaAlert.acknowledged_at.is_not(None)).order_by(
                SlaAlert.acknowledged_at.desc(), SlaAlert.id.desc()
            )
        rows += db.session.execute(query.limit(max(0, limit - len(rows)))).all()
    return [AlertRow(*row) for row in rows]


def open_alert_count(company_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            SlaAlert.company_id == company_id, SlaAlert.acknowledged_at.is_(None)
        )
    )


def recent_events(company_id: int, limit: int = 12):
    return db.session.execute(
        select(DomainEvent, ClientService.name)
        .join(ClientService, DomainEvent.service_id == ClientService.id)
        .where(DomainEvent.company_id == company_id)
        .order_by(DomainEvent.id.desc())
        .limit(limit)
    ).all()


def failed_delivery_count(company_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            ListenerDelivery.company_id == company_id,
            ListenerDelivery.status == DeliveryStatus.FAILED,
        )
    )


def failed_deliveries(company_id: int):
    return db.session.execute(
        select(ListenerDelivery, DomainEvent, ClientService.name)
        .join(DomainEvent, ListenerDelivery.event_id == DomainEvent.id)
        .join(ClientService, DomainEvent.service_id == ClientService.id)
        .where(
            ListenerDelivery.company_id == company_id,
            ListenerDelivery.status == DeliveryStatus.FAILED,
        )
        .order_by(ListenerDelivery.id)
    ).all()


@dataclass(frozen=True)
class ServiceQuery:
    q: str = ""
    status: str = ""
    client: int | None = None
    health: str = ""
    sort: str = "name"
    desc: bool = False
    page: int = 1
    started: DateRange = DateRange()  # on start_date: when the service (its contract) starts

    @property
    def args(self) -> dict:
        """The filters as the query string carries them (sort and page left out)."""
        return {
            "q": self.q or None,
            "status": self.status or None,
            "client": self.client,
            "health": self.health or None,
            **self.started.args,
        }


@dataclass(frozen=True)
class ServicePage:
    rows: list
    total: int
    page: int
    pages: int


def service_filters(company_id: int, query: ServiceQuery) -> list:
    """The list's filters, the same for the page and its CSV export."""
    filters = [
        ClientService.company_id == company_id,
        *query.started.on_dates(ClientService.start_date),
    ]
    if query.status in {s.value for s in ServiceStatus}:
        filters.append(ClientService.status == ServiceStatus(query.status))
    if query.client:
        filters.append(ClientService.client_id == query.client)
    if query.health in BAND_RANGES:
        low, high = BAND_RANGES[query.health]
        filters.append(ClientService.health_score.between(low, high))
    if query.q:
        like = f"%{query.q.strip()}%"
        clients_named = select(Client.id).where(
            Client.company_id == company_id, Client.name.ilike(like)
        )
        filters.append(
            or_(ClientService.name.ilike(like), ClientService.client_id.in_(clients_named))
        )
    return filters


def services(company_id: int, query: ServiceQuery, page_size: int) -> ServicePage:
    filters = service_filters(company_id, query)
    # Counted on client_services alone, from the (company_id, name, client_id) index: each
    # service has one client and at most one billing, so joins would not change the count.
    total = db.session.scalar(select(func.count()).where(*filters))
    pages = max(1, -(-total // page_size))
    page = min(max(1, query.page), pages)
    column = SORTS.get(query.sort, ClientService.name)
    # Ties broken in the order of the (company, column) index, so it serves the page either
    # way: many services share a name, and the name index holds the client after it.
    order = [column, ClientService.id]
    if column is ClientService.name:
        order.insert(1, ClientService.client_id)
    rows = db.session.execute(
        select(ClientService, Client.name, RecurringBilling.status)
        .join(Client, ClientService.client_id == Client.id)
        .outerjoin(RecurringBilling, RecurringBilling.service_id == ClientService.id)
        .where(*filters)
        .order_by(*(c.desc() for c in order) if query.desc else order)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return ServicePage(rows=rows, total=total, page=page, pages=pages)


def clients(company_id: int):
    return db.session.execute(
        select(Client.id, Client.name).where(Client.company_id == company_id).order_by(Client.name)
    ).all()


def service_timeline(service_id: int):
    """The service's events, newest first, each with its deliveries: one statement however
    many events (selectinload would add one per 500)."""
    return (
        db.session.scalars(
            select(DomainEvent)
            .options(joinedload(DomainEvent.deliveries))
            .where(DomainEvent.service_id == service_id)
            .order_by(DomainEvent.id.desc())
        )
        .unique()
        .all()
    )


def change_stamp(company_id: int) -> str:
    """Changes whenever anything shown on a page could have changed: new events, deliveries
    finishing or failing, alerts raised, acknowledged or escalated, incidents recorded or
    changed. Cheap: a few aggregates on indexes."""
    events = db.session.scalar(
        select(func.max(DomainEvent.id)).where(DomainEvent.company_id == company_id)
    )
    deliveries = db.session.execute(
        select(func.count(), func.max(ListenerDelivery.finished_at)).where(
            ListenerDelivery.company_id == company_id,
            ListenerDelivery.status.in_([DeliveryStatus.DONE, DeliveryStatus.FAILED]),
        )
    ).one()
    alert_row = db.session.execute(
        select(
            func.count(), func.max(SlaAlert.acknowledged_at), func.max(SlaAlert.escalated_at)
        ).where(SlaAlert.company_id == company_id)
    ).one()
    incidents = db.session.scalar(
        select(func.max(Incident.updated_at)).where(Incident.company_id == company_id)
    )
    return ".".join(str(x) for x in (events or 0, *deliveries, *alert_row, incidents))


def lowest_health(company_id: int, limit: int = 5):
    return running_in_order(
        [ClientService.company_id == company_id, ClientService.health_score.is_not(None)],
        (ClientService.health_score, ClientService.id),
        limit,
    )


@dataclass(frozen=True)
class HealthTrend:
    """The last health scores, oldest first, as an SVG polyline on a fixed 0-100 scale."""

    scores: list[int]
    since: dt.datetime
    points: str
    last: tuple[float, float]
    guides: dict[int, float]  # band floor -> y
    width: int
    height: int

    @property
    def summary(self) -> str:
        return (
            f"The last {len(self.scores)} health scores went from {self.scores[0]} to "
            f"{self.scores[-1]} (lowest {min(self.scores)}, highest {max(self.scores)})."
        )


def health_trend(service_id: int, limit: int = 30) -> HealthTrend | None:
    """None until there are two scores to draw a line between."""
    rows = db.session.execute(
        select(HealthSnapshot.score, HealthSnapshot.computed_at)
        .where(HealthSnapshot.service_id == service_id)
        .order_by(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc())
        .limit(limit)
    ).all()[::-1]
    if len(rows) < 2:
        return None
    scores = [score for score, _ in rows]
    width, height = 240, 48
    points, last, guides = sparkline(scores, width, height)
    return HealthTrend(scores, rows[0][1], points, last, guides, width, height)


def health_sparklines(service_ids: list[int], n: int = 12) -> dict[int, list[int]]:
    """Each service's last `n` scores, oldest first, for a page of service rows.

    One statement however many rows: a part per service, each walking its own
    (service_id, computed_at) index backwards and stopping after `n` (first_ids_across's
    idea); one query with a window function would read every snapshot of every service."""
    if not service_ids:
        return {}
    parts = [
        select(
            HealthSnapshot.service_id,
            HealthSnapshot.computed_at,
            HealthSnapshot.id,
            HealthSnapshot.score,
        )
        .where(HealthSnapshot.service_id == service_id)
        .order_by(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc())
        .limit(n)
        for service_id in service_ids
    ]
    merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    found: dict[int, list[int]] = {service_id: [] for service_id in service_ids}
    for service_id, _, _, score in db.session.execute(
        select(merged).order_by(merged.c.service_id, merged.c.computed_at, merged.c.id)
    ):
        found[service_id].append(score)
    return found
