"""Sending the notifications listeners queued (email and webhooks): once each, the failures kept for a retry.

Each notification is claimed (queued or failed -> sending) in its own short transaction
before the SMTP call and marked sent or failed after it, so two workers never send the same
one and a failure is visible with its error. A crash between the SMTP call and the mark
leaves it "sending"; it is not sent again automatically (a duplicate mail is worse than a
missing one an operator can see and resend).
"""

import logging
import smtplib

from sqlalchemy import select, update

from webapp import mailer, webhooks
from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.models import DomainEvent, Notification, Webhook

log = logging.getLogger(__name__)
RETRYABLE = ("queued", "failed")


def send_for_event(event_id: int) -> list[str]:
    """Send the event's unsent notifications; return the errors of those that failed."""
    db.session.rollback()
    query = select(Notification.id).where(
        Notification.event_id == event_id, Notification.status.in_(RETRYABLE)
    )
    if not mailer.configured():  # email is kept queued: visible, sent once a server is set
        query = query.where(Notification.channel != "email")
    ids = db.session.scalars(query).all()
    db.session.rollback()
    return [error for nid in ids if (error := _send_one(nid))]


def _send_one(notification_id: int) -> str | None:
    begin_write(db.session)
    claimed = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status.in_(RETRYABLE))
        .values(status="sending")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    notification = db.session.get(Notification, notification_id)
    try:
        _deliver(notification)
    except (OSError, smtplib.SMTPException, LookupError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        _mark(notification_id, status="failed", error=error)
        log.warning(
            "notification %s to %s failed: %s", notification_id, notification.recipient, error
        )
        return error
    _mark(notification_id, status="sent", error=None, sent_at=utcnow())
    return None


def _deliver(notification: Notification) -> None:
    if notification.channel == "email":
        mailer.send(mailer.build(notification))
        return
    webhook = db.session.get(Webhook, int(notification.recipient.removeprefix("webhook:")))
    if webhook is None:
        raise LookupError(f"{notification.recipient} no longer exists")
    webhooks.post(webhook, notification, db.session.get(DomainEvent, notification.event_id))


def _mark(notification_id: int, **values) -> None:
    begin_write(db.session)
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
