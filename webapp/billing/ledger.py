"""Revenue facts of stored services, and the revenue-movement ledger written with each change.

record_movements() runs inside webapp.services.actions._transition, in the transaction of the
change and its event: no revenue change without its movement, and never one twice (UNIQUE event_id).
"""

import datetime as dt

from webapp.billing.models import RevenueMovement
from webapp.extensions import db
from webapp.lifecycle.billing import ServiceFacts
from webapp.lifecycle.revenue import movements
from webapp.lifecycle.transitions import Action
from webapp.services.models import ClientService


def facts_of(s: ClientService) -> ServiceFacts:
    stop_on = s.cancellation_effective_on or (s.term_end if s.expired_at else None)
    return ServiceFacts(
        status=s.status,
        version=s.version,
        price=s.price,
        currency=s.currency,
        cycle=s.billing_cycle,
        activated_on=s.activated_at.date() if s.activated_at else None,
        term_end=s.term_end,
        paused_since=s.suspended_since.date() if s.suspended_since else None,
        paused_days=s.paused_days,
        stop_on=stop_on,
    )


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
