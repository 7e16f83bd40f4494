"""What the overview shows: services by status, the live feed and its change stamp."""

from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.activity import queries as activity_queries
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.health import BAND_RANGES, band
from webapp.lifecycle.statuses import RUNNING, DeliveryStatus, ServiceStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert


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


def has_clients(company_id: int) -> bool:
    """Whether the company has any client yet (a new company's overview says how to start)."""
    return (
        db.session.scalar(select(Client.id).where(Client.company_id == company_id).limit(1))
        is not None
    )


def recent_events(company_id: int, limit: int = 12):
    """The latest events, each with its service's name and its client's name and id (None
    where an event is not about one: a person's, an import's)."""
    return db.session.execute(
        activity_queries.with_subjects(
            select(DomainEvent, ClientService.name, Client.name, Client.id)
        )
        .where(DomainEvent.company_id == company_id)
        .order_by(DomainEvent.id.desc())
        .limit(limit)
    ).all()


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
