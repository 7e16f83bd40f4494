"""Failed deliveries and failed notifications: listing them and sending them again."""

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.outbox import unit_of_work
from webapp.pipeline.publishing import enqueue_events, publish
from webapp.services.models import ClientService


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


def failed_notifications(company_id: int, limit: int = 50):
    """Mails and webhook calls that failed, newest first, with their service's name: RQ's
    retries may have run out, and then only a person sends them again."""
    return db.session.execute(
        select(Notification, ClientService.name)
        .join(ClientService, Notification.service_id == ClientService.id)
        .where(Notification.company_id == company_id, Notification.status == "failed")
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def resend_notifications(company_id: int, ids: list[int] | None = None) -> int:
    """Send failed notifications again (all of the company's when ids is None) by enqueueing
    their events' jobs, which send every unsent notification of the event once. Returns how
    many; if Redis is down nothing changes and the error says so."""
    query = select(Notification.id, Notification.event_id).where(
        Notification.company_id == company_id, Notification.status == "failed"
    )
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    rows = db.session.execute(query).all()
    db.session.rollback()
    if rows:
        enqueue_events(
            [(event_id, NOTIFICATIONS) for event_id in sorted({r.event_id for r in rows})]
        )
    return len(rows)
