"""Sending notifications again, when a person asks."""

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.notifications.models import Notification
from webapp.notifications.queries import uncertain_filter
from webapp.pipeline.outbox import unit_of_work
from webapp.pipeline.publishing import enqueue_events

RESENT_UNCERTAIN = "Sent again by a person: its first sender stopped while handing it over."


def resend(company_id: int, ids: list[int] | None = None) -> int:
    """Send failed notifications again (all of the company's when ids is None) by enqueueing
    their events' jobs, which send every unsent notification of the event once. Returns how
    many; if Redis is down nothing is enqueued and the error says so.

    A notification whose delivery is uncertain (its sender stopped mid-hand-over) is sent again
    only when named by id: the recipient may already have it, and only a person can ask.
    """
    in_company = Notification.company_id == company_id
    if ids is None:
        wanted = in_company & (Notification.status == "failed")
    else:
        chosen = in_company & Notification.id.in_(ids)
        wanted = chosen & ((Notification.status == "failed") | uncertain_filter())
    with unit_of_work():
        rows = db.session.execute(
            select(Notification.id, Notification.event_id).where(wanted)
        ).all()
        if ids is not None:
            # Back to "failed" so the event's job may claim it; a failed one keeps its error.
            db.session.execute(
                update(Notification)
                .where(chosen, uncertain_filter())
                .values(status="failed", error=RESENT_UNCERTAIN)
                .execution_options(synchronize_session=False)
            )
    if rows:
        enqueue_events(
            [(event_id, NOTIFICATIONS) for event_id in sorted({r.event_id for r in rows})]
        )
    return len(rows)
