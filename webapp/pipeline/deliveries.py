"""Failed deliveries: listing them and running them again."""

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.outbox import unit_of_work
from webapp.pipeline.publishing import publish


def failed(company_id: int | None = None) -> list[ListenerDelivery]:
    query = select(ListenerDelivery).where(ListenerDelivery.status == DeliveryStatus.FAILED)
    if company_id is not None:
        query = query.where(ListenerDelivery.company_id == company_id)
    return list(db.session.scalars(query.order_by(ListenerDelivery.id)))


def retry(ids: list[int] | None, company_id: int | None = None) -> int:
    """Set failed deliveries (all when ids is None) back to pending and enqueue them."""
    with unit_of_work():
        query = select(ListenerDelivery).where(ListenerDelivery.status == DeliveryStatus.FAILED)
        if ids is not None:
            query = query.where(ListenerDelivery.id.in_(ids))
        if company_id is not None:
            query = query.where(ListenerDelivery.company_id == company_id)
        rows = list(db.session.scalars(query))
        if not rows:
            return 0
        event_ids = sorted({r.event_id for r in rows})
        db.session.execute(
            update(ListenerDelivery)
            .where(ListenerDelivery.id.in_([r.id for r in rows]))
            .values(status=DeliveryStatus.PENDING)
            .execution_options(synchronize_session=False)
        )
        # Not enqueued until publish() says so: if Redis is down now, the relay sends them later.
        db.session.execute(
            update(DomainEvent).where(DomainEvent.id.in_(event_ids)).values(enqueued_at=None)
        )
    publish(event_ids)
    return len(rows)
