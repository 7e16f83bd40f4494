"""Billing listeners: make the recurring billing record match the service as it is now."""

import dataclasses
import datetime as dt

from sqlalchemy import select

from webapp.billing.ledger import facts_of
from webapp.billing.models import RecurringBilling
from webapp.clock import today
from webapp.extensions import db
from webapp.lifecycle.billing import BillingPlan, plan_billing
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService


def reconcile(event: DomainEvent) -> None:
    reconcile_service(event.service_id)


# Every billing listener reconciles to the service's current state (see lifecycle.billing), so
# the registry's names for them all run the one function (reprice too), and imported gives the
# billing its first bill date.
start = pause = resume = stop = extend = reconcile


def imported(event: DomainEvent) -> None:
    """An imported service's billing carries on as it was in the old tool: its cycles count
    from the next bill date the import gave (the record keeps it from then on), not from one
    cycle after activation. Also right when another billing delivery for the service came
    first and made the record from its activation: this one moves it to the given date."""
    given = event.payload.get("next_bill_date")
    reconcile_service(event.service_id, dt.date.fromisoformat(given) if given else None)


def reprice(event: DomainEvent) -> None:
    """The billing amount follows the new price. The rest of the period is settled by the
    invoicing, from the event (DESIGN.md "Changes"): no adjustment is recorded here, also for
    an older event whose payload carries one; billing_adjustments keeps the rows written
    before as history."""
    reconcile_service(event.service_id)


def reconcile_service(
    service_id: int, billing_from: dt.date | None = None
) -> RecurringBilling | None:
    # The service row lock serialises billing work per service across workers (PostgreSQL);
    # SQLite's BEGIN IMMEDIATE already serialises all writers.
    service = db.session.scalars(
        select(ClientService).where(ClientService.id == service_id).with_for_update()
    ).one()
    record = db.session.scalars(
        select(RecurringBilling).where(RecurringBilling.service_id == service_id)
    ).first()
    current = _plan_of(record) if record else None
    facts = facts_of(service)
    if billing_from is not None:
        facts = dataclasses.replace(facts, billing_from=billing_from)
    plan = plan_billing(facts, current, today())
    if plan is None or plan == current:
        return record
    if record is None:
        record = RecurringBilling(company_id=service.company_id, service_id=service.id)
        db.session.add(record)
    for field, value in dataclasses.asdict(plan).items():
        setattr(record, field, value)
    db.session.flush()
    return record


def _plan_of(record: RecurringBilling) -> BillingPlan:
    return BillingPlan(**{f.name: getattr(record, f.name) for f in dataclasses.fields(BillingPlan)})
