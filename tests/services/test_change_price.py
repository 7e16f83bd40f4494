"""The service page's "Change price" action: the form, its refusals, and what it leaves behind
(the event the invoicing settles it from, the activity line, the revenue movement)."""

import datetime as dt
from decimal import Decimal

import time_machine
from sqlalchemy import select

from tests.activity.test_activity import rows
from tests.support.factories import make_service
from webapp.billing.models import BillingAdjustment, RevenueMovement
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole as R
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService


def _version(service_id):
    db.session.rollback()
    return db.session.get(ClientService, service_id).version


def test_an_upgrade_from_the_page_records_the_event_the_invoicing_settles_it_from(
    as_role, company, work
):
    with time_machine.travel(dt.datetime(2027, 1, 10, 9, tzinfo=dt.UTC), tick=False) as clock:
        service_id = make_service(company, price="300.00", currency="EUR")
        lc.activate(company, service_id, "test")
        work()
        clock.move_to(dt.datetime(2027, 2, 15, 9, tzinfo=dt.UTC))
        manager = as_role(R.ACCOUNT_MANAGER)  # signed in then: sessions expire
        page = manager.get(f"/services/{service_id}").get_data(as_text=True)
        assert 'data-action="change_price"' in page and "Change price" in page
        response = manager.post(
            f"/services/{service_id}/change_price",
            {"version": _version(service_id), "price": "450.00", "note": "yearly review"},
            target="service_main",
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        work()
        html = manager.get(f"/services/{service_id}").get_data(as_text=True)
        trail = rows(as_role(R.VIEWER).get("/activity").get_data(as_text=True))
    assert "450.00 EUR monthly" in html  # the service and its billing amount
    # The rest of the period is the invoicing's to settle, from the event: nothing is worked
    # out when the price changes, and no billing adjustment is recorded.
    assert db.session.scalars(select(BillingAdjustment)).all() == []
    event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServicePriceChanged")
    ).one()
    assert event.payload == {
        "service_id": service_id,
        "old_price": "300.00",
        "new_price": "450.00",
        "currency": "EUR",
        "cycle": "monthly",
        "effective_on": "2027-02-15",
        "note": "yearly review",
        "adjustment": None,
        "period_start": None,
        "period_end": None,
        "quantity": 1,
        "version": 3,  # provisioned 1, activated 2, repriced 3
    }
    assert db.session.get(ClientService, service_id).version == 3
    movement = db.session.scalars(
        select(RevenueMovement).where(RevenueMovement.kind == "expansion")
    ).one()
    assert (movement.amount, movement.effective_on) == (Decimal("150.00"), dt.date(2027, 2, 15))

    assert trail[0].split(" | ")[2:5] == [
        "price changed",
        "Managed Backup · Acme Dental",  # the client beside the service (issue 14)
        "300.00 → 450.00 EUR (yearly review)",
    ]


def test_the_revenue_step_of_a_new_price_counts_the_seats(company, work):
    service_id = make_service(company, price="10.00")
    lc.change_quantity(company, service_id, "test", 25)
    lc.activate(company, service_id, "test")
    lc.change_price(company, service_id, "test", Decimal("12.00"))
    event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServicePriceChanged")
    ).one()
    assert (event.payload["quantity"], event.payload["version"]) == (25, 4)
    movements = db.session.scalars(select(RevenueMovement).order_by(RevenueMovement.id)).all()
    assert [(m.kind, m.amount) for m in movements] == [
        ("new", Decimal("250.00")),
        ("expansion", Decimal("50.00")),  # 2.00 more for each of 25 seats
    ]


def test_the_same_price_or_a_bad_amount_is_refused_beside_the_field(as_role, company):
    manager = as_role(R.ACCOUNT_MANAGER)
    service_id = make_service(company, price="300.00")
    for price, message in [
        ("300", "The price is already 300.00."),
        ("12.345", "Use at most two decimal places."),
        ("-1", "Enter a price from 0 to 9999999999.99."),
        ("", "Enter the new price, such as 450.00."),
    ]:
        response = manager.post(
            f"/services/{service_id}/change_price",
            {"version": _version(service_id), "price": price},
        )
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(ClientService, service_id).price == Decimal("300.00")


def test_a_pending_services_new_price_moves_no_revenue_until_it_goes_live(company, work):
    service_id = make_service(company, price="300.00")
    lc.change_price(company, service_id, "test", Decimal("250.00"))
    work()
    assert db.session.scalars(select(RevenueMovement)).all() == []
    assert db.session.scalars(select(BillingAdjustment)).all() == []
    lc.activate(company, service_id, "test")
    work()
    new = db.session.scalars(select(RevenueMovement)).one()
    assert (new.kind, new.amount, new.services) == ("new", Decimal("250.00"), 1)
    assert db.session.get(ClientService, service_id).billing.amount == Decimal("250.00")


def test_a_suspended_services_new_price_comes_back_when_it_resumes(as_role, company, work):
    # DESIGN.md: price changes are allowed while suspended. Nothing is billing then, so the
    # change moves no revenue; resuming brings back the new price.
    with time_machine.travel(dt.datetime(2027, 1, 10, 9, tzinfo=dt.UTC), tick=False) as clock:
        service_id = make_service(company, price="300.00")
        lc.activate(company, service_id, "test")
        clock.move_to(dt.datetime(2027, 2, 1, 9, tzinfo=dt.UTC))
        lc.suspend(company, service_id, "test", reason="unpaid")
        clock.move_to(dt.datetime(2027, 2, 10, 9, tzinfo=dt.UTC))
        manager = as_role(R.ACCOUNT_MANAGER)
        page = manager.get(f"/services/{service_id}").get_data(as_text=True)
        assert 'data-action="change_price"' in page
        response = manager.post(
            f"/services/{service_id}/change_price",
            {"version": _version(service_id), "price": "350.00"},
            target="service_main",
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        clock.move_to(dt.datetime(2027, 2, 20, 9, tzinfo=dt.UTC))
        lc.resume(company, service_id, "test")
        work()
    service = db.session.get(ClientService, service_id)
    assert (service.status.value, service.price) == ("active", Decimal("350.00"))
    assert service.billing.amount == Decimal("350.00")
    movements = db.session.scalars(select(RevenueMovement).order_by(RevenueMovement.id)).all()
    assert [(m.kind, m.amount, m.effective_on) for m in movements] == [
        ("new", Decimal("300.00"), dt.date(2027, 1, 10)),
        ("contraction", Decimal("-300.00"), dt.date(2027, 2, 1)),
        ("resumed", Decimal("350.00"), dt.date(2027, 2, 20)),
    ]


def test_an_action_the_status_no_longer_offers_is_a_409_even_with_an_invalid_form(as_role, company):
    # A stale page posting a form whose action is gone: its field errors could not be shown
    # (the form is not on the page), so the refusal names the action and the status instead.
    service_id = make_service(company)
    lc.activate(company, service_id, "test")
    lc.cancel(company, service_id, "test", reason="moved away")
    manager = as_role(R.ACCOUNT_MANAGER)
    for action, data in (
        ("change_price", {"price": "not money"}),
        ("change_quantity", {"quantity": "many"}),
        ("suspend", {}),
    ):
        response = manager.post(f"/services/{service_id}/{action}", data, htmx=False)
        assert response.status_code == 409, (action, response.status_code)
        assert f"{action} is allowed from" in response.get_data(as_text=True)
    assert _version(service_id) == 3  # provisioned, activated, cancelled: nothing since
