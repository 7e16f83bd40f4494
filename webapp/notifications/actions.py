"""Sending failed notifications again, when a person asks."""

from sqlalchemy import select

from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.notifications.models import Notification
from webapp.pipeline.publishing import enqueue_events


def resend(company_id: int, ids: list[int] | None = None) -> int:
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
