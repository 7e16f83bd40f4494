"""Lifecycle actions on stored services: one guarded transaction each, then publish.

Each action reads the service, asks the transition table for the next status, and writes the
change with UPDATE ... WHERE status = :seen AND version = :seen together with its outbox event, in
one transaction. If another writer got there first the UPDATE matches no row and nothing is
written (ConcurrentTransition). Only after commit are the deliveries sent to Redis.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, insert, select, update

from webapp.accounts.models import User
from webapp.billing import ledger as revenue
from webapp.billing.ledger import facts_of
from webapp.billing.models import RevenueMovement
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle import events as ev
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, ServiceStatus, UserRole
from webapp.lifecycle.transitions import (
    Action,
    ConcurrentTransition,
    TransitionRefused,
    next_status,
)
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.outbox import record, record_many, unit_of_work
from webapp.services.models import ClientService, ServicePause
from webapp.sla import tracking as sla_tracking
from webapp.tenancy import get_or_404


@dataclass(frozen=True)
class NewService:
    client_id: int
    name: str
    service_type: str
    price: Decimal
    currency: str
    billing_cycle: BillingCycle
    term_months: int
    service_level: ServiceLevel = ServiceLevel.STANDARD
    setup_fee: Decimal = Decimal(0)
    start_date: dt.date | None = None
    auto_renew: bool = False
    account_manager_id: int | None = None


def provision(company_id: int, new: NewService, actor: str) -> ClientService:
    with unit_of_work():
        # Locked: archiving the client (webapp.clients.actions) waits, or this does.
        client = get_or_404(Client, company_id, new.client_id, for_update=True)
        if client.archived:
            raise TransitionRefused(
                f"{client.name} is archived: restore it before provisioning a service for it."
            )
        next_status(Action.PROVISION, None)
        start = new.start_date or utcnow().date()
        service = ClientService(
            company_id=company_id,
            client_id=client.id,
            account_manager_id=new.account_manager_id,
            name=new.name,
            service_type=new.service_type,
            status=ServiceStatus.PENDING,
            billing_cycle=BillingCycle(new.billing_cycle),
            price=new.price,
            currency=new.currency.upper(),
            setup_fee=new.setup_fee,
            start_date=start,
            term_months=new.term_months,
            term_end=start + relativedelta(months=new.term_months),
            auto_renew=new.auto_renew,
            service_level=ServiceLevel(new.service_level),
        )
        db.session.add(service)
        db.session.flush()
        event = ev.ServiceProvisioned(
            service.id, client.id, service.price, service.currency, service.billing_cycle.value
        )
        record(event, company_id, actor)
    return service


def activate(company_id, service_id, actor, expected_version=None):
    def change(s: ClientService, now: dt.datetime):
        # The term runs from activation when the service goes live after its planned start.
        start = max(s.start_date, now.date())
        term_end = start + relativedelta(months=s.term_months)
        return {
            "activated_at": now,
            "start_date": start,
            "term_end": term_end,
        }, ev.ServiceActivated(s.id, now.date(), term_end)

    return _transition(company_id, service_id, Action.ACTIVATE, actor, expected_version, change)


def suspend(company_id, service_id, actor, reason: str, expected_version=None):
    def change(s, now):
        values = {"suspended_at": now, "suspended_since": now, "suspension_reason": reason}
        return values, ev.ServiceSuspended(s.id, reason)

    return _transition(
        company_id, service_id, Action.SUSPEND, actor, expected_version, change, sla_tracking.pause
    )


def resume(company_id, service_id, actor, expected_version=None):
    def change(s, now):
        days = (now.date() - s.suspended_since.date()).days
        values = {"resumed_at": now, "suspended_since": None, "paused_days": s.paused_days + days}
        return values, ev.ServiceResumed(s.id, days)

    return _transition(
        company_id, service_id, Action.RESUME, actor, expected_version, change, sla_tracking.unpause
    )


def cancel(company_id, service_id, actor, reason: str, at_term_end=False, expected_version=None):
    """Cancel now, or at the end of the term.

    At the end of the term, the cancellation is only scheduled: the service keeps its status,
    actions, incidents, SLA clocks and billing until its term end, when the scheduler cancels
    it (cancel_when_due), and it can be undone until then (undo_cancellation). A term that
    has already ended is cancelled now. Cancelling now replaces a scheduled cancellation."""

    def scheduling(s, now):
        if s.cancellation_effective_on is not None:
            raise CancellationRefused(
                f"{s.name} already ends on {s.cancellation_effective_on}: cancel it now, "
                "or undo that cancellation first."
            )
        values = {
            "cancellation_effective_on": s.term_end,
            "cancellation_reason": reason,
            # A service that is ending is not renewed; undoing restores what it was.
            "auto_renew": False,
        }
        return values, ev.ServiceCancellationScheduled(s.id, reason, s.term_end, s.auto_renew)

    def cancelling(s, now):
        values = {
            "cancelled_at": now,
            "cancellation_reason": reason,
            "cancellation_effective_on": now.date(),
            "auto_renew": False,
        }
        return values, ev.ServiceCancelled(s.id, reason, now.date(), at_term_end)

    with unit_of_work():
        service = get_or_404(ClientService, company_id, service_id)
        if at_term_end and service.term_end > utcnow().date():
            apply_change(service, Action.SCHEDULE_CANCELLATION, actor, expected_version, scheduling)
        else:
            apply_change(
                service, Action.CANCEL, actor, expected_version, cancelling, sla_tracking.stop
            )
    return service


def cancel_when_due(company_id, service_id, actor="scheduler", expected_version=None):
    """The scheduler's end of a cancellation at term end: cancelled as of the day it was
    scheduled for, also when the scheduler comes to it a few days late."""

    def change(s, now):
        due = s.cancellation_effective_on
        if due is None or due > now.date():
            raise CancellationRefused(f"{s.name} has no cancellation due.")
        values = {"cancelled_at": now, "auto_renew": False}
        return values, ev.ServiceCancelled(s.id, s.cancellation_reason or "", due, True)

    return _transition(
        company_id, service_id, Action.CANCEL, actor, expected_version, change, sla_tracking.stop
    )


def undo_cancellation(company_id, service_id, actor, expected_version=None):
    """Withdraw a cancellation at term end before the day it takes effect: the service carries
    on as before it was scheduled (renewing automatically again if it did)."""

    def change(s, now):
        due = s.cancellation_effective_on
        if due is None:
            raise CancellationRefused(f"{s.name} has no cancellation to undo.")
        if due <= now.date():
            raise CancellationRefused(
                f"{s.name} ends today ({due}): its cancellation can no longer be undone."
            )
        values = {
            "cancellation_effective_on": None,
            "cancellation_reason": None,
            "auto_renew": _renewed_automatically_before(s),
        }
        return values, ev.ServiceCancellationUndone(s.id, due)

    return _transition(
        company_id, service_id, Action.UNDO_CANCELLATION, actor, expected_version, change
    )


def _renewed_automatically_before(s: ClientService) -> bool:
    """auto_renew as it was before the cancellation now scheduled (its event keeps it)."""
    payload = db.session.scalars(
        select(DomainEvent.payload)
        .where(
            DomainEvent.company_id == s.company_id,
            DomainEvent.service_id == s.id,
            DomainEvent.type == ev.ServiceCancellationScheduled.__name__,
        )
        .order_by(DomainEvent.id.desc())
        .limit(1)
    ).first()
    return bool(payload and payload.get("auto_renew"))


class CancellationRefused(TransitionRefused):
    """Scheduling, undoing or carrying out a cancellation at term end that the service's
    schedule does not allow (one is scheduled already, there is none, or its day has come)."""


def renew(company_id, service_id, actor, months: int, expected_version=None):
    if months < 1:
        raise ValueError("A renewal is for at least one month.")

    def change(s, now):
        if s.cancellation_effective_on is not None:
            raise CancellationRefused(
                f"{s.name} ends on {s.cancellation_effective_on}: undo its cancellation to "
                "renew it."
            )
        return renewal(s, months, now)

    return _transition(company_id, service_id, Action.RENEW, actor, expected_version, change)


def renewal(s, months: int, now: dt.datetime) -> tuple[dict, ev.ServiceRenewed]:
    """What one renewal writes, and its event; `s` is anything with the service's id,
    term_end and renewal_count (the renewal sweep passes plain rows)."""
    term_end = s.term_end + relativedelta(months=months)
    values = {"term_end": term_end, "last_renewed_at": now, "renewal_count": s.renewal_count + 1}
    return values, ev.ServiceRenewed(s.id, months, term_end)


def change_price(
    company_id, service_id, actor, new_price: Decimal, note: str = "", expected_version=None
):
    """A new unit price per cycle from today; the status stays. The invoicing settles the rest
    of the period from the event (DESIGN.md "Changes"): nothing is worked out here."""
    return _transition(
        company_id,
        service_id,
        Action.CHANGE_PRICE,
        actor,
        expected_version,
        price_change(Decimal(new_price), note),
    )


def price_change(new_price: Decimal, note: str):
    """change_price's change, also applied to many services at once (webapp.services.repricing)."""

    def change(s, now):
        if new_price == s.price:
            raise PriceUnchanged(f"The price is already {s.price:.2f}.")
        event = ev.ServicePriceChanged(
            s.id,
            old_price=s.price,
            new_price=new_price,
            currency=s.currency,
            cycle=s.billing_cycle.value,
            effective_on=now.date(),
            note=note,
            # Worked out by the invoicing now, from the event: None on every new event.
            adjustment=None,
            period_start=None,
            period_end=None,
            quantity=s.quantity,
            version=_version_after(s),
        )
        return {"price": new_price}, event

    return change


class PriceUnchanged(TransitionRefused):
    """A price change to the price the service already has: nothing to record."""


MAX_QUANTITY = 100_000


def change_quantity(
    company_id, service_id, actor, new_quantity: int, note: str = "", expected_version=None
):
    """A new number of seats (units) from today at the same unit price; the status stays.
    Like a price change, the invoicing settles the rest of the period from the event.
    Refused while the seats follow the assets the service covers: the count sets them."""
    change = quantity_change(new_quantity, note)

    def by_hand(s, now):
        if s.quantity_follows_assets:
            raise QuantityRefused(
                "Its seats follow the active assets it covers: change what it covers, or "
                "stop the seats following them first."
            )
        return change(s, now)

    return _transition(
        company_id, service_id, Action.CHANGE_QUANTITY, actor, expected_version, by_hand
    )


def quantity_change(new_quantity: int, note: str = ""):
    """change_quantity's change, for apply_change in a caller's unit of work (seats that
    follow the assets a service covers: webapp.assets.actions)."""
    if isinstance(new_quantity, bool) or not isinstance(new_quantity, int):
        raise QuantityRefused(f"Seats are a whole number from 1 to {MAX_QUANTITY:,}.")
    if not 1 <= new_quantity <= MAX_QUANTITY:
        raise QuantityRefused(f"Enter a number of seats from 1 to {MAX_QUANTITY:,}.")

    def change(s, now):
        if new_quantity == s.quantity:
            raise QuantityUnchanged(f"It has {s.quantity} seats already.")
        event = ev.ServiceQuantityChanged(
            s.id,
            old_quantity=s.quantity,
            new_quantity=new_quantity,
            unit_price=s.price,
            currency=s.currency,
            cycle=s.billing_cycle.value,
            effective_on=now.date(),
            note=note,
            version=_version_after(s),
        )
        return {"quantity": new_quantity}, event

    return change


class QuantityRefused(TransitionRefused):
    """A number of seats no service can have (not a whole number from 1 to 100,000)."""


class QuantityUnchanged(QuantityRefused):
    """A change to the seats the service already has: nothing to record."""


def _version_after(s: ClientService) -> int:
    # A change function runs before apply_change's guarded UPDATE, so `s` still holds the
    # version seen; the change makes it one more, and the invoicing orders changes by it.
    return s.version + 1


def expire(company_id, service_id, actor="scheduler", expected_version=None):
    def change(s, now):
        return {"expired_at": now}, ev.ServiceExpired(s.id, s.term_end)

    return _transition(
        company_id, service_id, Action.EXPIRE, actor, expected_version, change, sla_tracking.stop
    )


def _transition(company_id, service_id, action, actor, expected_version, change, also=None):
    """`also(service, now)` writes what else belongs to the change, in its transaction (the SLA
    clocks' pause, resume or stop)."""
    with unit_of_work():
        service = get_or_404(ClientService, company_id, service_id)
        apply_change(service, action, actor, expected_version, change, also)
    return service


def apply_change(service, action, actor, expected_version, change, also=None):
    """_transition's change of a service already read, in the open unit of work (a caller
    changing several services in one, as the bulk price change, calls it for each)."""
    seen_status, seen_version = service.status, service.version
    before = facts_of(service)
    target = next_status(action, seen_status, service.id)
    if expected_version is not None and int(expected_version) != seen_version:
        raise ConcurrentTransition(service.id, action)
    now = utcnow()
    values, event = change(service, now)
    result = db.session.execute(
        update(ClientService)
        .where(
            ClientService.id == service.id,
            ClientService.status == seen_status,
            ClientService.version == seen_version,
        )
        .values(status=target, version=seen_version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentTransition(service.id, action)
    db.session.expire(service)  # the UPDATE bypassed the session; read the row anew
    event_id = record(event, service.company_id, actor).id
    revenue.record_movements(before, service, action, event_id, now.date())
    if also is not None:
        also(service, now)


class ManagerRefused(TransitionRefused):
    """An account manager who cannot be one (not an active account manager or admin of the
    company), or the one the service has already."""


def change_account_manager(company_id, service_id, actor, user_id: int | None):
    """Make `user_id` (None: nobody) the service's account manager; the status stays, the
    version moves on like any change to the service, so a page showing the old one is stale."""
    with unit_of_work():
        service = get_or_404(ClientService, company_id, service_id)
        seen_version, old = service.version, service.account_manager_id
        if user_id is not None:
            user = db.session.get(User, user_id)
            if (
                user is None
                or user.company_id != company_id
                or not user.active
                or user.role not in (UserRole.ACCOUNT_MANAGER, UserRole.ADMIN)
            ):
                raise ManagerRefused("Choose an active account manager or admin.")
        if user_id == old:
            raise ManagerRefused("That is the service's account manager already.")
        result = db.session.execute(
            update(ClientService)
            .where(ClientService.id == service.id, ClientService.version == seen_version)
            .values(account_manager_id=user_id, version=seen_version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise TransitionRefused(
                f"Service {service.id} was changed by someone else meanwhile. Nothing was "
                "changed; reload to see its current state."
            )
        db.session.expire(service)
        record(ev.ServiceAccountManagerChanged(service.id, old, user_id), company_id, actor)
    return service


# Import: services brought from another tool in their present status (DESIGN.md: "import").

IMPORTED_STATUSES = (ServiceStatus.PENDING, ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)


@dataclass(frozen=True)
class ImportedService:
    client_id: int
    name: str
    service_type: str
    status: ServiceStatus
    price: Decimal  # per unit and cycle
    quantity: int
    currency: str
    billing_cycle: BillingCycle
    start_date: dt.date
    term_months: int
    term_end: dt.date  # of the term running now
    next_bill_date: dt.date | None  # active or suspended and recurring: billing carries on from it
    service_level: ServiceLevel = ServiceLevel.STANDARD
    auto_renew: bool = False
    account_manager_id: int | None = None
    external_id: str | None = None


class ImportRefused(TransitionRefused):
    """Services an import cannot bring in as given: nothing was written."""


def import_services(company_id: int, services: list[ImportedService], actor: str) -> list[int]:
    """Insert imported services in their present status, inside the caller's unit of work
    (an import commits all its rows or none); returns their ids, in order.

    Set-based (a file may hold 10,000): one INSERT ... RETURNING for the services, two
    statements for their ServiceImported events and deliveries (record_many), one for their
    revenue rows and one for the suspended ones' SLA pauses. Each service is as if it had
    gone through the lifecycle here: an active one activated on its start date (its "new"
    revenue dated then), a suspended one suspended from now (its SLA clocks and its billing
    paused: the days until it resumes are not billed). The billing listener starts its billing
    from the given next bill date; ServiceImported notifies nobody."""
    if not services:
        return []
    now = utcnow()
    _check_imported(company_id, services, now.date())
    ids = db.session.scalars(
        insert(ClientService.__table__).returning(
            ClientService.__table__.c.id, sort_by_parameter_order=True
        ),
        [imported_row(company_id, s, now) for s in services],
    ).all()
    event_ids = record_many(
        [
            (
                ev.ServiceImported(
                    service_id,
                    s.client_id,
                    s.status.value,
                    s.price,
                    s.quantity,
                    s.currency,
                    s.billing_cycle.value,
                    s.start_date,
                    s.term_end,
                    s.next_bill_date,
                    s.external_id,
                ),
                company_id,
            )
            for service_id, s in zip(ids, services, strict=True)
        ],
        actor,
    )
    movements = revenue.imported_movements(
        company_id,
        [
            (
                sid,
                s.client_id,
                s.status,
                s.price,
                s.quantity,
                s.currency,
                s.billing_cycle,
                s.start_date,
            )
            for sid, s in zip(ids, services, strict=True)
        ],
        event_ids,
    )
    if movements:
        db.session.execute(insert(RevenueMovement.__table__), movements)
    pauses = [
        {"company_id": company_id, "service_id": sid, "started_at": now, "ended_at": None}
        for sid, s in zip(ids, services, strict=True)
        if s.status == ServiceStatus.SUSPENDED
    ]
    if pauses:
        db.session.execute(insert(ServicePause.__table__), pauses)
    return list(ids)


def _check_imported(company_id: int, services: list[ImportedService], today: dt.date) -> None:
    """The domain's own guards (the import's dry run says the same per row, with columns)."""
    for s in services:
        if s.status not in IMPORTED_STATUSES:
            raise ImportRefused(f"{s.name}: a service is imported pending, active or suspended.")
        if s.status != ServiceStatus.PENDING and s.start_date > today:
            raise ImportRefused(f"{s.name}: an {s.status} service cannot start after today.")
    client_ids = {s.client_id for s in services}
    found = db.session.scalar(
        select(func.count(Client.id)).where(
            Client.company_id == company_id,
            Client.id.in_(client_ids),
            Client.archived_at.is_(None),
        )
    )
    if found != len(client_ids):
        raise ImportRefused("A service's client is not one of this company's current clients.")
    manager_ids = {s.account_manager_id for s in services} - {None}
    if manager_ids and db.session.scalar(
        select(func.count(User.id)).where(User.company_id == company_id, User.id.in_(manager_ids))
    ) != len(manager_ids):
        raise ImportRefused("A service's account manager is not one of this company's people.")


def imported_row(company_id: int, s: ImportedService, now: dt.datetime) -> dict:
    """The client_services row of an imported service (also the import benchmark's baseline)."""
    running = s.status != ServiceStatus.PENDING
    suspended = s.status == ServiceStatus.SUSPENDED
    return {
        "company_id": company_id,
        "client_id": s.client_id,
        "external_id": s.external_id,
        "account_manager_id": s.account_manager_id,
        "name": s.name,
        "service_type": s.service_type,
        "status": s.status,
        "billing_cycle": s.billing_cycle,
        "price": s.price,
        "quantity": s.quantity,
        "currency": s.currency,
        "setup_fee": Decimal(0),
        "start_date": s.start_date,
        "term_months": s.term_months,
        "term_end": s.term_end,
        "auto_renew": s.auto_renew,
        "service_level": ServiceLevel(s.service_level),
        "provisioned_at": now,
        # Noon UTC: the start date is the same calendar day in every company's time zone.
        "activated_at": dt.datetime.combine(s.start_date, dt.time(12)) if running else None,
        "suspended_at": now if suspended else None,
        "suspended_since": now if suspended else None,
        "suspension_reason": "Suspended when imported" if suspended else None,
        "renewal_count": 0,
        "paused_days": 0,
        "health_stale": False,
        "version": 1,
        "updated_at": now,
    }
