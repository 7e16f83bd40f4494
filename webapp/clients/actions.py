"""Changes to clients and their contacts: one unit of work each, recorded with its event
(service_id None), so the activity trail has who changed what.

Clients are never deleted (their services, incidents and revenue refer to them): archiving
hides one from the lists and pickers, and is refused while any of its services still runs.
"""

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from webapp.clients.models import Client, Contact
from webapp.clients.queries import live_services
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle import events as ev
from webapp.pipeline.outbox import record, unit_of_work
from webapp.tenancy import NotFound, get_or_404


class ClientRefused(Exception):
    """A change to a client that was not made. `field` names the input at fault, when one
    is; otherwise it is shown as a 409 with its message."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ClientFields:
    name: str
    external_id: str | None = None
    address: str | None = None
    payment_terms_days: int | None = None  # None: the company's default
    tax_rate: Decimal | None = None  # None: the company's rate
    country: str | None = None  # ISO 3166-1 alpha-2 (webapp.countries)
    vat_id: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class ContactFields:
    name: str
    email: str | None = None
    phone: str | None = None
    is_primary: bool = False
    is_billing: bool = False
    is_technical: bool = False


def _check_unique(company_id: int, fields: ClientFields, client_id: int | None) -> None:
    """Import matches clients by external id, people by name: neither may be ambiguous."""
    others = [Client.company_id == company_id]
    if client_id is not None:
        others.append(Client.id != client_id)
    named = db.session.scalars(
        select(Client).where(*others, func.lower(Client.name) == fields.name.lower()).limit(1)
    ).first()
    if named is not None:
        where = " (archived: restore it instead)" if named.archived else ""
        raise ClientRefused(f"There is a client named {named.name} already{where}.", "name")
    if fields.external_id and db.session.scalar(
        select(Client.id).where(*others, Client.external_id == fields.external_id).limit(1)
    ):
        raise ClientRefused(
            f"Another client has the external id {fields.external_id}.", "external_id"
        )


def create_client(company_id: int, fields: ClientFields, actor: str) -> Client:
    with unit_of_work():
        _check_unique(company_id, fields, None)
        client = Client(company_id=company_id, **dataclasses.asdict(fields))
        db.session.add(client)
        db.session.flush()
        record(ev.ClientCreated(None, client.id, client.name), company_id, actor)
    return client


def _as_text(value) -> str | None:
    if value is None or value == "":
        return None
    return f"{value:f}" if isinstance(value, Decimal) else str(value)


def _same(old, new) -> bool:
    """Equal as stored: "" and None alike, 20 and 20.00 the same rate."""
    old, new = (None if v == "" else v for v in (old, new))
    return old == new


def update_client(company_id: int, client_id: int, fields: ClientFields, actor: str) -> dict:
    """Save the fields that differ; returns them ({field: [old, new]} as text), recorded in
    ClientUpdated. Nothing differing: nothing recorded."""
    with unit_of_work():
        client = get_or_404(Client, company_id, client_id, for_update=True)
        _check_unique(company_id, fields, client.id)
        changes = {}
        for name, new in dataclasses.asdict(fields).items():
            old = getattr(client, name)
            if _same(old, new):
                continue
            changes[name] = [_as_text(old), _as_text(new)]
            setattr(client, name, new)
        if changes:
            record(ev.ClientUpdated(None, client.id, changes), company_id, actor)
    return changes


def archive_client(company_id: int, client_id: int, actor: str) -> bool:
    """Archive the client; False if it was archived already. Refused while any of its
    services is pending, active or suspended."""
    with unit_of_work():
        client = get_or_404(Client, company_id, client_id, for_update=True)
        if client.archived:
            return False
        live = live_services(company_id, client.id)
        if live:
            raise ClientRefused(
                f"{client.name} cannot be archived: {live} of its services "
                f"{'is' if live == 1 else 'are'} pending, active or suspended. "
                "Cancel them, or let them end, first."
            )
        client.archived_at = utcnow()
        record(ev.ClientArchived(None, client.id), company_id, actor)
    return True


def restore_client(company_id: int, client_id: int, actor: str) -> bool:
    """Bring an archived client back to the lists and pickers; False if it was not archived."""
    with unit_of_work():
        client = get_or_404(Client, company_id, client_id, for_update=True)
        if not client.archived:
            return False
        client.archived_at = None
        record(ev.ClientRestored(None, client.id), company_id, actor)
    return True


def contact_of(company_id: int, client_id: int, contact_id: int) -> Contact:
    contact = get_or_404(Contact, company_id, contact_id)
    if contact.client_id != client_id:  # another client's contact, in the same company
        raise NotFound(f"No contact {contact_id} at client {client_id}.")
    return contact


def save_contact(
    company_id: int,
    client_id: int,
    fields: ContactFields,
    actor: str,
    contact_id: int | None = None,
) -> Contact:
    """Add a contact (contact_id None) or change one; a change that changes nothing is not
    recorded."""
    with unit_of_work():
        client = get_or_404(Client, company_id, client_id)
        if contact_id is None:
            contact = Contact(company_id=company_id, client_id=client.id)
            db.session.add(contact)
            changed = True
        else:
            contact = contact_of(company_id, client.id, contact_id)
            changed = any(
                getattr(contact, name) != value
                for name, value in dataclasses.asdict(fields).items()
            )
        for name, value in dataclasses.asdict(fields).items():
            setattr(contact, name, value)
        db.session.flush()
        if changed:
            event = ev.ContactSaved(None, client.id, contact.id, contact.name, contact.roles)
            record(event, company_id, actor)
    return contact


def remove_contact(company_id: int, client_id: int, contact_id: int, actor: str) -> str:
    """Delete the contact (notices already sent keep their recipient); returns its name."""
    with unit_of_work():
        client = get_or_404(Client, company_id, client_id)
        contact = contact_of(company_id, client.id, contact_id)
        name = contact.name
        db.session.delete(contact)
        record(ev.ContactRemoved(None, client.id, contact_id, name), company_id, actor)
    return name
