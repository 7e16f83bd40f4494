"""Sending notifications again, when a person asks; adding, enabling and disabling webhooks."""

import logging

from redis.exceptions import RedisError
from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.notifications import destinations, webhooks
from webapp.notifications.models import UNDELIVERABLE, Notification, Webhook
from webapp.notifications.queries import FAILED, uncertain_filter
from webapp.notifications.sending import TRANSMITTING
from webapp.pipeline.outbox import unit_of_work
from webapp.pipeline.publishing import enqueue_again
from webapp.tenancy import get_or_404, scoped

log = logging.getLogger(__name__)

RESENT_UNCERTAIN = "Sent again by a person: its first sender stopped while handing it over."


def resend(company_id: int, ids: list[int] | None = None) -> int:
    """Send failed (or undeliverable) notifications again (all of the company's when ids is
    None) by enqueueing their events' jobs, which send every unsent notification of the event
    once. Returns how many; if Redis is down nothing is enqueued, nothing changes, and the
    RedisError says so.

    A notification whose delivery is uncertain (its sender stopped mid-hand-over) is sent again
    only when named by id: the recipient may already have it, and only a person can ask.

    The job sends only failed (or queued) ones, so the undeliverable and uncertain ones become
    failed first, committed before their job is enqueued (else it could run before the change
    and skip them); if the enqueue fails they are put back as they were, so an uncertain one
    keeps its warning and "Send all again" does not pick it up afterwards.
    """
    in_company = Notification.company_id == company_id
    failed = Notification.status.in_(FAILED)
    if ids is None:
        wanted = in_company & failed
    else:
        chosen = in_company & Notification.id.in_(ids)
        wanted = chosen & (failed | uncertain_filter())
    started = utcnow()
    with unit_of_work():
        rows = db.session.execute(
            select(
                Notification.id, Notification.event_id, Notification.status, Notification.error
            ).where(wanted)
        ).all()
        # An undeliverable one gets one more try, as a person asks (its cause may be fixed):
        # failed, so the job claims it; its error stays until that try replaces it.
        db.session.execute(
            update(Notification)
            .where(wanted, Notification.status == UNDELIVERABLE)
            .values(status="failed")
            .execution_options(synchronize_session=False)
        )
        if ids is not None:
            # Back to "failed" so the event's job may claim it; a failed one keeps its error.
            db.session.execute(
                update(Notification)
                .where(chosen, uncertain_filter())
                .values(status="failed", error=RESENT_UNCERTAIN)
                .execution_options(synchronize_session=False)
            )
    if not rows:
        return 0
    try:
        enqueue_again(
            [(event_id, NOTIFICATIONS) for event_id in sorted({r.event_id for r in rows})]
        )
    except RedisError:
        _put_back(rows, started)
        raise
    return len(rows)


def _put_back(rows, started) -> None:
    """Undo resend's changes of status, on the rows no sender has claimed since (a claim sets
    sent_at; a job may have run if the enqueue failed only on its way back)."""
    untried = (Notification.status == "failed") & (
        Notification.sent_at.is_(None) | (Notification.sent_at < started)
    )
    undeliverable = [r.id for r in rows if r.status == UNDELIVERABLE]
    with unit_of_work():
        if undeliverable:
            db.session.execute(
                update(Notification)
                .where(Notification.id.in_(undeliverable), untried)
                .values(status=UNDELIVERABLE)
                .execution_options(synchronize_session=False)
            )
        for row in rows:
            if row.status == TRANSMITTING:
                db.session.execute(
                    update(Notification)
                    .where(
                        Notification.id == row.id,
                        untried,
                        Notification.error == RESENT_UNCERTAIN,
                    )
                    .values(status=TRANSMITTING, error=row.error)
                    .execution_options(synchronize_session=False)
                )


class WebhookRefused(ValueError):
    """A webhook that cannot be saved; `field` names what to correct (kind, url or secret)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


MIN_SECRET, MAX_SECRET = 16, 200  # Webhook.secret holds 200


def add_webhook(company_id: int, kind: str, url: str, secret: str | None, actor: str) -> Webhook:
    """A new active webhook for the company, once its URL passed destinations.check (the form
    and `flask webhooks add` both come here)."""
    if kind not in webhooks.KINDS:
        raise WebhookRefused("kind", "Choose Slack, Microsoft Teams or generic.")
    url = (url or "").strip()
    try:
        destinations.check(url)
    except destinations.UrlRefused as refused:
        raise WebhookRefused("url", str(refused)) from None
    secret = (secret or "").strip() if kind == "generic" else ""
    if kind == "generic" and not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise WebhookRefused(
            "secret",
            f"A generic webhook signs what it sends: give the secret its receiver checks, "
            f"{MIN_SECRET} to {MAX_SECRET} characters.",
        )
    if secret and not secret.isprintable():
        raise WebhookRefused("secret", "The secret may not hold control characters.")
    with unit_of_work():
        taken = db.session.scalar(
            scoped(Webhook, company_id).where(Webhook.url == url).with_only_columns(Webhook.id)
        )
        if taken is not None:
            raise WebhookRefused("url", f"Webhook {taken} already posts to this URL.")
        hook = Webhook(company_id=company_id, kind=kind, url=url, secret=secret or None)
        db.session.add(hook)
    log.info("webhook %s (%s) added to company %s by %s", hook.id, kind, company_id, actor)
    return hook


def set_webhook_active(company_id: int, webhook_id: int, active: bool, actor: str) -> Webhook:
    """Turn the webhook on or off: off, it gets no new notifications and no retries of old ones.
    Doing it twice changes nothing."""
    with unit_of_work():
        hook = get_or_404(Webhook, company_id, webhook_id, for_update=True)
        if hook.active != active:
            hook.active = active
            log.info("webhook %s %s by %s", hook.id, "enabled" if active else "disabled", actor)
    return hook
