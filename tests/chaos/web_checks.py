"""What the web's fault tests check in the database once the faults are over: each service's
status and version against its event history, each event's ledger, and its billing record.

Each check returns a count of what is wrong, so a test can report it as lost or doubled and
then assert it is zero.
"""

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from webapp.billing.models import RecurringBilling
from webapp.extensions import db
from webapp.lifecycle.registry import listeners_for
from webapp.lifecycle.statuses import BillingStatus, ServiceStatus
from webapp.lifecycle.transitions import Action, InvalidTransition, next_status
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services.models import ClientService

EVENT_OF = {
    "activate": "ServiceActivated",
    "suspend": "ServiceSuspended",
    "resume": "ServiceResumed",
    "renew": "ServiceRenewed",
    "cancel": "ServiceCancelled",
}
ACTION_OF = {event: Action(action) for action, event in EVENT_OF.items()}
BILLING_FOR = {
    ServiceStatus.ACTIVE: BillingStatus.ACTIVE,
    ServiceStatus.SUSPENDED: BillingStatus.PAUSED,
    ServiceStatus.CANCELLED: BillingStatus.STOPPED,
}
FIRST_VERSION = 1  # a provisioned service; each transition adds one


@dataclass(frozen=True)
class Acknowledged:
    """A transition the web answered 200 to: from `version`, so it is the service's
    (version - FIRST_VERSION + 1)th transition event."""

    service_id: int
    action: str
    version: int


def transition_events(service_id) -> list[DomainEvent]:
    """The service's events after its provisioning, oldest first."""
    return list(
        db.session.scalars(
            select(DomainEvent)
            .where(DomainEvent.service_id == service_id, DomainEvent.type != "ServiceProvisioned")
            .order_by(DomainEvent.id)
        )
    )


def history_counts(ids, acknowledged: list[Acknowledged]) -> dict[str, int]:
    """lost: an acknowledged transition without its event, a status or version its events do
    not account for, an event without its ledger rows; doubled: more events than versions."""
    lost = doubled = 0
    by_service = {sid: transition_events(sid) for sid in ids}
    for sid, events in by_service.items():
        service = db.session.get(ClientService, sid)
        taken = service.version - FIRST_VERSION
        doubled += max(0, len(events) - taken)
        lost += max(0, taken - len(events))
        lost += replayed_status(events) != service.status
        lost += not row_matches_status(service)
    for ack in acknowledged:
        events = by_service[ack.service_id]
        position = ack.version - FIRST_VERSION
        lost += position >= len(events) or events[position].type != EVENT_OF[ack.action]
    ledger = Counter(
        db.session.scalars(
            select(ListenerDelivery.event_id).where(
                ListenerDelivery.event_id.in_([e.id for es in by_service.values() for e in es])
            )
        )
    )
    for events in by_service.values():
        for event in events:
            wanted = len(listeners_for(event.type))
            lost += max(0, wanted - ledger[event.id])
            doubled += max(0, ledger[event.id] - wanted)
    return {"lost": lost, "doubled": doubled}


def replayed_status(events) -> ServiceStatus | None:
    """The status the events lead to from a provisioned service (None: an impossible order)."""
    status = ServiceStatus.PENDING
    try:
        for event in events:
            status = next_status(ACTION_OF[event.type], status)
    except InvalidTransition:
        return None
    return status


def row_matches_status(service: ClientService) -> bool:
    """The columns a transition writes with its status are all there (not half a change)."""
    if service.status == ServiceStatus.PENDING:
        return service.activated_at is None
    if service.status == ServiceStatus.ACTIVE:
        return service.activated_at is not None and service.suspended_since is None
    if service.status == ServiceStatus.SUSPENDED:
        return service.suspended_since is not None and bool(service.suspension_reason)
    if service.status == ServiceStatus.CANCELLED:
        return service.cancelled_at is not None and service.cancellation_effective_on is not None
    return True


def billing_off(ids) -> int:
    """Services whose billing record does not follow their current status and version."""
    off = 0
    for sid in ids:
        service = db.session.get(ClientService, sid)
        record = db.session.scalars(
            select(RecurringBilling).where(RecurringBilling.service_id == sid)
        ).one_or_none()
        if service.activated_at is None:
            off += record is not None
            continue
        off += (
            record is None
            or record.status != BILLING_FOR[service.status]
            or record.service_version != service.version
            or record.term_end != service.term_end
            or (record.status == BillingStatus.STOPPED) != (record.final_amount is not None)
        )
    return off
