"""Billing listeners: make the recurring billing record match the service as it is now."""

import dataclasses

from sqlalchemy import select

from webapp.clock import today
from webapp.extensions import db
from webapp.lifecycle.billing import BillingPlan, ServiceFacts, plan_billing
from webapp.models import ClientService, DomainEvent, RecurringBilling


def reconcile(event: DomainEvent) -> None:
    reconcile_service(event.service_id)


def reconcile_service(service_id: int) -> RecurringBilling | None:
    # The service row lock serialises billing work per service across workers (PostgreSQL);
    # SQLite's BEGIN IMMEDIATE already serialises all writers.
    service = db.session.scalars(
        select(ClientService).where(ClientService.id == service_id).with_for_update()
    ).one()
    record = db.session.scalars(
        select(RecurringBilling).where(RecurringBilling.service_id == service_id)
    ).first()
    current = _plan_of(record) if record else None
    plan = plan_billing(facts_of(service), current, today())
    if plan is None or plan == current:
        return record
    if record is None:
        record = RecurringBilling(company_id=service.company_id, service_id=service.id)
        db.session.add(record)
    for field, value in dataclasses.asdict(plan).items():
        setattr(record, field, value)
    db.session.flush()
    return record


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


def _plan_of(record: RecurringBilling) -> BillingPlan:
    return BillingPlan(**{f.name: getattr(record, f.name) for f in dataclasses.fields(BillingPlan)})
