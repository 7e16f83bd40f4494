"""Notification listeners: decide who is told what, and queue the message.

Each message is a Notification row (one per event, listener and recipient, by a unique
constraint); sending it over email or chat is the notification sender's work.
"""

from sqlalchemy import select

from webapp.accounts.models import User
from webapp.clients.models import Client, Contact
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification, Webhook
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService

CLIENT, MANAGER, TECHNICIANS, ESCALATION = "client", "manager", "technicians", "escalation"


def _notify(event: DomainEvent, listener: str, who: tuple[str, ...], subject: str, body: str):
    service = db.session.get(ClientService, event.service_id)
    client = db.session.get(Client, service.client_id)
    manager = (
        db.session.get(User, service.account_manager_id) if service.account_manager_id else None
    )
    incident = (
        db.session.get(Incident, event.payload["incident_id"])
        if "incident_id" in event.payload
        else None
    )
    recipients = []
    if CLIENT in who:
        recipients += [
            email
            for (email,) in db.session.execute(
                select(Contact.email).where(
                    Contact.client_id == client.id,
                    Contact.is_primary.is_(True),
                    Contact.email.is_not(None),
                )
            )
        ]
    if MANAGER in who and manager is not None:
        recipients.append(manager.email)
    if TECHNICIANS in who:
        recipients += _technicians(event.company_id, incident)
    if ESCALATION in who:
        company = db.session.get(Company, event.company_id)
        if company.escalation_email:
            recipients.append(company.escalation_email)
        elif manager is not None:
            recipients.append(manager.email)
    context = {"service": service.name, "client": client.name, **event.payload}
    if incident is not None:
        context |= {"incident": incident.title, "severity": incident.severity.value}
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


def _technicians(company_id: int, incident) -> list[str]:
    """The incident's own technician if it has one; otherwise every technician on the team."""
    if incident is not None and incident.assignee_id is not None:
        return [db.session.get(User, incident.assignee_id).email]
    return list(
        db.session.scalars(
            select(User.email).where(
                User.company_id == company_id, User.role == UserRole.TECHNICIAN
            )
        )
    )


def sla_at_risk(event):
    _notify(
        event,
        "notify.sla_at_risk",
        (TECHNICIANS,),
        "At risk: {kind} target for {service} (incident #{incident_id})",
        "Incident #{incident_id} on {service} for {client} ({severity}: {incident}) has used "
        "most of its {kind} time. Answer it before the target is breached.",
    )


def sla_breached(event):
    _notify(
        event,
        "notify.sla_breached",
        (MANAGER, TECHNICIANS),
        "SLA breached: {kind} target for {service} (incident #{incident_id})",
        "Incident #{incident_id} on {service} for {client} ({severity}: {incident}) missed "
        "its {kind} target.",
    )


def escalated(event):
    _notify(
        event,
        "notify.escalated",
        (ESCALATION,),
        "Escalated: an SLA alert on {service} unanswered for {waited_minutes} minutes",
        "SLA alert #{alert_id} on {service} for {client} has not been acknowledged for "
        "{waited_minutes} minutes.",
    )


def health_degraded(event):
    _notify(
        event,
        "notify.health_degraded",
        (MANAGER,),
        "Health of {service} fell to {score}",
        "The health score of {service} for {client} fell from {previous_score} to {score}.",
    )


def cancellation_scheduled(event):
    _notify(
        event,
        "notify.cancellation_scheduled",
        (CLIENT, MANAGER),
        "{service} will end on {effective_on}",
        "{service} for {client} is cancelled at the end of its term: it runs until "
        "{effective_on}. Reason: {reason}",
    )


def cancellation_undone(event):
    _notify(
        event,
        "notify.cancellation_undone",
        (CLIENT, MANAGER),
        "{service} will carry on",
        "The cancellation of {service} for {client} on {effective_on} has been withdrawn; "
        "the service carries on.",
    )


def invitation(event):
    raise NotImplementedError  # the people feature sends it


def password_reset(event):
    raise NotImplementedError  # the people feature sends it
