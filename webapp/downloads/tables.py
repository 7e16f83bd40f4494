"""What each list's CSV export holds: the page's own filters, every matching row (not one
page of them), in id order, read in keyset chunks.

Times are shown in the company's time zone, named in the column's header; everything else
is as stored (amounts as plain decimals with their currency beside them).
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import aliased

from webapp.accounts.models import User
from webapp.activity import queries as activity_queries
from webapp.billing.models import RecurringBilling
from webapp.clients.models import Client
from webapp.clock import to_local
from webapp.exports import keyset_chunks
from webapp.incidents import queries as incident_queries
from webapp.incidents.models import Incident
from webapp.lifecycle.billing import monthly_equivalent
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService
from webapp.services.queries import ServiceQuery, service_filters


@dataclass(frozen=True)
class Table:
    stem: str  # the file name's start: "services" -> services-2027-04-02.csv
    header: list[str]
    rows: Iterator[tuple]


def _local(value: dt.datetime | None, zone: str) -> dt.datetime | None:
    return to_local(value, zone) if value else None


def services(company_id: int, query: ServiceQuery, zone: str) -> Table:
    """The services list's filters (search, status, client, health; `from`/`to` on the start
    date), whatever its sort and page."""
    read = (
        select(
            ClientService.id,
            ClientService.name,
            Client.name.label("client"),
            ClientService.service_type,
            ClientService.status,
            ClientService.price,
            ClientService.quantity,
            ClientService.currency,
            ClientService.billing_cycle,
            ClientService.setup_fee,
            ClientService.start_date,
            ClientService.term_months,
            ClientService.term_end,
            ClientService.auto_renew,
            ClientService.service_level,
            ClientService.health_score,
            RecurringBilling.status.label("billing_status"),
            ClientService.activated_at,
            ClientService.cancellation_effective_on,
            ClientService.suspension_reason,
            ClientService.cancellation_reason,
        )
        .join(Client, ClientService.client_id == Client.id)
        .outerjoin(RecurringBilling, RecurringBilling.service_id == ClientService.id)
        .where(*service_filters(company_id, query))
    )
    header = [
        "id",
        "service",
        "client",
        "type",
        "status",
        "price",
        "quantity",
        "currency",
        "billing_cycle",
        "monthly_equivalent",
        "setup_fee",
        "start_date",
        "term_months",
        "term_end",
        "auto_renew",
        "service_level",
        "health_score",
        "billing",
        f"activated_at ({zone})",
        "cancellation_effective_on",
        "suspension_reason",
        "cancellation_reason",
    ]

    def rows():
        for chunk in keyset_chunks(read, ClientService.id):
            for r in chunk:
                yield (
                    *r[:9],
                    # What a cycle costs: the unit price times the quantity.
                    monthly_equivalent(r.price * r.quantity, r.billing_cycle),
                    *r[9:17],
                    _local(r.activated_at, zone),
                    r.cancellation_effective_on,
                    r.suspension_reason,
                    r.cancellation_reason,
                )

    return Table("services", header, rows())


def incidents(company_id: int, query: incident_queries.IncidentQuery, zone: str) -> Table:
    """The incidents list's filters (state, severity, service, search) plus client and
    `from`/`to` on the day it was opened; all matching incidents, not the 50 shown."""
    assignee = aliased(User)
    read = (
        select(
            Incident.id,
            Incident.title,
            Incident.severity,
            Incident.resolved_at,
            ClientService.id.label("service_id"),
            ClientService.name.label("service"),
            Client.name.label("client"),
            Incident.source,
            Incident.opened_at,
            Incident.acknowledged_at,
            Incident.acknowledged_by,
            Incident.resolved_by,
            Incident.response_breached_at,
            Incident.resolution_breached_at,
            assignee.name.label("assignee"),
        )
        .join(ClientService, Incident.service_id == ClientService.id)
        .join(Client, ClientService.client_id == Client.id)
        .outerjoin(assignee, Incident.assignee_id == assignee.id)
        .where(*incident_queries.incident_filters(company_id, query))
    )
    for condition in (
        incident_queries.incident_state_filter(query.state),
        incident_queries.incident_text_filter(query),
    ):
        if condition is not None:
            read = read.where(condition)
    header = [
        "id",
        "title",
        "severity",
        "state",
        "service_id",
        "service",
        "client",
        "source",
        f"opened_at ({zone})",
        f"acknowledged_at ({zone})",
        "acknowledged_by",
        f"resolved_at ({zone})",
        "resolved_by",
        f"response_breached_at ({zone})",
        f"resolution_breached_at ({zone})",
        "assignee",
    ]

    def rows():
        names = activity_queries.people(company_id)
        for chunk in keyset_chunks(read, Incident.id):
            for r in chunk:
                yield (
                    r.id,
                    r.title,
                    r.severity,
                    "resolved" if r.resolved_at else "open",
                    r.service_id,
                    r.service,
                    r.client,
                    r.source,
                    _local(r.opened_at, zone),
                    _local(r.acknowledged_at, zone),
                    r.acknowledged_by and activity_queries.describe_actor(r.acknowledged_by, names),
                    _local(r.resolved_at, zone),
                    r.resolved_by and activity_queries.describe_actor(r.resolved_by, names),
                    _local(r.response_breached_at, zone),
                    _local(r.resolution_breached_at, zone),
                    r.assignee,
                )

    return Table("incidents", header, rows())


def events(company_id: int, query: activity_queries.TrailQuery, zone: str) -> Table:
    """The activity page's filters (who, what) plus client and `from`/`to` on the day it
    happened, oldest first (the page shows newest first)."""
    # Events about a client or a person have no service; a person's no client either.
    read = activity_queries.with_subjects(
        select(
            DomainEvent.id,
            DomainEvent.occurred_at,
            DomainEvent.actor,
            DomainEvent.type,
            DomainEvent.payload,
            DomainEvent.service_id,
            ClientService.name.label("service"),
            Client.name.label("client"),
        )
    ).where(*activity_queries.event_filters(company_id, query, zone))
    header = [
        "id",
        f"occurred_at ({zone})",
        "who",
        "actor",
        "what",
        "type",
        "service_id",
        "service",
        "client",
        "detail",
    ]

    def rows():
        names = activity_queries.people(company_id)
        for chunk in keyset_chunks(read, DomainEvent.id):
            for r in chunk:
                yield (
                    r.id,
                    _local(r.occurred_at, zone),
                    activity_queries.describe_actor(r.actor, names),
                    r.actor,
                    activity_queries.LABELS.get(r.type, r.type),
                    r.type,
                    r.service_id,
                    r.service,
                    r.client,
                    activity_queries.detail(r, names),
                )

    return Table("activity", header, rows())
