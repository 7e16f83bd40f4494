"""Reads of services: the services list and its filters (page and CSV), one client's services,
running services in order, clients, and a service's event timeline, term span and renewals."""

import datetime as dt
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, union_all
from sqlalchemy.orm import joinedload

from webapp import search
from webapp.accounts.models import User
from webapp.billing.models import RecurringBilling
from webapp.clients.models import Client
from webapp.database import first_ids_across
from webapp.date_range import DateRange
from webapp.extensions import db
from webapp.lifecycle.events import ServiceRenewed
from webapp.lifecycle.health import BAND_RANGES
from webapp.lifecycle.statuses import RUNNING, ServiceStatus, UserRole
from webapp.pipeline.models import DomainEvent
from webapp.query_args import id_arg, text_arg
from webapp.services.models import ClientService

SORTS = {
    "name": ClientService.name,
    "client": Client.name,
    "status": ClientService.status,
    "price": ClientService.price,
    "term_end": ClientService.term_end,
    "health": ClientService.health_score,
}


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
    manager: int | None = None  # "mine": the services this user is the account manager of
    service_type: str = ""  # "type": one kind of service (m365, backup, ...)

    @classmethod
    def from_args(cls, args, user_id: int | None = None) -> "ServiceQuery":
        """The filters from a query string (the page's, or its CSV download's); manager=me
        means the services `user_id` manages."""
        return cls(
            q=text_arg(args, "q"),
            status=args.get("status", ""),
            client=id_arg(args, "client"),
            health=args.get("health", ""),
            sort=args.get("sort", "name") if args.get("sort") in SORTS else "name",
            desc=args.get("desc") == "1",
            page=args.get("page", 1, type=int),
            started=DateRange.from_args(args),
            manager=user_id if args.get("manager") == "me" else None,
            service_type=text_arg(args, "type", limit=50),
        )

    @property
    def args(self) -> dict:
        """The filters as the query string carries them (sort and page left out)."""
        return {
            "q": self.q or None,
            "status": self.status or None,
            "client": self.client,
            "health": self.health or None,
            "manager": "me" if self.manager else None,
            "type": self.service_type or None,
            **self.started.args,
        }


@dataclass(frozen=True)
class ServicePage:
    rows: list
    total: int
    page: int
    pages: int


def of_client(service_id, company_id: int, client_id: int):
    """The condition that `service_id` (a column holding a service's id: an incident's, an
    event's, an adjustment's) is one of the client's services in the company."""
    return service_id.in_(
        select(ClientService.id).where(
            ClientService.company_id == company_id, ClientService.client_id == client_id
        )
    )


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
    if query.manager:
        filters.append(ClientService.account_manager_id == query.manager)
    if query.service_type:
        filters.append(ClientService.service_type == query.service_type)
    if query.health in BAND_RANGES:
        low, high = BAND_RANGES[query.health]
        filters.append(ClientService.health_score.between(low, high))
    if query.q:
        # One list of ids, each part read through its name's trigram index (an OR of the two
        # conditions would read every service's name); the company is the filter above.
        text = query.q.strip()
        of_clients_named = select(ClientService.id).where(
            ClientService.client_id.in_(search.matching_ids(Client.name, text))
        )
        filters.append(
            ClientService.id.in_(
                union_all(search.matching_ids(ClientService.name, text), of_clients_named)
            )
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


def clients(company_id: int, archived: bool = True):
    """(id, name) of the company's clients; archived=False for the pickers of new work (the
    list filters keep archived clients: their history is still there to find)."""
    query = select(Client.id, Client.name).where(Client.company_id == company_id)
    if not archived:
        query = query.where(Client.archived_at.is_(None))
    return db.session.execute(query.order_by(Client.name)).all()


def service_types(company_id: int) -> list[str]:
    """The kinds of service the company has (for the bulk price change's filter)."""
    return list(
        db.session.scalars(
            select(ClientService.service_type)
            .where(ClientService.company_id == company_id)
            .distinct()
            .order_by(ClientService.service_type)
        )
    )


def account_managers(company_id: int):
    """(id, name) of the people who can be a service's account manager: active account
    managers and admins."""
    return db.session.execute(
        select(User.id, User.name)
        .where(
            User.company_id == company_id,
            User.active.is_(True),
            User.role.in_((UserRole.ACCOUNT_MANAGER, UserRole.ADMIN)),
        )
        .order_by(User.name, User.id)
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


@dataclass(frozen=True)
class TermSpan:
    """The contract so far, from the start date to the end of the current term: the first
    term and every renewal since (term_months stays the length of one term)."""

    months: int
    days: int  # beyond the whole months (a term end clamped to a shorter month)


def term_span(service: ClientService) -> TermSpan:
    span = relativedelta(service.term_end, service.start_date)
    return TermSpan(span.years * 12 + span.months, span.days)


@dataclass(frozen=True)
class Renewal:
    on: dt.datetime
    months: int
    term_end: dt.date
    actor: str


def renewals_in(timeline) -> list[Renewal]:
    """The renewals in a service's timeline (service_timeline), newest first, each with the
    months it added."""
    return [
        Renewal(
            e.occurred_at,
            int(e.payload["months"]),
            dt.date.fromisoformat(e.payload["term_end"]),
            e.actor,
        )
        for e in timeline
        if e.type == ServiceRenewed.__name__
    ]
