"""The audit trail: who did what, read from the domain events (each carries its actor).

Events are written in the same transaction as the change they record, so the trail cannot miss
a change or show one that was rolled back. Pages go back in time by id ("older than event N"),
which stays as fast on the millionth event as on the first, unlike an offset.
"""

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, not_, or_, select

from webapp.accounts.models import User
from webapp.accounts.permissions import ROLE_LABELS
from webapp.clients.models import Client
from webapp.date_range import DateRange
from webapp.extensions import db
from webapp.lifecycle.registry import EVENT_TYPES
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent
from webapp.query_args import id_arg
from webapp.services.models import ClientService
from webapp.services.queries import of_client

PER_PAGE = 50

# What the scheduler and the workers record as actor, as a person reads it.
AUTOMATIC = {
    "scheduler": "Scheduler",
    "sla": "SLA clock",
    "health": "Health check",
}


LABELS = {
    "ServiceProvisioned": "provisioned",
    "ServiceActivated": "activated",
    "ServiceSuspended": "suspended",
    "ServiceResumed": "resumed",
    "ServiceCancelled": "cancelled",
    "ServiceRenewed": "renewed",
    "ServiceExpired": "expired",
    "ServiceDueForRenewal": "renewal reminder",
    "ServiceSLAAtRisk": "SLA at risk",
    "ServiceSLABreached": "SLA breached",
    "ServiceAlertEscalated": "alert escalated",
    "ServiceHealthDegraded": "health degraded",
    "ServiceSLAChanged": "SLA policy changed",
    "ServicePriceChanged": "price changed",
    "ServiceQuantityChanged": "seats changed",
    "ServiceImported": "imported",
    "ImportCommitted": "import committed",
    "ServiceCancellationScheduled": "cancellation scheduled",
    "ServiceCancellationUndone": "cancellation undone",
    "ServiceAccountManagerChanged": "account manager changed",
    "ClientCreated": "client created",
    "ClientUpdated": "client updated",
    "ClientArchived": "client archived",
    "ClientRestored": "client restored",
    "ContactSaved": "contact saved",
    "ContactRemoved": "contact removed",
    "AssetCreated": "asset added",
    "AssetUpdated": "asset updated",
    "AssetRetired": "asset retired",
    "AssetReactivated": "asset reactivated",
    "ServiceCoverageChanged": "coverage changed",
    "UserInvited": "person invited",
    "UserRoleChanged": "role changed",
    "UserDeactivated": "person deactivated",
    "UserReactivated": "person reactivated",
    "PasswordResetRequested": "password reset requested",
    "PasswordChanged": "password changed",
    "SignedOutEverywhere": "signed out everywhere",
    "InvoiceIssued": "invoice issued",
    "CreditNoteIssued": "credit note issued",
    "InvoicePaid": "invoice paid",
    "BillRunCompleted": "bill run",
}

# Events about a client rather than one service (service_id is None): their client is in the
# payload, which is how the trail names it and how the client filter finds them.
CLIENT_EVENTS = frozenset(
    name
    for name, cls in EVENT_TYPES.items()
    if "client_id" in {field.name for field in dataclasses.fields(cls)}
)


WHO_CHOICES = (("", "Anyone"), ("people", "People"), ("api", "API tokens"), ("auto", "Automatic"))


@dataclass(frozen=True)
class TrailQuery:
    who: str = ""  # "", "people", "api", "auto" or one person's user id
    what: str = ""  # an event type, or "" for any
    client: int | None = None
    occurred: DateRange = DateRange()  # on occurred_at, as days in the company's time zone

    @classmethod
    def from_args(cls, args) -> "TrailQuery":
        """The filters from a query string (the page's, or its CSV download's)."""
        return cls(
            who=args.get("who", "")[:20],
            what=args.get("what", "")[:60],
            client=id_arg(args, "client"),
            occurred=DateRange.from_args(args),
        )

    @property
    def args(self) -> dict:
        """The filters as the query string carries them."""
        return {
            "who": self.who or None,
            "what": self.what or None,
            "client": self.client,
            **self.occurred.args,
        }


@dataclass(frozen=True)
class Entry:
    event: DomainEvent
    service_name: str | None  # None: not about one service (a client, a person, an import)
    client_name: str | None
    client_id: int | None
    who: str
    what: str
    detail: str


@dataclass(frozen=True)
class TrailPage:
    entries: list[Entry]
    older_than: int | None  # the id to ask for the next (older) page with, if there is one


def _actor_prefix(prefix: str):
    # A range rather than LIKE: both databases walk an index with it, whatever the collation.
    return and_(
        DomainEvent.actor >= prefix, DomainEvent.actor < prefix[:-1] + chr(ord(prefix[-1]) + 1)
    )


def _who_filter(who: str):
    if who == "people":
        return _actor_prefix("user:")
    if who == "api":
        return _actor_prefix("api:")
    if who == "auto":
        return not_(or_(_actor_prefix("user:"), _actor_prefix("api:")))
    # One person: "user:<id> <email>" (the email as it was then). ASCII only: int() refuses
    # some characters isdigit() takes ("²").
    if who.isascii() and who.isdigit():
        return _actor_prefix(f"user:{int(who)} ")
    return None


def event_filters(company_id: int, trail: TrailQuery, zone: str = "UTC") -> list:
    """The conditions of the filters, the same for the page and its CSV export."""
    filters = [DomainEvent.company_id == company_id]
    if (condition := _who_filter(trail.who)) is not None:
        filters.append(condition)
    if trail.what in EVENT_TYPES:
        filters.append(DomainEvent.type == trail.what)
    if trail.client:
        filters.append(
            or_(
                of_client(DomainEvent.service_id, company_id, trail.client),
                # Few, and found through the service_id index (IS NULL) before the payload
                # is read: the client's own events, its contacts' and its archiving.
                and_(
                    DomainEvent.service_id.is_(None),
                    DomainEvent.type.in_(sorted(CLIENT_EVENTS)),
                    _payload_client() == trail.client,
                ),
            )
        )
    return filters + trail.occurred.on_times(DomainEvent.occurred_at, zone)


def _payload_client():
    return DomainEvent.payload["client_id"].as_integer()


def with_subjects(query):
    """`query` (on domain_events) joined to what each event is about: its service if it has
    one, and the client, the service's or (for a client's own events) the payload's. Outer
    joins: a person's or an import's events have neither."""
    return query.outerjoin(ClientService, DomainEvent.service_id == ClientService.id).outerjoin(
        Client,
        and_(
            Client.id == func.coalesce(ClientService.client_id, _payload_client()),
            Client.company_id == DomainEvent.company_id,
        ),
    )


def page(
    company_id: int,
    trail: TrailQuery = TrailQuery(),
    older_than: int | None = None,
    zone: str = "UTC",
) -> TrailPage:
    query = (
        with_subjects(select(DomainEvent, ClientService.name, Client.name, Client.id))
        .where(*event_filters(company_id, trail, zone))
        .order_by(DomainEvent.id.desc())
        .limit(PER_PAGE + 1)
    )
    if older_than:
        query = query.where(DomainEvent.id < older_than)
    rows = db.session.execute(query).all()
    names = _people(
        company_id,
        [event.actor for event, *_ in rows],
        [i for event, *_ in rows for i in _people_named(event)],
    )
    entries = [
        Entry(
            event,
            service_name,
            client_name,
            client_id,
            describe_actor(event.actor, names),
            LABELS.get(event.type, event.type),
            detail(event, names),
        )
        for event, service_name, client_name, client_id in rows[:PER_PAGE]
    ]
    return TrailPage(entries, rows[PER_PAGE - 1][0].id if len(rows) > PER_PAGE else None)


def people(company_id: int) -> dict[int, str]:
    """Every user of the company by id: for an export, one read instead of one per chunk."""
    return dict(
        db.session.execute(select(User.id, User.name).where(User.company_id == company_id)).all()
    )


def _people_named(event) -> list[int]:
    """Users an event's details name by id (besides its actor)."""
    p = event.payload or {}
    if event.type == "ServiceAccountManagerChanged":
        return [i for i in (p.get("old_manager_id"), p.get("new_manager_id")) if i]
    return []


def _people(company_id: int, actors: list[str], more: list[int] = ()) -> dict[int, str]:
    ids = ({_user_id(a) for a in actors} | set(more)) - {None}
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(User.id, User.name).where(User.company_id == company_id, User.id.in_(ids))
        ).all()
    )


def _user_id(actor: str) -> int | None:
    kind = actor.partition(" ")[0]
    if kind.startswith("user:") and kind[5:].isdigit():
        return int(kind[5:])
    return None


def describe_actor(actor: str, names: dict[int, str]) -> str:
    """ "user:3 tess@example.com" -> "Tess (tess@example.com)"; "api:prometheus" -> "API token
    prometheus"; the automatic ones by name; anything else as recorded."""
    user_id = _user_id(actor)
    if user_id is not None:
        email = actor.partition(" ")[2]
        name = names.get(user_id)
        return f"{name} ({email})" if name else email or actor
    if actor.startswith("api:"):
        return f"API token {actor[4:]}"
    return AUTOMATIC.get(actor, actor)


def _role(value) -> str:
    try:
        return ROLE_LABELS[UserRole(value)].lower()
    except ValueError:
        return str(value)


def _manager(user_id, names: dict[int, str]) -> str:
    return "nobody" if not user_id else names.get(user_id, f"user {user_id}")


def detail(event, names: dict[int, str] | None = None) -> str:
    """The facts of the change a person looks for, in a few words (`event`: a DomainEvent, or
    a row with its type and payload; `names`: people by id, for the events that name some)."""
    p = event.payload or {}
    names = names or {}
    match event.type:
        case "ServiceCancellationScheduled":
            return f"ends on {p.get('effective_on')}, reason: {p.get('reason')}"
        case "ServiceCancellationUndone":
            return f"no longer ends on {p.get('effective_on')}"
        case "ServiceAccountManagerChanged":
            old, new = p.get("old_manager_id"), p.get("new_manager_id")
            return f"{_manager(old, names)} → {_manager(new, names)}"
        case "ClientCreated":
            return f"created {p.get('client_name')}"
        case "ClientUpdated":
            changes = p.get("changes") or {}
            return ", ".join(
                f"{field.replace('_', ' ')}: {_text(old)} → {_text(new)}"
                for field, (old, new) in sorted(changes.items())
            )
        case "ContactSaved":
            roles = ", ".join(p.get("roles") or []) or "no role"
            return f"{p.get('contact_name')} ({roles})"
        case "ContactRemoved":
            return f"removed {p.get('contact_name')}"
        case "AssetCreated" | "AssetRetired" | "AssetReactivated":
            return str(p.get("asset_name"))
        case "AssetUpdated":
            changes = p.get("changes") or {}
            return ", ".join(
                f"{field.replace('_', ' ')}: {_text(old)} → {_text(new)}"
                for field, (old, new) in sorted(changes.items())
            )
        case "ServiceCoverageChanged":
            return f"{'covers' if p.get('covered') else 'no longer covers'} {p.get('asset_name')}"
        case "UserInvited":
            return f"invited {p.get('email')} as {_role(p.get('role'))}"
        case "UserRoleChanged":
            old, new = _role(p.get("old_role")), _role(p.get("new_role"))
            return f"{p.get('email')}: {old} → {new}"
        case "UserDeactivated":
            return f"deactivated {p.get('email')}"
        case "UserReactivated":
            return f"reactivated {p.get('email')}"
        case "PasswordResetRequested":
            return f"reset link mailed to {p.get('email')}"
        case "PasswordChanged":
            how = {
                "changed": "changed their password",
                "reset": "set a new password from a reset link",
                "invitation": "chose a password from their invitation",
            }.get(p.get("how"), "password changed")
            return f"{p.get('email')} {how}"
        case "SignedOutEverywhere":
            return f"every session of {p.get('email')} ended"
        case "ServiceSuspended":
            return f"reason: {p.get('reason')}"
        case "ServiceCancelled":
            when = "at term end" if p.get("at_term_end") else "now"
            return f"{when} ({p.get('effective_on')}), reason: {p.get('reason')}"
        case "ServiceRenewed":
            return f"{p.get('months')} months, term ends {p.get('term_end')}"
        case "ServiceExpired":
            return f"term ended {p.get('term_end')}"
        case "ServiceActivated":
            return f"term ends {p.get('term_end')}"
        case "ServiceResumed":
            return f"after {p.get('paused_days')} days paused"
        case "ServiceHealthDegraded":
            return f"score {p.get('previous_score')} → {p.get('score')}"
        case "ServiceDueForRenewal":
            return f"{p.get('days_before')} days before {p.get('term_end')}"
        case "ServiceSLAAtRisk" | "ServiceSLABreached":
            return f"{p.get('kind')} target, incident {p.get('incident_id')}"
        case "ServiceAlertEscalated":
            return f"unanswered for {p.get('waited_minutes')} min"
        case "ServicePriceChanged":
            change = f"{p.get('old_price')} → {p.get('new_price')} {p.get('currency', '')}".strip()
            if p.get("adjustment") is not None:
                change += f", {Decimal(p['adjustment']):+.2f} on the next bill"
            return change + (f" ({p['note']})" if p.get("note") else "")
        case "ServiceQuantityChanged":
            change = (
                f"{p.get('old_quantity')} → {p.get('new_quantity')} seats at "
                f"{p.get('unit_price')} {p.get('currency', '')}"
            ).strip()
            return change + (f" ({p['note']})" if p.get("note") else "")
        case "ServiceImported":
            bill = f", next bill {p['next_bill_date']}" if p.get("next_bill_date") else ""
            return (
                f"{p.get('status')}, {p.get('quantity')} × {p.get('price')} {p.get('currency')} "
                f"{p.get('billing_cycle')}{bill}"
            )
        case "InvoiceIssued" | "CreditNoteIssued":
            return f"{p.get('number')}: {p.get('total')} {p.get('currency')}, {p.get('issue_date')}"
        case "InvoicePaid":
            return f"{p.get('number')} paid on {p.get('paid_on')}, reference {_text(p.get('reference'))}"
        case "BillRunCompleted":
            return (
                f"for {p.get('run_date')}: {p.get('invoices')} invoices, "
                f"{p.get('credit_notes')} credit notes"
            )
        case "ImportCommitted":
            return (
                f"{p.get('kind')} from {p.get('filename')}: {p.get('created')} created, "
                f"{p.get('updated')} updated, {p.get('unchanged')} unchanged"
            )
        case "ServiceSLAChanged":
            parts = [
                f"{label} {p[key]}{unit}"
                for key, label, unit in (
                    ("response_minutes", "response", " min"),
                    ("resolution_minutes", "resolution", " min"),
                    ("availability_target", "availability", "%"),
                    ("warning_percent", "warning at", "%"),
                )
                if p.get(key) is not None
            ]
            if p.get("around_the_clock") is not None:
                parts.append("24x7" if p["around_the_clock"] else "business hours")
            return ", ".join(parts) or "all back to the level's defaults"
    return ""


def _text(value) -> str:
    return "(none)" if value in (None, "") else str(value)
