"""Revenue facts of stored services, and the revenue-movement ledger written with each change.

record_movements() runs inside webapp.services.actions._transition, in the transaction of the
change and its event: no revenue change without its movement, and never one twice (UNIQUE event_id).
"""

import datetime as dt
from decimal import Decimal

from webapp.billing.models import RevenueMovement
from webapp.extensions import db
from webapp.lifecycle.billing import ServiceFacts
from webapp.lifecycle.revenue import MovementKind, movements
from webapp.lifecycle.statuses import BillingCycle, ServiceStatus
from webapp.lifecycle.transitions import Action
from webapp.services.models import ClientService


def facts_of(s: ClientService) -> ServiceFacts:
    # Only once it has ended: a cancellation at term end that is merely scheduled (the service
    # running until then) stops nothing yet, and may still be undone.
    stop_on = s.cancellation_effective_on if s.cancelled_at else None
    stop_on = stop_on or (s.term_end if s.expired_at else None)
    # Billing and revenue follow what a cycle costs: the unit price times the quantity.
    quantity = 1 if s.quantity is None else s.quantity  # None: not flushed yet (default 1)
    return ServiceFacts(
        status=s.status,
        version=s.version,
        price=s.price * quantity,
        currency=s.currency,
        cycle=s.billing_cycle,
        activated_on=s.activated_at.date() if s.activated_at else None,
        term_end=s.term_end,
        paused_since=s.suspended_since.date() if s.suspended_since else None,
        paused_days=s.paused_days,
        stop_on=stop_on,
        billing_from=_billing_from(s),
    )


def _billing_from(s: ClientService):
    """The first bill date the service's billing record counts from (its next bill date less
    the suspended days it has made up for): one cycle after activation, unless the service
    was imported with a next bill date of its own. None before billing starts."""
    record = s.billing
    if record is None:
        return None
    return record.next_bill_date - dt.timedelta(days=record.credited_pause_days)


def record_movements(
    before: ServiceFacts, service: ClientService, action: Action, event_id: int, today: dt.date
) -> None:
    """Add the ledger rows of `action` (service as it is after it) to the open transaction."""
    after = facts_of(service)
    db.session.add_all(
        RevenueMovement(
            company_id=service.company_id,
            service_id=service.id,
            client_id=service.client_id,
            event_id=event_id,
            kind=m.kind.value,
            effective_on=m.effective_on,
            currency=after.currency,
            cycle=after.cycle,
            amount=m.amount,
            services=m.services,
        )
        for m in movements(before, after, action, today)
    )


def imported_movements(company_id: int, services, event_ids) -> list[dict]:
    """The ledger rows of services brought in by an import (ServiceImported), for a bulk insert:
    each counts as new revenue from its start date, as an activation would, with what a cycle
    costs (unit price x quantity), or with nothing while suspended (its revenue comes back
    when it resumes, as after a suspension here). Pending and one-time services move nothing.
    `services`: (id, client_id, status, price, quantity, currency, cycle, start_date) rows."""
    rows = []
    for (sid, client_id, status, price, quantity, currency, cycle, start), event_id in zip(
        services, event_ids, strict=True
    ):
        if status == ServiceStatus.PENDING or cycle == BillingCycle.ONE_TIME:
            continue
        amount = Decimal(0) if status == ServiceStatus.SUSPENDED else price * quantity
        rows.append(
            {
                "company_id": company_id,
                "service_id": sid,
                "client_id": client_id,
                "event_id": event_id,
                "kind": MovementKind.NEW.value,
                "effective_on": start,
                "currency": currency,
                "cycle": cycle,
                "amount": amount,
                "services": 1,
            }
        )
    return rows
