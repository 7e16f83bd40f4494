"""Notification listeners: decide who is told what, and queue the message.

Each message is a Notification row (one per event, listener and recipient, by a unique
constraint); sending it over email or chat is the notification sender's work.
"""

from sqlalchemy import select

from webapp.accounts import tokens
from webapp.accounts.models import User
from webapp.accounts.permissions import ROLE_LABELS
from webapp.clients.models import Client, Contact
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import UserRole
from webapp.notifications import invoice_notices
from webapp.notifications.models import NO_CHANNEL, NO_RECIPIENT, Notification, Webhook
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService
from webapp.templating import money
from webapp.text import one_line

# Who a notice is for (DESIGN.md, "Who receives what"). The client's contacts by the role the
# notice concerns: CLIENT its primary contacts (lifecycle notices), BILLING its billing contacts
# (prices), TECHNICAL its technical contacts (incidents, where the company turns that on).
CLIENT, BILLING, TECHNICAL = "client", "billing", "technical"
MANAGER, TECHNICIANS, ESCALATION = "manager", "technicians", "escalation"

CONTACT_ROLES = {CLIENT: "primary", BILLING: "billing", TECHNICAL: "technical"}


def _contacts(client_id: int, who: tuple[str, ...]) -> dict[str, list[str]]:
    """The emails of the client's contacts for each contact role in `who`."""
    wanted = [w for w in who if w in CONTACT_ROLES]
    found: dict[str, list[str]] = {w: [] for w in wanted}
    if not wanted:
        return found
    for contact in db.session.scalars(
        select(Contact)
        .where(Contact.client_id == client_id, Contact.email.is_not(None))
        .order_by(Contact.name, Contact.id)
    ):
        for w in wanted:
            if getattr(contact, f"is_{CONTACT_ROLES[w]}"):
                found[w].append(contact.email)
    return found


def _notify(
    event: DomainEvent,
    listener: str,
    who: tuple[str, ...],
    subject: str,
    body: str,
    contact_body: str | None = None,
):
    """Queue the notice for everyone in `who`. `contact_body`: the client's contacts' wording,
    where the team's (`body`) is not for them."""
    service = db.session.get(ClientService, event.service_id)
    client = db.session.get(Client, service.client_id)
    company = db.session.get(Company, event.company_id)
    manager = _active(service.account_manager_id)
    incident = (
        db.session.get(Incident, event.payload["incident_id"])
        if "incident_id" in event.payload
        else None
    )
    if TECHNICAL in who and not company.incident_notices_to_clients:
        who = tuple(w for w in who if w != TECHNICAL)
    contacts = _contacts(client.id, who)
    # In `who` order; `team` holds the MSP's own people and addresses among them.
    recipients, team, missing, client_missing = [], set(), [], []
    for w in who:
        if w in CONTACT_ROLES:
            recipients += contacts[w]
            if not contacts[w]:
                client_missing.append(
                    f"client {client.name} has no {CONTACT_ROLES[w]} contact with an email"
                )
                missing.append(client_missing[-1])
            continue
        if w == MANAGER:
            if manager is not None:
                team.add(manager.email)
            else:
                missing.append("the service has no account manager")
        elif w == TECHNICIANS:
            technicians = _technicians(event.company_id, incident)
            team.update(technicians)
            if not technicians:
                missing.append("the company has no technician")
        elif w == ESCALATION:
            if company.escalation_email:
                team.add(company.escalation_email)
            elif manager is not None:
                team.add(manager.email)
            else:
                missing.append("there is no escalation address and no account manager")
        recipients += sorted(team - set(recipients))
    context = {"service": service.name, "client": client.name, **event.payload}
    if incident is not None:
        context |= {"incident": incident.title, "severity": incident.severity.value}
    _queue(
        event,
        listener,
        service.id,
        recipients,
        team,
        missing,
        client_missing,
        subject.format(**context),
        body.format(**context),
        contact_body.format(**context) if contact_body else None,
    )


def _queue(
    event,
    listener: str,
    service_id: int | None,
    recipients: list[str],
    team: set[str],
    missing: list[str],
    client_missing: list[str],
    subject: str,
    body: str,
    contact_body: str | None,
):
    """A row for each recipient and each active webhook, or the one row saying who was not
    told. `missing`: every recipient that was wanted and not there; `client_missing`: those
    of them that were the client's."""
    channels = [("email", r) for r in dict.fromkeys(recipients)]
    channels += [
        (hook.kind, f"webhook:{hook.id}")
        for hook in db.session.scalars(
            select(Webhook).where(Webhook.company_id == event.company_id, Webhook.active.is_(True))
        )
    ]
    common = {
        "company_id": event.company_id,
        "event_id": event.id,
        "listener": listener,
        "service_id": service_id,
        "subject": subject,
        "body": body,
    }
    for channel, recipient in channels:
        row = Notification(**common, channel=channel, recipient=recipient)
        # Webhooks are the team's channels; someone both on the team and a contact (a test
        # address, say) gets the team's words too.
        if contact_body and channel == "email" and recipient not in team:
            row.body = contact_body
        db.session.add(row)
    # A notice meant for the client that reached none of its contacts is recorded as such
    # (DESIGN.md), even when the manager or a webhook heard of it: the client was not told.
    # One row at most per event and listener, as recipient "" is part of the unique key.
    if not channels:
        missing.append("no webhook is set up")
        error = f"Nobody to tell: {_and(missing)}."
    elif client_missing:
        error = f"The client was not told: {_and(client_missing)}."
    else:
        return
    db.session.add(
        Notification(**common, channel=NO_CHANNEL, recipient="", status=NO_RECIPIENT, error=error)
    )


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


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


def resumed(event):
    _notify(
        event,
        "notify.resumed",
        (CLIENT, MANAGER),
        "{service} has been resumed",
        "{service} for {client} has been resumed and is active again.",
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


def _active(user_id: int | None) -> User | None:
    """The person, unless they are deactivated: they are told nothing more."""
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if user is not None and user.active else None


def _technicians(company_id: int, incident) -> list[str]:
    """The incident's own technician if it has one who can sign in; otherwise every technician
    on the team who can (active, and has chosen a password: an invitation not yet taken is
    nobody to answer an incident)."""
    if incident is not None:
        assignee = _active(incident.assignee_id)
        if assignee is not None and assignee.password_hash is not None:
            return [assignee.email]
    return list(
        db.session.scalars(
            select(User.email)
            .where(
                User.company_id == company_id,
                User.role == UserRole.TECHNICIAN,
                User.active.is_(True),
                User.password_hash.is_not(None),
            )
            .order_by(User.email)
        )
    )


def sla_at_risk(event):
    _notify(
        event,
        "notify.sla_at_risk",
        (MANAGER, TECHNICIANS, TECHNICAL),
        "At risk: {kind} target for {service} (incident #{incident_id})",
        "Incident #{incident_id} on {service} for {client} ({severity}: {incident}) has used "
        "most of its {kind} time. Answer it before the target is breached.",
        # The client's technical contacts are told where it stands, not what the team must do.
        "Incident #{incident_id} on {service} for {client} ({severity}: {incident}) has used "
        "most of its {kind} time; the team is working on it.",
    )


def sla_breached(event):
    _notify(
        event,
        "notify.sla_breached",
        (MANAGER, TECHNICIANS, TECHNICAL),
        "SLA breached: {kind} target for {service} (incident #{incident_id})",
        "Incident #{incident_id} on {service} for {client} ({severity}: {incident}) missed "
        "its {kind} target.",
    )


def price_changed(event):
    _notify(
        event,
        "notify.price_changed",
        (BILLING, MANAGER),
        "New price for {service}: {new_price} {currency}",
        "From {effective_on}, {service} for {client} costs {new_price} {currency} per cycle "
        "({cycle} billing); it was {old_price} {currency}.",
    )


def quantity_changed(event):
    _notify(
        event,
        "notify.quantity_changed",
        (BILLING, MANAGER),
        "{service}: {new_quantity} seats from {effective_on}",
        "From {effective_on}, {service} for {client} has {new_quantity} seats at {unit_price} "
        "{currency} each per cycle ({cycle} billing); it had {old_quantity}. The change for "
        "the rest of the current period is on the next invoice.",
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


def _mail_person(event, listener: str, purpose, subject: str, body: str) -> None:
    """Mail the person a link to choose a password, made now and valid from now. Nobody else
    gets it (no webhook: a chat channel must never see a password link); someone deactivated
    meanwhile gets nothing."""
    user = db.session.get(User, event.payload["user_id"])
    if user is None or not user.active or user.company_id != event.company_id:
        return
    company = db.session.get(Company, event.company_id)
    context = {
        "name": user.name,
        "email": user.email,
        "company": company.name,
        "role": ROLE_LABELS[user.role].lower(),
        "link": tokens.link(purpose, user),
        "lasts": purpose.lasts,
    }
    db.session.add(
        Notification(
            company_id=event.company_id,
            event_id=event.id,
            listener=listener,
            service_id=None,
            channel="email",
            recipient=user.email,
            subject=subject.format(**context),
            body=body.format(**context),
        )
    )


def invitation(event):
    _mail_person(
        event,
        "notify.invitation",
        tokens.INVITATION,
        "You are invited to {company}'s MSP dashboard",
        "Hello {name}, you are invited to sign in to {company}'s MSP dashboard as {role}. "
        "Choose your password here (the link works once, for {lasts}): {link}",
    )


def password_reset(event):
    _mail_person(
        event,
        "notify.password_reset",
        tokens.RESET,
        "Choose a new password for {company}'s MSP dashboard",
        "Hello {name}, a new password was asked for {email}. Choose it here (the link works "
        "once, for {lasts}): {link} If you did not ask for it, ignore this mail: your password "
        "stays as it is.",
    )


def invoice_issued(event):
    _document_notice(event, "notify.invoice_issued")


def credit_note_issued(event):
    _document_notice(event, "notify.credit_note_issued")


def _document_notice(event, listener: str) -> None:
    """Tell the client's billing contacts of an invoice or credit note, and the webhooks. The
    mail carries the document's PDF, made when it is sent (invoice_notices): the row keeps
    the words only. Amounts are as the document reads: a credit note's credited, positive."""
    invoice = invoice_notices.document(event.company_id, int(event.payload["invoice_id"]))
    client = db.session.get(Client, invoice.client_id)
    parties = invoice.parties or {}
    company = (parties.get("company") or {}).get("name", "")
    client_name = (parties.get("client") or {}).get("name", "") or client.name
    sign = -1 if invoice.is_credit_note else 1
    total = money(sign * invoice.total, invoice.currency)
    issued = invoice.issue_date.isoformat()
    if invoice.is_credit_note:
        voided = (
            invoice_notices.document(event.company_id, invoice.credits_invoice_id)
            if invoice.credits_invoice_id is not None
            else None
        )
        against = f" against invoice {voided.number}" if voided is not None else ""
        subject = f"Credit note {invoice.number} from {company}: {total} credited"
        body = (
            f"Credit note {invoice.number} for {client_name}{against}: {total} credited, "
            f"issued {issued}."
        )
        contact_body = (
            f"Please find attached credit note {invoice.number} from {company}{against}, "
            f"issued on {issued}: {total} credited to you."
        )
    else:
        due = invoice.due_date.isoformat()
        subject = f"Invoice {invoice.number} from {company}: {total} due {due}"
        body = f"Invoice {invoice.number} for {client_name}: {total}, issued {issued}, due {due}."
        contact_body = (
            f"Please find attached invoice {invoice.number} from {company}, issued on {issued}: "
            f"{total} ({money(invoice.net_total, invoice.currency)} net and "
            f"{money(invoice.tax_total, invoice.currency)} tax), due on {due}."
        )
    contacts = _contacts(client.id, (BILLING,))[BILLING]
    client_missing = (
        [] if contacts else [f"client {client.name} has no billing contact with an email"]
    )
    _queue(
        event,
        listener,
        None,
        contacts,
        set(),
        list(client_missing),
        client_missing,
        one_line(subject)[:300],
        body,
        contact_body,
    )
