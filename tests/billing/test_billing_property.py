"""Property: any sequence of actions, delivered in any order, twice or not, leaves billing
consistent with the service's final status."""

import datetime as dt
from decimal import Decimal
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.support.factories import make_service
from webapp.billing.models import BillingAdjustment, RecurringBilling
from webapp.extensions import db
from webapp.lifecycle import Action, TransitionRefused, allowed_actions
from webapp.lifecycle.billing import add_cycles, mrr
from webapp.lifecycle.statuses import BillingCycle, BillingStatus, DeliveryStatus, ServiceStatus
from webapp.pipeline.delivery import run_delivery
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.reports.revenue import mrr_on
from webapp.services import actions as lc
from webapp.services import cancellations
from webapp.services import expiry as periodic
from webapp.services.models import ClientService

START = dt.datetime(2026, 3, 1, 9, 0)

ALL_ACTIONS = [
    "activate",
    "suspend",
    "resume",
    "cancel",
    "renew",
    "expire",
    "change_price",
    "change_quantity",
    "schedule_cancellation",
    "undo_cancellation",
]


def next_action(data, status):
    """Mostly an action the service allows now (so sequences go deep), sometimes any action."""
    legal = [a.value for a in allowed_actions(status, tuple(Action)[1:])]
    name = data.draw(
        st.sampled_from(legal if legal and data.draw(st.integers(0, 4)) else ALL_ACTIONS)
    )
    if name == "cancel":
        return (name, data.draw(st.booleans()))
    if name == "renew":
        return (name, data.draw(st.integers(1, 24)))
    if name == "change_price":
        return (name, data.draw(st.decimals("0.00", "999.99", places=2)))
    if name == "change_quantity":
        return (name, data.draw(st.integers(1, 50)))
    return (name,)


class Clock:
    def __init__(self):
        self.now = START

    def utcnow(self):
        return self.now

    def today(self):
        return self.now.date()


def apply(company, service_id, action):
    name, *args = action
    try:
        if name == "activate":
            lc.activate(company, service_id, "prop")
        elif name == "suspend":
            lc.suspend(company, service_id, "prop", reason="r")
        elif name == "resume":
            lc.resume(company, service_id, "prop")
        elif name == "cancel":
            lc.cancel(company, service_id, "prop", reason="r", at_term_end=args[0])
        elif name == "renew":
            lc.renew(company, service_id, "prop", months=args[0])
        elif name == "change_price":
            lc.change_price(company, service_id, "prop", args[0])
        elif name == "change_quantity":
            lc.change_quantity(company, service_id, "prop", args[0])
        elif name == "schedule_cancellation":
            lc.cancel(company, service_id, "prop", reason="r", at_term_end=True)
        elif name == "undo_cancellation":
            lc.undo_cancellation(company, service_id, "prop")
        elif name == "expire":
            lc.expire(company, service_id, "prop")
        else:
            raise AssertionError(f"no such action: {name}")
    except TransitionRefused:
        pass


def billing_deliveries(service_id):
    return [
        (d.event_id, d.listener)
        for d in db.session.scalars(
            select(ListenerDelivery)
            .join(DomainEvent)
            .where(
                DomainEvent.service_id == service_id, ListenerDelivery.listener.like("billing.%")
            )
        )
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cycle=st.sampled_from(list(BillingCycle)),
    length=st.integers(0, 8),
    final_gap=st.integers(0, 800),
    data=st.data(),
)
def test_billing_follows_the_service_whatever_the_delivery_order(
    app, company, cycle, length, final_gap, data
):
    clock = Clock()
    with (
        mock.patch("webapp.services.actions.utcnow", clock.utcnow),
        mock.patch("webapp.billing.listeners.today", clock.today),
        mock.patch("webapp.services.expiry.today", clock.today),
        mock.patch("webapp.services.cancellations.today", clock.today),
    ):
        service_id = make_service(company, price="120.00", cycle=cycle, term_months=12)
        for _ in range(length):
            status = db.session.get(ClientService, service_id).status
            action = next_action(data, status)
            clock.now += dt.timedelta(days=data.draw(st.integers(0, 45)))
            apply(company, service_id, action)
            db.session.rollback()
            if data.draw(
                st.booleans()
            ):  # some deliveries run soon after their event, at that day's date
                for event_id, listener in data.draw(
                    st.permutations(billing_deliveries(service_id))
                ):
                    run_delivery(event_id, listener)
        clock.now += dt.timedelta(days=final_gap)
        pending = billing_deliveries(service_id)
        order = data.draw(
            st.permutations(
                pending + data.draw(st.lists(st.sampled_from(pending), max_size=4))
                if pending
                else []
            )
        )
        for event_id, listener in order:
            run_delivery(event_id, listener)
        # The daily sweep: cancellations at term end whose day has come, and billing whose
        # end date has come (its listener runs here, in any order with the others).
        cancellations.cancel_due_services()
        for event_id, listener in billing_deliveries(service_id):
            run_delivery(event_id, listener)
        periodic._stop_ended_billing()
        db.session.rollback()
        check_consistent(service_id, clock.today())
        # The reports' ledger and the overview agree on MRR once billing has caught up.
        assert ledger_mrr(company, service_id, clock.today()) == overview_mrr(service_id)
        # Changes of price and seats are settled by the invoicing, from their events: billing
        # records no adjustment of its own for them.
        adjustments = db.session.scalars(
            select(func.count(BillingAdjustment.id)).where(
                BillingAdjustment.service_id == service_id
            )
        ).one()
        assert adjustments == 0


def ledger_mrr(company, service_id, today):
    # Each example's service has a client of its own (examples share the database).
    client_id = db.session.get(ClientService, service_id).client_id
    return mrr_on(company, today, client_id=client_id)


def overview_mrr(service_id):
    """The overview's MRR rule (read_models.mrr_by_currency) applied to this service's billing."""
    billing = db.session.scalars(
        select(RecurringBilling).where(
            RecurringBilling.service_id == service_id,
            RecurringBilling.status == BillingStatus.ACTIVE,
        )
    ).all()
    totals = {b.currency: mrr({b.cycle: b.amount}) for b in billing}
    return {currency: total for currency, total in totals.items() if total}


def check_consistent(service_id, today):
    service = db.session.get(ClientService, service_id)
    records = db.session.scalars(
        select(RecurringBilling).where(RecurringBilling.service_id == service_id)
    ).all()
    undone = db.session.scalars(
        select(ListenerDelivery)
        .join(DomainEvent)
        .where(
            DomainEvent.service_id == service_id,
            ListenerDelivery.listener.like("billing.%"),
            ListenerDelivery.status != DeliveryStatus.DONE,
        )
    ).all()
    assert undone == []
    if service.activated_at is None or service.billing_cycle == BillingCycle.ONE_TIME:
        assert records == []
        return
    assert len(records) == 1
    b = records[0]
    assert (b.amount, b.currency, b.cycle) == (
        service.price * service.quantity,
        service.currency,
        service.billing_cycle,
    )
    assert b.service_version == service.version
    # Paused days are never billed: the next bill moves back by exactly the days suspended.
    first = add_cycles(service.activated_at.date(), service.billing_cycle)
    assert b.next_bill_date == first + dt.timedelta(days=service.paused_days)
    status = service.status
    if status == ServiceStatus.ACTIVE:
        assert (b.status, b.ends_on) == (BillingStatus.ACTIVE, None)
    elif status == ServiceStatus.SUSPENDED:
        assert b.status == BillingStatus.PAUSED
        assert b.paused_since == service.suspended_since.date()
    else:
        stop_on = service.cancellation_effective_on or service.term_end
        assert b.ends_on == stop_on
        if stop_on <= today:
            assert b.status == BillingStatus.STOPPED
            assert Decimal(0) <= b.final_amount <= b.amount
        else:
            assert b.status == (
                BillingStatus.PAUSED if service.suspended_since else BillingStatus.ACTIVE
            )
            assert b.final_amount is None
