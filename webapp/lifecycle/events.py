"""Domain events: frozen facts, named in the past tense, that background listeners act on.

Each event carries ids and plain values only (never objects), so it can be stored as JSON in the
outbox and rebuilt in a worker with from_payload().
"""

import dataclasses
import datetime as dt
import types
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Event:
    service_id: int | None  # None for a change not about one service (see the last section)

    @property
    def name(self) -> str:
        return type(self).__name__

    def payload(self) -> dict:
        return {k: _to_json(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_payload(cls, payload: dict) -> "Event":
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        return cls(**{k: _from_json(hints[k], v) for k, v in payload.items() if k in hints})


@dataclass(frozen=True)
class ServiceProvisioned(Event):
    client_id: int
    price: Decimal
    currency: str
    billing_cycle: str


@dataclass(frozen=True)
class ServiceActivated(Event):
    activated_on: dt.date
    term_end: dt.date


@dataclass(frozen=True)
class ServiceSuspended(Event):
    reason: str


@dataclass(frozen=True)
class ServiceResumed(Event):
    paused_days: int


@dataclass(frozen=True)
class ServiceCancelled(Event):
    reason: str
    effective_on: dt.date
    at_term_end: bool


@dataclass(frozen=True)
class ServiceRenewed(Event):
    months: int
    term_end: dt.date


@dataclass(frozen=True)
class ServiceExpired(Event):
    term_end: dt.date


@dataclass(frozen=True)
class ServicePriceChanged(Event):
    """A new unit price per cycle from its day. The invoicing settles the rest of the period
    from this event. `adjustment`, `period_start` and `period_end` hold the prorated amount
    that events recorded before invoicing worked out at the change; None on new ones."""

    old_price: Decimal
    new_price: Decimal
    currency: str
    cycle: str
    effective_on: dt.date
    note: str
    adjustment: Decimal | None
    period_start: dt.date | None
    period_end: dt.date | None
    # What the invoicing reads (webapp.lifecycle.invoicing): the seats in force with the new
    # price, and the service's version after the change (the order in which changes became
    # known, against the version a period's line was priced at).
    quantity: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class ServiceQuantityChanged(Event):
    """A new number of seats (units) from its day; the unit price stays. Billed like a price
    change: a prorated adjustment for the rest of the period, on the next invoice."""

    old_quantity: int
    new_quantity: int
    unit_price: Decimal
    currency: str
    cycle: str
    effective_on: dt.date
    note: str
    version: int


@dataclass(frozen=True)
class ServiceCancellationScheduled(Event):
    """Cancelled at the end of its term: it keeps running, billing and its SLA until then."""

    reason: str
    effective_on: dt.date
    # Whether it renewed automatically before: scheduling turns that off, undoing restores it.
    auto_renew: bool = False


@dataclass(frozen=True)
class ServiceCancellationUndone(Event):
    effective_on: dt.date  # the date it would have ended


@dataclass(frozen=True)
class ServiceImported(Event):
    """A service brought from another tool in its present status (pending, active or
    suspended), with its own dates; its billing starts as it was, and the client is not told."""

    client_id: int
    status: str
    price: Decimal
    quantity: int
    currency: str
    billing_cycle: str
    start_date: dt.date
    term_end: dt.date
    next_bill_date: dt.date | None
    external_id: str | None


@dataclass(frozen=True)
class InvoiceIssued(Event):
    """An invoice (or, as CreditNoteIssued, a credit note) issued by a bill run or by voiding:
    its PDF is mailed to the client's billing contacts."""

    invoice_id: int
    client_id: int
    number: str
    currency: str
    total: Decimal
    issue_date: dt.date


@dataclass(frozen=True)
class CreditNoteIssued(InvoiceIssued):
    credits_invoice_id: int | None = None  # the invoice it voids, if it voids one


@dataclass(frozen=True)
class InvoicePaid(Event):
    invoice_id: int
    client_id: int
    number: str
    paid_on: dt.date
    reference: str


@dataclass(frozen=True)
class BillRunCompleted(Event):
    bill_run_id: int
    run_date: dt.date
    invoices: int
    credit_notes: int


@dataclass(frozen=True)
class ServiceAccountManagerChanged(Event):
    old_manager_id: int | None
    new_manager_id: int | None


@dataclass(frozen=True)
class ServiceDueForRenewal(Event):
    term_end: dt.date
    days_before: int


@dataclass(frozen=True)
class ServiceSLABreached(Event):
    incident_id: int
    kind: str  # "response" or "resolution"


@dataclass(frozen=True)
class ServiceSLAAtRisk(Event):
    """An incident's clock reached the policy's warning threshold (80% by default)."""

    incident_id: int
    kind: str  # "response" or "resolution"


@dataclass(frozen=True)
class ServiceAlertEscalated(Event):
    """An SLA alert stayed unacknowledged past the company's escalation time."""

    alert_id: int
    waited_minutes: int


@dataclass(frozen=True)
class ServiceSLAChanged(Event):
    """Someone changed the service's own SLA policy; None is the service level's default."""

    response_minutes: int | None
    resolution_minutes: int | None
    availability_target: str | None  # a decimal percentage, as text
    warning_percent: int | None
    around_the_clock: bool | None


@dataclass(frozen=True)
class ServiceHealthDegraded(Event):
    previous_score: int
    score: int


# Changes to clients and people: not about one service (service_id is None). They are in the
# outbox for the same reasons as the rest: the activity trail, and mail sent exactly once.


@dataclass(frozen=True)
class ClientCreated(Event):
    client_id: int
    client_name: str


@dataclass(frozen=True)
class ClientUpdated(Event):
    client_id: int
    changes: dict  # field: [old, new], as text


@dataclass(frozen=True)
class ClientArchived(Event):
    client_id: int


@dataclass(frozen=True)
class ClientRestored(Event):
    client_id: int


@dataclass(frozen=True)
class ContactSaved(Event):
    client_id: int
    contact_id: int
    contact_name: str
    roles: list


@dataclass(frozen=True)
class ContactRemoved(Event):
    client_id: int
    contact_id: int
    contact_name: str


@dataclass(frozen=True)
class AssetCreated(Event):
    client_id: int
    asset_id: int
    asset_name: str


@dataclass(frozen=True)
class AssetUpdated(Event):
    client_id: int
    asset_id: int
    changes: dict  # field: [old, new], as text ("identifiers": the folded values)


@dataclass(frozen=True)
class AssetRetired(Event):
    client_id: int
    asset_id: int
    asset_name: str


@dataclass(frozen=True)
class AssetReactivated(Event):
    client_id: int
    asset_id: int
    asset_name: str


@dataclass(frozen=True)
class ServiceCoverageChanged(Event):
    """A service covers an asset from now on (covered) or no longer."""

    client_id: int
    asset_id: int
    asset_name: str
    covered: bool


@dataclass(frozen=True)
class ImportCommitted(Event):
    kind: str  # clients, contacts, services or assets
    filename: str
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class UserInvited(Event):
    user_id: int
    email: str
    role: str


@dataclass(frozen=True)
class UserRoleChanged(Event):
    user_id: int
    email: str
    old_role: str
    new_role: str


@dataclass(frozen=True)
class UserDeactivated(Event):
    user_id: int
    email: str


@dataclass(frozen=True)
class UserReactivated(Event):
    user_id: int
    email: str


@dataclass(frozen=True)
class PasswordResetRequested(Event):
    """A reset link is mailed; asked for by the person ("forgot") or by an admin."""

    user_id: int
    email: str


@dataclass(frozen=True)
class PasswordChanged(Event):
    user_id: int
    email: str
    how: str  # "changed", "reset" or "invitation"


@dataclass(frozen=True)
class SignedOutEverywhere(Event):
    user_id: int
    email: str


def _to_json(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _from_json(hint, value):
    if value is None:
        return None
    if isinstance(hint, types.UnionType):  # "Decimal | None": the value is the non-None kind
        hint = next(h for h in hint.__args__ if h is not type(None))
    if hint in (dt.date, "dt.date"):
        return dt.date.fromisoformat(value)
    if hint in (Decimal, "Decimal"):
        return Decimal(value)
    return value
