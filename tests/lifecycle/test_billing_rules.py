"""The billing plan as a pure function of the service's facts."""

import datetime as dt
from decimal import Decimal

import pytest

from webapp.lifecycle.billing import (
    ServiceFacts,
    add_cycles,
    billing_anchor,
    cycle_around,
    monthly_equivalent,
    mrr,
    plan_billing,
    prorated_amount,
)
from webapp.lifecycle.statuses import BillingCycle as C
from webapp.lifecycle.statuses import BillingStatus, ServiceStatus

D = dt.date
TODAY = D(2026, 6, 15)


def facts(**kw):
    base = dict(
        status=ServiceStatus.ACTIVE,
        version=2,
        price=Decimal("300.00"),
        currency="USD",
        cycle=C.MONTHLY,
        activated_on=D(2026, 6, 1),
        term_end=D(2027, 6, 1),
        paused_since=None,
        paused_days=0,
        stop_on=None,
    )
    return ServiceFacts(**(base | kw))


def test_activation_bills_in_advance_so_next_bill_is_one_cycle_later():
    plan = plan_billing(facts(), None, TODAY)
    assert (plan.status, plan.next_bill_date, plan.amount) == (
        BillingStatus.ACTIVE,
        D(2026, 7, 1),
        Decimal("300.00"),
    )


def test_pending_and_one_time_services_have_no_recurring_billing():
    assert plan_billing(facts(status=ServiceStatus.PENDING, activated_on=None), None, TODAY) is None
    assert plan_billing(facts(cycle=C.ONE_TIME), None, TODAY) is None


def test_suspension_pauses_and_resumption_moves_the_bill_date_by_the_days_paused():
    started = plan_billing(facts(), None, TODAY)
    paused = plan_billing(facts(status=ServiceStatus.SUSPENDED, paused_since=TODAY), started, TODAY)
    assert paused.status == BillingStatus.PAUSED
    resumed = plan_billing(facts(paused_days=10, version=4), paused, TODAY)
    assert resumed.status == BillingStatus.ACTIVE
    assert resumed.next_bill_date == D(2026, 7, 11)
    # Reconciling again credits the same pause only once.
    assert plan_billing(facts(paused_days=10, version=4), resumed, TODAY) == resumed


def test_mid_cycle_cancellation_records_prorated_final_amount():
    started = plan_billing(facts(), None, TODAY)
    stopped = plan_billing(facts(status=ServiceStatus.CANCELLED, stop_on=TODAY), started, TODAY)
    # June has 30 days; 14 of them used (June 1 to June 15).
    assert stopped.status == BillingStatus.STOPPED
    assert stopped.final_amount == Decimal("140.00")


def test_cancellation_at_term_end_keeps_billing_until_then_and_stops_on_the_boundary():
    started = plan_billing(facts(), None, TODAY)
    cancelled = facts(status=ServiceStatus.CANCELLED, stop_on=D(2027, 6, 1))
    waiting = plan_billing(cancelled, started, TODAY)
    assert (waiting.status, waiting.ends_on) == (BillingStatus.ACTIVE, D(2027, 6, 1))
    ended = plan_billing(cancelled, waiting, D(2027, 6, 1))
    assert (ended.status, ended.final_amount) == (BillingStatus.STOPPED, Decimal("0.00"))


def test_stopped_billing_never_restarts():
    started = plan_billing(facts(), None, TODAY)
    stopped = plan_billing(facts(status=ServiceStatus.CANCELLED, stop_on=TODAY), started, TODAY)
    # A late reconcile with the service's older facts (say from a stale read) keeps it stopped.
    assert plan_billing(facts(), stopped, TODAY).status == BillingStatus.STOPPED


def test_cancel_while_suspended_bills_only_until_the_suspension():
    started = plan_billing(facts(), None, TODAY)
    stopped = plan_billing(
        facts(status=ServiceStatus.CANCELLED, paused_since=D(2026, 6, 7), stop_on=TODAY),
        started,
        TODAY,
    )
    assert stopped.final_amount == Decimal("60.00")  # 6 of 30 days


@pytest.mark.parametrize(
    ("cycle", "amount", "monthly"),
    [
        (C.WEEKLY, "12.00", "52.00"),
        (C.MONTHLY, "99.99", "99.99"),
        (C.QUARTERLY, "300.00", "100.00"),
        (C.SEMI_ANNUAL, "600.00", "100.00"),
        (C.ANNUAL, "1200.00", "100.00"),
        (C.ONE_TIME, "500.00", "0.00"),
    ],
)
def test_monthly_equivalent_per_cycle(cycle, amount, monthly):
    assert monthly_equivalent(Decimal(amount), cycle) == Decimal(monthly)


def test_proration_finds_the_cycle_holding_the_stop_date_even_months_later():
    # Next bill date still says July, the stop is in September (30-day cycle Sep 1..Oct 1).
    assert prorated_amount(Decimal("300"), C.MONTHLY, D(2026, 7, 1), D(2026, 9, 16)) == Decimal(
        "150.00"
    )


def test_month_end_cycles_clamp_to_the_last_day():
    assert add_cycles(D(2026, 1, 31), C.MONTHLY) == D(2026, 2, 28)


def test_billing_follows_the_price_until_it_stops():
    started = plan_billing(facts(), None, TODAY)
    repriced = plan_billing(facts(price=Decimal("450.00"), version=3), started, TODAY)
    assert (repriced.amount, repriced.next_bill_date) == (Decimal("450.00"), started.next_bill_date)
    stopped = plan_billing(facts(status=ServiceStatus.CANCELLED, stop_on=TODAY), started, TODAY)
    # Once stopped the final amount is settled; a (stale) price no longer changes the record.
    assert plan_billing(facts(price=Decimal("1.00")), stopped, TODAY).amount == Decimal("300.00")


def test_billing_anchor_is_the_next_bill_date_billing_arrives_at():
    paused = facts(activated_on=D(2027, 1, 5), paused_days=18, cycle=C.MONTHLY)
    assert billing_anchor(paused) == D(2027, 2, 23)  # the fixture's S4: Feb 5 + 18 days
    assert plan_billing(paused, None, TODAY).next_bill_date == billing_anchor(paused)


def test_mrr_rounds_per_cycle_as_the_overview_always_has():
    # Two weekly 12.50s: summed first (25.00 x 52/12 = 108.33), not each rounded (54.17 x 2).
    assert mrr({C.WEEKLY: Decimal("25.00")}) == Decimal("108.33")
    assert mrr({C.WEEKLY: Decimal("25.00"), C.QUARTERLY: Decimal("100.00")}) == Decimal("141.66")
    assert mrr({}) == Decimal("0.00")
    assert mrr({"one_time": Decimal("500.00"), "monthly": Decimal("-20.00")}) == Decimal("-20.00")


@pytest.mark.parametrize(
    ("anchor", "cycle", "day", "expected"),
    [
        (D(2026, 7, 1), C.MONTHLY, D(2026, 9, 16), (D(2026, 9, 1), D(2026, 10, 1))),
        (D(2026, 7, 1), C.MONTHLY, D(2026, 5, 3), (D(2026, 5, 1), D(2026, 6, 1))),
        (D(2026, 7, 1), C.MONTHLY, D(2026, 7, 1), (D(2026, 7, 1), D(2026, 8, 1))),
        (D(2027, 3, 29), C.WEEKLY, D(2027, 3, 25), (D(2027, 3, 22), D(2027, 3, 29))),
        (D(2028, 1, 20), C.ANNUAL, D(2027, 2, 22), (D(2027, 1, 20), D(2028, 1, 20))),
    ],
)
def test_cycle_around_is_the_cycle_proration_uses(anchor, cycle, day, expected):
    assert cycle_around(anchor, cycle, day) == expected
    start, end = expected
    used = (day - start).days
    assert prorated_amount(Decimal("700.00"), cycle, anchor, day) == (
        Decimal("700.00") * used / (end - start).days
    ).quantize(Decimal("0.01"))
