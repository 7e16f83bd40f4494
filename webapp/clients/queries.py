"""Reads of clients: the clients list (services by status, MRR, lowest health, open incidents
and next term end per client, a page at a time), one client's page, and the pickers' lists.

The list is set-based: the page's clients are read in one statement (joined to one grouped
subquery when the sort is by a figure), and their figures in three grouped statements for the
whole page, however many clients it shows.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Numeric, case, func, literal, select

from webapp import search
from webapp.activity.queries import LABELS, detail
from webapp.billing.models import RecurringBilling
from webapp.clients.models import Client
from webapp.clock import today
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.billing import MONTHLY_FACTOR, mrr
from webapp.lifecycle.statuses import RUNNING, BillingCycle, BillingStatus, ServiceStatus
from webapp.pipeline.models import DomainEvent
from webapp.query_args import text_arg
from webapp.services.models import ClientService

SORTS = ("name", "mrr", "health", "term_end", "incidents")

# Sorts whose first click shows the largest first: the biggest clients, the most incidents.
DESC_FIRST = frozenset({"mrr", "incidents"})

# A client with a service in one of these cannot be archived: it still runs, or is about to.
LIVE = (ServiceStatus.PENDING, ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)

STATUS_ORDER = tuple(ServiceStatus)  # pending, active, suspended, cancelled, expired

RENEWAL_DAYS = 90  # the client page's "terms ending soon"

ACTIVITY_SHOWN = 20

CLIENT_EVENTS = (
    "ClientCreated",
    "ClientUpdated",
    "ClientArchived",
    "ClientRestored",
    "ContactSaved",
    "ContactRemoved",
)


@dataclass(frozen=True)
class ClientQuery:
    q: str = ""
    sort: str = "name"
    desc: bool = False
    page: int = 1
    archived: bool = False  # archived clients listed too

    @classmethod
    def from_args(cls, args) -> "ClientQuery":
        sort = args.get("sort", "name")
        return cls(
            q=text_arg(args, "q"),
            sort=sort if sort in SORTS else "name",
            desc=args.get("desc") == "1",
            page=args.get("page", 1, type=int),
            archived=args.get("archived") == "1",
        )

    @property
    def args(self) -> dict:
        """The filters as the query string carries them (sort and page left out)."""
        return {"q": self.q or None, "archived": "1" if self.archived else None}


@dataclass(frozen=True)
class ClientSummary:
    client: Client
    statuses: dict[str, int]  # status value -> services in it
    mrr: dict[str, Decimal]  # currency -> monthly recurring revenue
    lowest_health: int | None  # of its running services
    open_incidents: int
    next_term_end: dt.date | None  # of its running services

    @property
    def services(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class ClientPage:
    rows: list[ClientSummary]
    total: int
    page: int
    pages: int


def client_filters(company_id: int, query: ClientQuery) -> list:
    filters = [Client.company_id == company_id]
    if not query.archived:
        filters.append(Client.archived_at.is_(None))
    if query.q.strip():
        filters.append(search.contains(Client.name, query.q.strip()))
    return filters


def _monthly(amount, cycle):
    """The monthly equivalent of a per-cycle amount, in SQL, for ordering only (the figures
    shown are rounded per cycle by webapp.lifecycle.billing.mrr)."""
    return amount * case(
        *[
            (cycle == c, literal(factor, Numeric(20, 10)))
            for c, factor in MONTHLY_FACTOR.items()
            if c is not BillingCycle.MONTHLY
        ],
        else_=literal(1, Numeric(20, 10)),
    )


def _sort_figure(company_id: int, sort: str):
    """(a subquery of client_id and its figures, their names in order, what an absent row
    counts as), for the sorts by a figure; None for the sort by name."""
    running = [ClientService.company_id == company_id, ClientService.status.in_(RUNNING)]
    if sort == "health":
        figure = select(
            ClientService.client_id, func.min(ClientService.health_score).label("figure")
        ).where(*running)
        missing = None
    elif sort == "term_end":
        figure = select(
            ClientService.client_id, func.min(ClientService.term_end).label("figure")
        ).where(*running)
        missing = None
    elif sort == "incidents":
        figure = (
            select(ClientService.client_id, func.count(Incident.id).label("figure"))
            .select_from(Incident)
            .join(ClientService, Incident.service_id == ClientService.id)
            .where(Incident.company_id == company_id, Incident.resolved_at.is_(None))
        )
        missing = 0
    elif sort == "mrr":
        # Currencies are not added up: the company's own currency first, then the others.
        own = db.session.scalar(select(Company.currency).where(Company.id == company_id))
        monthly = _monthly(RecurringBilling.amount, RecurringBilling.cycle)
        figure = (
            select(
                ClientService.client_id,
                func.sum(case((RecurringBilling.currency == own, monthly), else_=0)).label(
                    "figure"
                ),
                func.sum(monthly).label("then"),
            )
            .select_from(RecurringBilling)
            .join(ClientService, RecurringBilling.service_id == ClientService.id)
            .where(
                RecurringBilling.company_id == company_id,
                RecurringBilling.status == BillingStatus.ACTIVE,
            )
        )
        missing = 0
    else:
        return None
    names = ["figure", "then"] if sort == "mrr" else ["figure"]
    return figure.group_by(ClientService.client_id).subquery(), names, missing


def clients_page(company_id: int, query: ClientQuery, page_size: int) -> ClientPage:
    filters = client_filters(company_id, query)
    total = db.session.scalar(select(func.count(Client.id)).where(*filters))
    pages = max(1, -(-total // page_size))
    page = min(max(1, query.page), pages)
    statement = select(Client).where(*filters)
    order = []
    sorted_by = _sort_figure(company_id, query.sort)
    if sorted_by is not None:
        figure, names, missing = sorted_by
        statement = statement.outerjoin(figure, figure.c.client_id == Client.id)
        for column in (figure.c[name] for name in names):
            value = column if missing is None else func.coalesce(column, missing)
            order.append((value.desc() if query.desc else value.asc()).nulls_last())
    for column in (Client.name, Client.id):  # ties, and the sort by name
        order.append(column.desc() if query.desc and sorted_by is None else column)
    clients = db.session.scalars(
        statement.order_by(*order).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return ClientPage(summaries(company_id, clients), total, page, pages)


def summaries(company_id: int, clients: list[Client]) -> list[ClientSummary]:
    """Each client's figures, in three grouped statements for all of them."""
    ids = [c.id for c in clients]
    if not ids:
        return []
    statuses: dict[int, dict[str, int]] = {i: {} for i in ids}
    health: dict[int, list[int]] = {i: [] for i in ids}
    term_ends: dict[int, list[dt.date]] = {i: [] for i in ids}
    for client_id, status, count, lowest, first_end in db.session.execute(
        select(
            ClientService.client_id,
            ClientService.status,
            func.count(),
            func.min(ClientService.health_score),
            func.min(ClientService.term_end),
        )
        .where(ClientService.company_id == company_id, ClientService.client_id.in_(ids))
        .group_by(ClientService.client_id, ClientService.status)
    ):
        status = ServiceStatus(status)
        statuses[client_id][status.value] = count
        if status in RUNNING:
            if lowest is not None:
                health[client_id].append(lowest)
            term_ends[client_id].append(first_end)
    revenue = mrr_by_client(company_id, ids)
    incidents = dict(
        db.session.execute(
            select(ClientService.client_id, func.count(Incident.id))
            .select_from(Incident)
            .join(ClientService, Incident.service_id == ClientService.id)
            .where(
                Incident.company_id == company_id,
                Incident.resolved_at.is_(None),
                # The services' company too: with it SQLite starts from these clients'
                # services (ix_client_services_company_client), not from every open incident
                # of the company (72 ms at 100,000 services against 0.6).
                ClientService.company_id == company_id,
                ClientService.client_id.in_(ids),
            )
            .group_by(ClientService.client_id)
        ).all()
    )
    return [
        ClientSummary(
            client=c,
            statuses={
                s.value: statuses[c.id][s.value] for s in STATUS_ORDER if s.value in statuses[c.id]
            },
            mrr=revenue.get(c.id, {}),
            lowest_health=min(health[c.id], default=None),
            open_incidents=incidents.get(c.id, 0),
            next_term_end=min(term_ends[c.id], default=None),
        )
        for c in clients
    ]


def mrr_by_client(company_id: int, client_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """Each client's monthly recurring revenue per currency, as the overview counts it
    (webapp.billing.queries.mrr_by_currency): running billing, each cycle's monthly equivalent
    rounded per cycle."""
    amounts: dict[int, dict[str, dict]] = {}
    for client_id, currency, cycle, amount in db.session.execute(
        select(
            ClientService.client_id,
            RecurringBilling.currency,
            RecurringBilling.cycle,
            func.sum(RecurringBilling.amount),
        )
        .select_from(RecurringBilling)
        .join(ClientService, RecurringBilling.service_id == ClientService.id)
        .where(
            RecurringBilling.company_id == company_id,
            RecurringBilling.status == BillingStatus.ACTIVE,
            # As above: from these clients' services, not every running billing of the company
            # (144 ms at 100,000 services against 0.9).
            ClientService.company_id == company_id,
            ClientService.client_id.in_(client_ids),
        )
        .group_by(ClientService.client_id, RecurringBilling.currency, RecurringBilling.cycle)
    ):
        amounts.setdefault(client_id, {}).setdefault(currency, {})[cycle] = Decimal(amount)
    return {
        client_id: {currency: mrr(by_cycle[currency]) for currency in sorted(by_cycle)}
        for client_id, by_cycle in amounts.items()
    }


def client_services(company_id: int, client_id: int):
    """(service, billing status) of the client's services: pending, active, suspended first,
    then the ended ones, each by name."""
    rank = case(*[(ClientService.status == s, i) for i, s in enumerate(STATUS_ORDER)])
    return db.session.execute(
        select(ClientService, RecurringBilling.status)
        .outerjoin(RecurringBilling, RecurringBilling.service_id == ClientService.id)
        .where(ClientService.company_id == company_id, ClientService.client_id == client_id)
        .order_by(rank, ClientService.name, ClientService.id)
    ).all()


def terms_ending(services, days: int = RENEWAL_DAYS) -> list:
    """The running services among `services` whose term ends within `days`, soonest first."""
    until = today() + dt.timedelta(days=days)
    return sorted(
        (s for s in services if s.status in RUNNING and s.term_end <= until),
        key=lambda s: (s.term_end, s.id),
    )


def live_services(company_id: int, client_id: int) -> int:
    """How many of the client's services are pending, active or suspended."""
    return db.session.scalar(
        select(func.count(ClientService.id)).where(
            ClientService.company_id == company_id,
            ClientService.client_id == client_id,
            ClientService.status.in_(LIVE),
        )
    )


@dataclass(frozen=True)
class ActivityEntry:
    event: DomainEvent
    service_name: str | None  # None for a change to the client or its contacts
    what: str
    detail: str


# As the activity page names them, where it does not (yet).
CLIENT_LABELS = {
    "ClientCreated": "client created",
    "ClientUpdated": "client updated",
    "ClientArchived": "client archived",
    "ClientRestored": "client restored",
    "ContactSaved": "contact saved",
    "ContactRemoved": "contact removed",
}


def client_activity(
    company_id: int, client_id: int, limit: int = ACTIVITY_SHOWN
) -> list[ActivityEntry]:
    """The newest events of the client's services and of the client itself, merged: two
    statements, each along its own index (service_id; company_id and type)."""
    of_services = db.session.execute(
        select(DomainEvent, ClientService.name)
        .join(ClientService, DomainEvent.service_id == ClientService.id)
        .where(ClientService.company_id == company_id, ClientService.client_id == client_id)
        .order_by(DomainEvent.id.desc())
        .limit(limit)
    ).all()
    of_client = db.session.scalars(
        select(DomainEvent)
        .where(
            DomainEvent.company_id == company_id,
            DomainEvent.type.in_(CLIENT_EVENTS),
            DomainEvent.payload["client_id"].as_integer() == client_id,
        )
        # Not in the order of an index: SQLite, without planner statistics, would walk the
        # company's events newest first for the few of this client (1,000,000 at scale)
        # rather than seek its client events by type (ix_domain_events_company_type).
        .order_by((DomainEvent.id + 0).desc())
        .limit(limit)
    ).all()
    entries = [
        ActivityEntry(e, name, LABELS.get(e.type, e.type), detail(e)) for e, name in of_services
    ] + [
        ActivityEntry(e, None, LABELS.get(e.type, CLIENT_LABELS[e.type]), client_detail(e))
        for e in of_client
    ]
    return sorted(entries, key=lambda entry: entry.event.id, reverse=True)[:limit]


def client_detail(event) -> str:
    """The facts of a change to a client or a contact, in a few words."""
    p = event.payload or {}
    match event.type:
        case "ClientCreated":
            return p.get("client_name", "")
        case "ClientUpdated":
            return "; ".join(
                f"{field.replace('_', ' ')}: {old or '—'} → {new or '—'}"
                for field, (old, new) in sorted((p.get("changes") or {}).items())
            )
        case "ContactSaved":
            roles = ", ".join(p.get("roles") or []) or "no role"
            return f"{p.get('contact_name')} ({roles})"
        case "ContactRemoved":
            return p.get("contact_name", "")
    return ""
