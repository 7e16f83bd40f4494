"""Sending notifications again, when a person asks; adding, enabling and disabling webhooks."""

import logging

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS
from webapp.notifications import destinations, webhooks
from webapp.notifications.models import UNDELIVERABLE, Notification, Webhook
from webapp.notifications.queries import FAILED, uncertain_filter
from webapp.pipeline.outbox import unit_of_work
from webapp.pipeline.publishing import enqueue_events
from webapp.tenancy import get_or_404, scoped

log = logging.getLogger(__name__)

RESENT_UNCERTAIN = "Sent again by a person: its first sender stopped while handing it over."


def resend(company_id: int, ids: list[int] | None = None) -> int:
    """Send failed (or undeliverable) notifications again (all of the company's when ids is
    None) by enqueueing
    their events' jobs, which send every unsent notification of the event once. Returns how
    many; if Redis is down nothing is enqueued and the error says so.

    A notification whose delivery is uncertain (its sender stopped mid-hand-over) is sent again
    only when named by id: the recipient may already have it, and only a person can ask.
    """
    in_company = Notification.company_id == company_id
    failed = Notification.status.in_(FAILED)
    if ids is None:
        wanted = in_company & failed
    else:
        chosen = in_company & Notification.id.in_(ids)
        wanted = chosen & (failed | uncertain_filter())
    with unit_of_work():
        rows = db.session.execute(
            select(Notification.id, Notification.event_id).where(wanted)
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
    if rows:
        enqueue_events(
            [(event_id, NOTIFICATIONS) for event_id in sorted({r.event_id for r in rows})]
        )
    return len(rows)


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
