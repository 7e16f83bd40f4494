"""Sending the notifications listeners queued: once each, the failures kept for a retry.

Each notification is claimed (queued or failed -> sending) in its own short transaction
before the SMTP call and marked sent or failed after it, so two workers never send the same
one and a failure is visible with its error. A crash between the SMTP call and the mark
leaves it "sending"; it is not sent again automatically (a duplicate mail is worse than a
missing one an operator can see and resend).
"""

import logging
import smtplib

from sqlalchemy import select, update

from webapp import mailer
from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.models import Notification

log = logging.getLogger(__name__)
RETRYABLE = ("queued", "failed")


def send_for_event(event_id: int) -> list[str]:
    """Send the event's unsent email notifications; return the errors of those that failed."""
    if not mailer.configured():
        return []  # kept queued: visible, and sent once a mail server is configured
    db.session.rollback()
    ids = db.session.scalars(
        select(Notification.id).where(
            Notification.event_id == event_id,
            Notification.channel == "email",
            Notification.status.in_(RETRYABLE),
        )
    ).all()
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
        mailer.send(mailer.build(notification))
    except (OSError, smtplib.SMTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        _mark(notification_id, status="failed", error=error)
        log.warning(
            "notification %s to %s failed: %s", notification_id, notification.recipient, error
        )
        return error
    _mark(notification_id, status="sent", error=None, sent_at=utcnow())
    return None


def _mark(notification_id: int, **values) -> None:
    begin_write(db.session)
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
