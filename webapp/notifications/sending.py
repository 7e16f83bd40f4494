"""Sending the notifications listeners queued (email and webhooks): once each, the failures kept for a retry.

Each notification is claimed (queued or failed -> sending, the claim's time in sent_at) in its
own short transaction, marked transmitting just before the message itself goes out (for mail,
once the server has answered DATA), and marked sent or failed after it, so two workers never
send the same one and a failure is visible with its error.

A worker that dies leaves the notification where it was. Still "sending", nothing was handed
over: requeue_stalled() sends it again. "Transmitting", the server may have it: it is not sent
again automatically (a duplicate mail is worse than a missing one an operator can see and
resend: Operations lists it under "Delivery uncertain" once SENDING_STALE_SECONDS have passed). The transmitting mark is guarded by the claim's time, so a worker that was only slow,
whose claim was taken over meanwhile, stops instead of sending a second copy.
"""

import datetime as dt
import logging
import smtplib

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.notifications import mailer, webhooks
from webapp.notifications.models import NO_CHANNEL, Notification, Webhook
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.outbox import unit_of_work

log = logging.getLogger(__name__)


RETRYABLE = ("queued", "failed")


SENDING, TRANSMITTING = "sending", "transmitting"


class ClaimLost(Exception):
    """Another worker took this notification over (this one was presumed dead)."""


def send_for_event(event_id: int) -> list[str]:
    """Send the event's unsent notifications; return the errors of those that failed."""
    db.session.rollback()
    query = select(Notification.id).where(
        Notification.event_id == event_id,
        Notification.status.in_(RETRYABLE),
        Notification.channel != NO_CHANNEL,
    )
    if not mailer.configured():  # email is kept queued: visible, sent once a server is set
        query = query.where(Notification.channel != "email")
    ids = db.session.scalars(query).all()
    db.session.rollback()
    return [error for nid in ids if (error := _send_one(nid))]


def _send_one(notification_id: int) -> str | None:
    claimed_at = utcnow()
    with unit_of_work():
        claimed = db.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status.in_(RETRYABLE),
                Notification.channel != NO_CHANNEL,
            )
            .values(status=SENDING, sent_at=claimed_at)
            .execution_options(synchronize_session=False)
        ).rowcount
    if not claimed:
        return None
    notification = db.session.get(Notification, notification_id)

    def transmitting():
        with unit_of_work():
            still_ours = db.session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.status == SENDING,
                    Notification.sent_at == claimed_at,
                )
                .values(status=TRANSMITTING)
                .execution_options(synchronize_session=False)
            ).rowcount
        if not still_ours:
            raise ClaimLost(f"notification {notification_id} was taken over")

    try:
        _deliver(notification, transmitting)
    except ClaimLost:
        return None
    except (OSError, smtplib.SMTPException, LookupError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        _mark(notification_id, status="failed", error=error)
        log.warning(
            "notification %s to %s failed: %s", notification_id, notification.recipient, error
        )
        return error
    _mark(notification_id, status="sent", error=None, sent_at=utcnow())
    return None


def _deliver(notification: Notification, transmitting) -> None:
    if notification.channel == "email":
        mailer.send(mailer.build(notification), before_data=transmitting)
        return
    webhook = db.session.get(Webhook, int(notification.recipient.removeprefix("webhook:")))
    if webhook is None:
        raise LookupError(f"{notification.recipient} no longer exists")
    event = db.session.get(DomainEvent, notification.event_id)
    transmitting()  # HTTP has no DATA step: the request, once begun, may have arrived
    webhooks.post(webhook, notification, event)


def requeue_stalled() -> int:
    """Send again the notifications a dead worker claimed but never handed over.

    A claim older than SENDING_STALE_SECONDS is presumed dead (a live sender is bounded by the
    mail and webhook timeouts); it becomes failed, with why, and its event's job is enqueued,
    which sends it. Returns how many were taken over.
    """
    from webapp.pipeline.publishing import enqueue_events

    stale = utcnow() - dt.timedelta(seconds=current_app.config["SENDING_STALE_SECONDS"])
    with unit_of_work():
        rows = db.session.execute(
            select(Notification.id, Notification.event_id).where(
                Notification.status == SENDING, Notification.sent_at < stale
            )
        ).all()
        if rows:
            db.session.execute(
                update(Notification)
                .where(
                    Notification.id.in_([r.id for r in rows]),
                    Notification.status == SENDING,
                    Notification.sent_at < stale,
                )
                .values(status="failed", error="The sender stopped before handing it over.")
                .execution_options(synchronize_session=False)
            )
    events = sorted({r.event_id for r in rows})
    if events:
        log.warning("notifications taken over from a stopped sender: %d", len(rows))
        try:
            enqueue_events([(event_id, NOTIFICATIONS) for event_id in events])
        except RedisError as exc:  # failed and visible; `flask relay` or a retry sends them
            log.warning("Redis unreachable; taken-over notifications wait: %s", exc)
    return len(rows)


def _mark(notification_id: int, **values) -> None:
    with unit_of_work():
        db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
