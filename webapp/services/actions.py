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
from sqlalchemy import update

from webapp.billing import ledger as revenue
from webapp.billing.ledger import facts_of
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle import events as ev
from webapp.lifecycle.billing import price_change_adjustment
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, ServiceStatus
from webapp.lifecycle.transitions import (
    Action,
    ConcurrentTransition,
    TransitionRefused,
    next_status,
)
from webapp.pipeline.outbox import record, unit_of_work
from webapp.services.models import ClientService
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
        client = get_or_404(Client, company_id, new.client_id)
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
    def change(s, now):
        effective = max(s.term_end, now.date()) if at_term_end else now.date()
        values = {
            "cancelled_at": now,
            "cancellation_reason": reason,
            "cancellation_effective_on": effective,
            "auto_renew": False,
        }
        return values, ev.ServiceCancelled(s.id, reason, effective, at_term_end)

    return _transition(
        company_id, service_id, Action.CANCEL, actor, expected_version, change, sla_tracking.stop
    )


def renew(company_id, service_id, actor, months: int, expected_version=None):
    if months < 1:
        raise ValueError("A renewal is for at least one month.")

    def change(s, now):
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
    """A new price per cycle from today; the status stays. The prorated adjustment for the rest
    of the current cycle is worked out now, from the service as it is now."""
    new_price = Decimal(new_price)

    def change(s, now):
        if new_price == s.price:
            raise PriceUnchanged(f"The price is already {s.price:.2f}.")
        on = now.date()
        adjustment = price_change_adjustment(facts_of(s), new_price, on)
        event = ev.ServicePriceChanged(
            s.id,
            old_price=s.price,
            new_price=new_price,
            currency=s.currency,
            cycle=s.billing_cycle.value,
            effective_on=on,
            note=note,
            adjustment=adjustment and adjustment.amount,
            period_start=adjustment and adjustment.period_start,
            period_end=adjustment and adjustment.period_end,
        )
        return {"price": new_price}, event

    return _transition(company_id, service_id, Action.CHANGE_PRICE, actor, expected_version, change)


class PriceUnchanged(TransitionRefused):
    """A price change to the price the service already has: nothing to record."""


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
        event_id = record(event, company_id, actor).id
        revenue.record_movements(before, service, action, event_id, now.date())
        if also is not None:
            also(service, now)
    return service
