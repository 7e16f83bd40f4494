"""Notification listeners: decide who is told what, and queue the message.

Each message is a Notification row (one per event, listener and recipient, by a unique
constraint); sending it over email or chat is the notification sender's work.
"""

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Client, ClientService, DomainEvent, Notification, User, Webhook

CLIENT, MANAGER = "client", "manager"


def _notify(event: DomainEvent, listener: str, who: tuple[str, ...], subject: str, body: str):
    service = db.session.get(ClientService, event.service_id)
    client = db.session.get(Client, service.client_id)
    manager = (
        db.session.get(User, service.account_manager_id) if service.account_manager_id else None
    )
    recipients = []
    if CLIENT in who and client.contact_email:
        recipients.append(client.contact_email)
    if MANAGER in who and manager is not None:
        recipients.append(manager.email)
    context = {"service": service.name, "client": client.name, **event.payload}
    channels = [("email", r) for r in dict.fromkeys(recipients)]
    channels += [
        (hook.kind, f"webhook:{hook.id}")
        for hook in db.session.scalars(
            select(Webhook).where(Webhook.company_id == event.company_id, Webhook.active.is_(True))
        )
    ]
    for channel, recipient in channels:
        db.session.add(
            Notification(
                company_id=event.company_id,
                event_id=event.id,
                listener=listener,
                service_id=service.id,
                channel=channel,
                recipient=recipient,
                subject=subject.format(**context),
                body=body.format(**context),
            )
        )


def activated(event):
    _notify(
        event,
        "notify.activated",
        (CLIENT, MANAGER),
        "{service} is now active",
        "{service} for {client} is active from {activated_on}; its term ends on {term_end}.",
    )


def suspended(event):
    _notify(
        event,
        "notify.suspended",
        (CLIENT, MANAGER),
        "{service} has been suspended",
        "{service} for {client} has been suspended. Reason: {reason}",
    )


def cancelled(event):
    _notify(
        event,
        "notify.cancelled",
        (CLIENT, MANAGER),
        "{service} has been cancelled",
        "{service} for {client} is cancelled, effective {effective_on}. Reason: {reason}",
    )


def expired(event):
    _notify(
        event,
        "notify.expired",
        (CLIENT, MANAGER),
        "{service} has expired",
        "{service} for {client} expired; its term ended on {term_end}.",
    )


def renewal_due(event):
    _notify(
        event,
        "notify.renewal_due",
        (CLIENT, MANAGER),
        "{service} renews in {days_before} days",
        "The term of {service} for {client} ends on {term_end}.",
    )


def health_degraded(event):
    _notify(
        event,
        "notify.health_degraded",
        (MANAGER,),
        "Health of {service} fell to {score}",
        "The health score of {service} for {client} fell from {previous_score} to {score}.",
    )
