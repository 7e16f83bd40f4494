"""Failed deliveries, as Operations lists them."""

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services.models import ClientService


def failed_delivery_count(company_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            ListenerDelivery.company_id == company_id,
            ListenerDelivery.status == DeliveryStatus.FAILED,
        )
    )


def failed_deliveries(company_id: int):
    """Failed deliveries with their event and its service's name (None for an event about a
    person or a client: an invitation's mail fails like any other)."""
    return db.session.execute(
        select(ListenerDelivery, DomainEvent, ClientService.name)
        .join(DomainEvent, ListenerDelivery.event_id == DomainEvent.id)
        .outerjoin(ClientService, DomainEvent.service_id == ClientService.id)
        .where(
            ListenerDelivery.company_id == company_id,
            ListenerDelivery.status == DeliveryStatus.FAILED,
        )
        .order_by(ListenerDelivery.id)
    ).all()
