"""Sending the notifications listeners queued (email and webhooks): once each, the failures
kept for a retry.

Each notification is claimed (queued or failed -> sending, the claim's time in sent_at) in its
own short transaction, marked transmitting just before the message itself goes out (for mail,
once the server has answered DATA; for a webhook, once its URL is checked and its host
resolved), and marked sent or failed after it, so two workers never send the same one and a
failure is visible with its error.

A notification that can never be sent as it is (its mail cannot be built, the server refused
its recipient or its message for good, its webhook is gone or its address refused when called)
is marked undeliverable once, with why, and is not retried: a retry would fail the same way,
for ever. Any other failure (a server down, a timeout, a 4xx answer, a bug) is "failed" and
retried with its event's job; it never keeps the event's other notifications from going.

A worker that dies leaves the notification where it was. Still "sending", nothing was handed
over: requeue_stalled() sends it again. "Transmitting", the server may have it: it is not sent
again automatically (a duplicate mail is worse than a missing one an operator can see and
resend: Operations lists it under "Delivery uncertain" once SENDING_STALE_SECONDS have passed).
The transmitting mark is guarded by the claim's time, so a worker that was only slow, whose
claim was taken over meanwhile, stops instead of sending a second copy.
"""

import datetime as dt
import logging
import smtplib
import time

from flask import current_app
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException
from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.notifications import invoice_notices, mailer, webhooks
from webapp.notifications.models import NO_CHANNEL, UNDELIVERABLE, Notification, Webhook
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.outbox import unit_of_work

log = logging.getLogger(__name__)


RETRYABLE = ("queued", "failed")


SENDING, TRANSMITTING = "sending", "transmitting"


class ClaimLost(Exception):
    """Another worker took this notification over (this one was presumed dead)."""


class Undeliverable(Exception):
    """The notification can never be sent as it is: sending it again would fail the same way."""


def unsent() -> list:
    """What an event's job sends (the relay looks for the same, webapp.pipeline.recovery).

    The channels are named, not excluded, so that with no mail server set the look-up reads
    the webhook ones alone, not every queued mail ever made (each kept, visible, until a
    server is set)."""
    channels = (("email",) if mailer.configured() else ()) + webhooks.KINDS
    return [Notification.status.in_(RETRYABLE), Notification.channel.in_(channels)]


def send_for_events(event_ids: list[int], deadline: float | None = None) -> tuple[list[str], bool]:
    """Send the events' unsent notifications; return the errors of those that failed, and
    whether all were tried: none is begun past `deadline` (time.monotonic()), so that the job's
    own timeout never stops one mid-send (webapp.pipeline.delivery).

    Each is tried whatever became of the others: one that fails in a way no rule knows (a
    bug) is logged with its traceback and counted as failed, and the rest still go (before,
    it ended the loop and left them queued behind it). Never-tried ones go first, so one that
    keeps failing slowly (a webhook hanging to its timeout) does not hold them back at each
    retry. Only the job's own timeout stops the loop: its time is up, and what is left waits
    for the job's retry (or, the retries used, is marked failed by the relay:
    webapp.pipeline.recovery)."""
    db.session.rollback()
    ids = db.session.scalars(
        select(Notification.id)
        .where(Notification.event_id.in_(event_ids), *unsent())
        .order_by(Notification.status != "queued", Notification.id)
    ).all()
    db.session.rollback()
    errors = []
    for nid in ids:
        if deadline is not None and time.monotonic() > deadline:
            return errors, False
        try:
            error = _send_one(nid)
        except JobTimeoutException:
            raise
        except Exception as exc:
            log.exception("notification %s could not be sent", nid)
            db.session.rollback()
            error = f"{type(exc).__name__}: {exc}"[:1000]
        if error:
            errors.append(error)
    return errors, True


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
    handed_over = False

    def transmitting():
        nonlocal handed_over
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
        handed_over = True

    try:
        _deliver(notification, transmitting)
    except ClaimLost:
        return None
    except Exception as exc:
        permanent = _permanent(exc)
        known = permanent or _transient(exc)
        if handed_over and not known:
            raise  # the recipient may have it: left transmitting, for a person to judge
        error = str(exc) if isinstance(exc, Undeliverable) else f"{type(exc).__name__}: {exc}"
        if permanent:
            # Once, visibly; the job has nothing left to retry for it.
            _mark(notification_id, status=UNDELIVERABLE, error=f"Cannot be sent: {error}"[:1000])
            log.warning(
                "notification %s to %s cannot be sent: %s",
                notification_id,
                notification.recipient,
                error,
            )
            return None
        # Anything else is retried with the job (a few times, then a person sends it again),
        # never left "sending" to be taken over and fail again for ever.
        _mark(notification_id, status="failed", error=error[:1000])
        log.warning(
            "notification %s to %s failed: %s", notification_id, notification.recipient, error
        )
        if not known:
            raise  # a bug, or the job's time ran out: send_for_events logs it (or stops)
        return error[:1000]
    _mark(notification_id, status="sent", error=None, sent_at=utcnow())
    return None


def _permanent(exc: Exception) -> bool:
    """A failure that sending again would repeat: the message cannot be made (a header the
    email package refuses, text no encoder writes: ValueError, UnicodeError is one), or the
    server answered 5xx to its recipient or to the message itself (RFC 5321 4.2.1)."""
    if isinstance(exc, Undeliverable | ValueError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def _transient(exc: Exception) -> bool:
    return isinstance(exc, OSError | smtplib.SMTPException)


def _deliver(notification: Notification, transmitting) -> None:
    if notification.channel == "email":
        # An invoice's PDF is read and rendered now, outside the guard below: a database that
        # does not answer is retried; a document that cannot be made is a ValueError, and so
        # undeliverable (_permanent).
        files = invoice_notices.mail_attachments(notification)
        try:
            message = mailer.build(notification, files)
        except Exception as exc:  # made from the row alone: it would fail the same way again
            raise Undeliverable(f"its mail cannot be made: {type(exc).__name__}: {exc}") from exc
        mailer.send(message, before_data=transmitting)
        return
    webhook = db.session.get(Webhook, int(notification.recipient.removeprefix("webhook:")))
    if webhook is None:
        raise Undeliverable(f"{notification.recipient} no longer exists")
    if not webhook.active:  # an admin turned it off: nothing more goes there, retries neither
        raise Undeliverable(f"{notification.recipient} is disabled")
    event = db.session.get(DomainEvent, notification.event_id)
    try:
        # HTTP has no DATA step: transmitting once the URL is checked and its host resolved,
        # as the request, once begun, may have arrived; a sender stopped before is "sending".
        webhooks.post(
            webhook,
            notification,
            event,
            before_send=transmitting,
            facts=invoice_notices.webhook_summary(event),
        )
    except webhooks.AddressNotAllowed as exc:
        raise Undeliverable(f"{notification.recipient}: {exc}") from exc


def requeue_stalled() -> int:
    """Send again the notifications a dead worker claimed but never handed over.

    A claim older than SENDING_STALE_SECONDS is presumed dead (a live sender is bounded by the
    mail and webhook timeouts); it becomes failed, with why, and its event's job is enqueued,
    which sends it. Returns how many were taken over.
    """
    from webapp.pipeline.publishing import enqueue_again

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
            enqueue_again([(event_id, NOTIFICATIONS) for event_id in events])
        except RedisError as exc:  # failed and visible; `flask relay` or a retry sends them
            log.warning("Redis unreachable; taken-over notifications wait: %s", exc)
    return len(rows)


# A failed notification's retry lives only in Redis, as its event's job. RQ keeps a job that
# used up its retries for a week (its failure_ttl), so a failed notification tried within the
# retry intervals and this margin whose job Redis has no trace of lost its retry with Redis.
# Older ones wait on Operations, where a person sends them again.
LOST_RETRY_MARGIN = dt.timedelta(hours=1)


def awaiting_their_job(limit: int) -> tuple[list[int], list[int]]:
    """Events whose job is all that would send their unsent notifications: those with queued
    ones, and those with failed ones tried recently enough that a retry may be pending; at
    most `limit` of each, oldest first. The relay enqueues the jobs Redis lost
    (webapp.pipeline.recovery).

    Only notifications older than RELAY_STALE_SECONDS (made, or last tried): a fresh one's job
    was enqueued a moment ago, and looking every pass at each would cost a Redis look-up apiece
    for nothing. Oldest first, as their jobs sit nearest the head of their queues (FIFO), where
    the relay's look-up is shortest; an event further back waits only while older ones with a
    live job are worked off (those whose job gave up leave the set: mark_given_up)."""
    now = utcnow()
    stale = now - dt.timedelta(seconds=current_app.config["RELAY_STALE_SECONDS"])
    intervals = current_app.config["DELIVERY_RETRY_INTERVALS"]
    recent = now - dt.timedelta(seconds=sum(intervals)) - LOST_RETRY_MARGIN

    def events(*where) -> list[int]:
        query = select(Notification.event_id).where(*unsent(), *where).distinct()
        return list(db.session.scalars(query.order_by(Notification.event_id).limit(limit)))

    queued = events(Notification.status == "queued", Notification.created_at < stale)
    failed = events(
        Notification.status == "failed",
        Notification.sent_at >= recent,
        Notification.sent_at < stale,
    )
    db.session.rollback()
    return queued, failed


GAVE_UP = "Not sent: its event's job stopped for good (its retries used) before sending it."
ONCE_MORE = "Its event's job stopped for good before sending it: enqueued once more."


def second_chances(event_ids: list[int]) -> tuple[list[int], list[int]]:
    """Split events whose job RQ gave up on with queued notifications left into those to
    enqueue once more and those whose second chance is used (for mark_given_up).

    Queued means never tried: left out while no mail server was set (and sendable since one
    is), or the job's time ran out before it. A job enqueued again tries those first
    (send_for_events), so one chance more sends them unless no job ever can."""
    if not event_ids:
        return [], []
    used = set(
        db.session.scalars(
            select(Notification.event_id)
            .where(
                Notification.event_id.in_(event_ids),
                Notification.status == "queued",
                Notification.error == ONCE_MORE,
                *unsent(),
            )
            .distinct()
        )
    )
    db.session.rollback()
    return [e for e in event_ids if e not in used], sorted(used)


def note_second_chance(event_ids: list[int]) -> None:
    """Mark the queued notifications whose job was just enqueued once more (second_chances)."""
    if not event_ids:
        return
    with unit_of_work():
        db.session.execute(
            update(Notification)
            .where(Notification.event_id.in_(event_ids), Notification.status == "queued", *unsent())
            .values(error=ONCE_MORE)
            .execution_options(synchronize_session=False)
        )


def mark_given_up(event_ids: list[int]) -> int:
    """The queued notifications of events whose job RQ gave up on twice (retries used, or
    stopped; see second_chances) become failed, with why: no job will send them, so Operations lists them with the failed
    ones, for a person to send again, instead of the relay enqueueing the job for ever. Their
    sent_at stays empty (never tried), so the relay's look for lost retries passes them by.
    Returns how many."""
    if not event_ids:
        return 0
    with unit_of_work():
        marked = db.session.execute(
            update(Notification)
            .where(Notification.event_id.in_(event_ids), Notification.status == "queued", *unsent())
            .values(status="failed", error=GAVE_UP)
            .execution_options(synchronize_session=False)
        ).rowcount
    if marked:
        log.warning("notifications whose job gave up before sending them: %d", marked)
    return marked


def _mark(notification_id: int, **values) -> None:
    with unit_of_work():
        db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
