"""Notifications as Operations lists them: the failed ones, the ones whose sender stopped while
handing them over, and the ones nobody could be sent; and the company's webhooks."""

import datetime as dt
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.notifications.models import NO_RECIPIENT, UNDELIVERABLE, Notification, Webhook
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService
from webapp.tenancy import scoped

# Failed: retried with the event's job; undeliverable: never, as it would fail the same way.
FAILED = ("failed", UNDELIVERABLE)


def failed(company_id: int, limit: int = 50):
    """Mails and webhook calls that failed, newest first, with their service's name (None for
    mail about a person): RQ's retries may have run out, or they can never be sent as they are
    (undeliverable, their error says why), and then only a person sends them again."""
    return db.session.execute(
        select(Notification, ClientService.name)
        .outerjoin(ClientService, Notification.service_id == ClientService.id)
        .where(Notification.company_id == company_id, Notification.status.in_(FAILED))
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def uncertain_filter():
    """Handed over by a sender that stopped before it heard back (longer ago than any live
    sender takes): the server may or may not have the message, so only a person resends it."""
    stale = utcnow() - dt.timedelta(seconds=current_app.config["SENDING_STALE_SECONDS"])
    return (Notification.status == "transmitting") & (Notification.sent_at < stale)


def uncertain(company_id: int, limit: int = 50):
    """Notifications whose delivery is uncertain (see uncertain_filter), newest first, with their
    service's name."""
    return db.session.execute(
        select(Notification, ClientService.name)
        .outerjoin(ClientService, Notification.service_id == ClientService.id)
        .where(Notification.company_id == company_id, uncertain_filter())
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def no_recipient(company_id: int, limit: int = 50):
    """Notices that had nobody to go to (no contact with the role, no account manager, no
    webhook), newest first, with their service's name and client (id, name): a person adds
    the missing contact, and later notices reach it."""
    # A notice about a client rather than one service (an invoice) names it in its event.
    client_id = func.coalesce(
        ClientService.client_id, DomainEvent.payload["client_id"].as_integer()
    )
    return db.session.execute(
        select(Notification, ClientService.name, Client.id, Client.name)
        .outerjoin(ClientService, Notification.service_id == ClientService.id)
        .join(DomainEvent, Notification.event_id == DomainEvent.id)
        .outerjoin(Client, (Client.id == client_id) & (Client.company_id == company_id))
        .where(Notification.company_id == company_id, Notification.status == NO_RECIPIENT)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def webhooks(company_id: int) -> list[Webhook]:
    """The company's webhooks, oldest first."""
    return list(db.session.scalars(scoped(Webhook, company_id).order_by(Webhook.id)))


def shown_url(url: str) -> str:
    """A webhook's URL as lists show it: its host and the start of its path. Chat webhooks
    carry their credential in the path (anyone with a Slack webhook's URL may post to it)."""
    parts = urlsplit(url)
    path = parts.path if len(parts.path) <= 16 else parts.path[:16] + "…"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"  # never a password
