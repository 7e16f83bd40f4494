"""Seats: the service page's "Change seats" action, `flask service quantity`, and what a change
of seats leaves behind (its event, the revenue step, the billing amount, the notice)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from tests.activity.test_activity import rows
from tests.support.factories import active_service, make_client, make_service, make_user
from webapp.billing.models import BillingAdjustment, RevenueMovement
from webapp.clients.models import Contact
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole as R
from webapp.lifecycle.transitions import ConcurrentTransition, InvalidTransition
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService


def _version(service_id):
    db.session.rollback()
    return db.session.get(ClientService, service_id).version


def _service(service_id) -> ClientService:
    db.session.rollback()
    return db.session.get(ClientService, service_id)


def _movements(service_id):
    return [
        (m.kind, m.amount, m.effective_on)
        for m in db.session.scalars(
            select(RevenueMovement)
            .where(RevenueMovement.service_id == service_id)
            .order_by(RevenueMovement.id)
        )
    ]


def test_seats_changed_from_the_page_record_their_event_revenue_step_and_billing_amount(
    as_role, company, work
):
    with time_machine.travel(dt.datetime(2027, 1, 10, 9, tzinfo=dt.UTC), tick=False) as clock:
        service_id = make_service(company, price="12.00", currency="EUR", name="Microsoft 365")
        lc.change_quantity(company, service_id, "test", 25)  # pending: moves nothing
        lc.activate(company, service_id, "test")
        work()
        clock.move_to(dt.datetime(2027, 2, 15, 9, tzinfo=dt.UTC))
        manager = as_role(R.ACCOUNT_MANAGER)
        page = manager.get(f"/services/{service_id}").get_data(as_text=True)
        assert 'data-action="change_quantity"' in page and "Change seats" in page
        assert 'name="quantity"' in page and 'value="25"' in page  # the seats it has
        response = manager.post(
            f"/services/{service_id}/change_quantity",
            {"version": _version(service_id), "quantity": "30", "note": "five new starters"},
            target="service_main",
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        assert response.headers["HX-Trigger"] == "data-changed"
        work()
        html = manager.get(f"/services/{service_id}").get_data(as_text=True)
        trail = rows(as_role(R.VIEWER).get("/activity").get_data(as_text=True))

    service = _service(service_id)
    assert (service.quantity, service.price, service.status.value) == (
        30,
        Decimal("12.00"),
        "active",
    )
    assert service.version == 4  # provisioned, seats while pending, activated, seats
    event = db.session.scalars(
        select(DomainEvent)
        .where(DomainEvent.type == "ServiceQuantityChanged")
        .order_by(DomainEvent.id.desc())
    ).first()
    assert event.payload == {
        "service_id": service_id,
        "old_quantity": 25,
        "new_quantity": 30,
        "unit_price": "12.00",
        "currency": "EUR",
        "cycle": "monthly",
        "effective_on": "2027-02-15",
        "note": "five new starters",
        "version": 4,  # the service's version after the change
    }
    assert service.billing.amount == Decimal("360.00")  # 30 x 12.00: billing follows the seats
    assert db.session.scalars(select(BillingAdjustment)).all() == []  # the invoicing settles it
    assert _movements(service_id) == [
        ("new", Decimal("300.00"), dt.date(2027, 1, 10)),  # 25 x 12.00 when it went live
        ("expansion", Decimal("60.00"), dt.date(2027, 2, 15)),  # 5 more seats at 12.00
    ]
    assert 'id="service-quantity">30 × 12.00 EUR = 360.00 EUR monthly' in html
    assert trail[0].split(" | ")[2:5] == [
        "seats changed",
        "Microsoft 365 · Acme Dental",
        "25 → 30 seats at 12.00 EUR (five new starters)",
    ]


def test_fewer_seats_are_a_contraction_and_while_suspended_nothing_moves(company, work):
    with time_machine.travel(dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC), tick=False) as clock:
        service_id = make_service(company, price="10.00")
        lc.change_quantity(company, service_id, "test", 10)
        lc.activate(company, service_id, "test")
        clock.move_to(dt.datetime(2027, 3, 5, 9, tzinfo=dt.UTC))
        lc.change_quantity(company, service_id, "test", 8)
        clock.move_to(dt.datetime(2027, 3, 10, 9, tzinfo=dt.UTC))
        lc.suspend(company, service_id, "test", reason="unpaid")
        lc.change_quantity(company, service_id, "test", 6)  # allowed while suspended
        clock.move_to(dt.datetime(2027, 3, 20, 9, tzinfo=dt.UTC))
        lc.resume(company, service_id, "test")
        work()
    assert _movements(service_id) == [
        ("new", Decimal("100.00"), dt.date(2027, 3, 1)),
        ("contraction", Decimal("-20.00"), dt.date(2027, 3, 5)),
        ("contraction", Decimal("-80.00"), dt.date(2027, 3, 10)),  # suspended
        ("resumed", Decimal("60.00"), dt.date(2027, 3, 20)),  # back with its 6 seats
    ]
    assert _service(service_id).billing.amount == Decimal("60.00")


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("4", "It has 4 seats already."),
        ("0", "Enter a number of seats from 1 to 100,000."),
        ("100001", "Enter a number of seats from 1 to 100,000."),
        ("-3", "Enter a number of seats from 1 to 100,000."),
        ("2.5", "Not a valid integer value."),
        ("", "Enter the number of seats, such as 30."),
    ],
)
def test_a_bad_or_unchanged_number_of_seats_is_refused_beside_the_field(
    as_role, company, quantity, message
):
    service_id = active_service(company)
    lc.change_quantity(company, service_id, "test", 4)
    version = _version(service_id)
    response = as_role(R.ACCOUNT_MANAGER).post(
        f"/services/{service_id}/change_quantity",
        {"version": version, "quantity": quantity},
        target="service_main",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<p class="field-error" id="quantity-error">{message}</p>' in html
    assert "<details open" in html  # the form stays open, with its error
    assert (_service(service_id).quantity, _version(service_id)) == (4, version)


def test_a_stale_page_or_an_ended_service_is_a_409_with_nothing_changed(as_role, company):
    service_id = active_service(company)
    stale = _version(service_id)
    lc.change_price(company, service_id, "test", Decimal("120.00"))  # someone else, meanwhile
    manager = as_role(R.ACCOUNT_MANAGER)
    response = manager.post(
        f"/services/{service_id}/change_quantity", {"version": stale, "quantity": "3"}
    )
    assert response.status_code == 409
    assert "was changed by someone else" in response.get_data(as_text=True)
    assert _service(service_id).quantity == 1

    lc.cancel(company, service_id, "test", reason="moved away")
    response = manager.post(
        f"/services/{service_id}/change_quantity",
        {"version": _version(service_id), "quantity": "3"},
    )
    assert response.status_code == 409
    assert "change_quantity is allowed from active, pending, suspended" in response.get_data(
        as_text=True
    )
    assert _service(service_id).quantity == 1


@pytest.mark.parametrize("role", [R.VIEWER, R.TECHNICIAN])
def test_roles_that_cannot_transition_cannot_change_seats(as_role, company, role):
    service_id = active_service(company)
    response = as_role(role).post(
        f"/services/{service_id}/change_quantity",
        {"version": _version(service_id), "quantity": "3"},
    )
    assert response.status_code == 403
    assert _service(service_id).quantity == 1


def test_the_domain_refuses_what_no_service_can_have(company):
    service_id = active_service(company)
    for quantity in (0, -1, 100_001, True, 2.0, "3", None):
        with pytest.raises(lc.QuantityRefused):
            lc.change_quantity(company, service_id, "test", quantity)
    with pytest.raises(lc.QuantityUnchanged, match="It has 1 seats already."):
        lc.change_quantity(company, service_id, "test", 1)
    with pytest.raises(ConcurrentTransition):
        lc.change_quantity(company, service_id, "test", 5, expected_version=1)
    lc.change_quantity(company, service_id, "test", 100_000)
    lc.cancel(company, service_id, "test", reason="gone")
    with pytest.raises(InvalidTransition):
        lc.change_quantity(company, service_id, "test", 5)
    assert _service(service_id).quantity == 100_000
    assert (
        db.session.scalar(
            select(db.func.count()).where(DomainEvent.type == "ServiceQuantityChanged")
        )
        == 1
    )


def test_the_cli_changes_seats_and_refuses_clearly(runner, company):
    service_id = active_service(company)
    out = runner.invoke(args=["service", "quantity", str(service_id), "12", "--note", "growth"])
    assert out.exit_code == 0, out.output
    assert "x 12 seats" in out.output
    assert _service(service_id).quantity == 12
    note = db.session.scalars(
        select(DomainEvent.payload).where(DomainEvent.type == "ServiceQuantityChanged")
    ).one()["note"]
    assert note == "growth"

    again = runner.invoke(args=["service", "quantity", str(service_id), "12"])
    assert again.exit_code == 1
    assert "It has 12 seats already." in again.output
    zero = runner.invoke(args=["service", "quantity", str(service_id), "0"])
    assert zero.exit_code == 2
    assert "0 is not in the range 1<=x<=100000" in zero.output
    assert _service(service_id).quantity == 12


def test_a_change_of_seats_goes_to_the_billing_contacts_and_the_manager(company, work):
    client_id = make_client(company, name="Acme Dental", email=None)
    for name, role in (("Pat", "primary"), ("Bill", "billing")):
        db.session.add(
            Contact(
                company_id=company,
                client_id=client_id,
                name=name,
                email=f"{name.lower()}@acme.example",
                **{f"is_{role}": True},
            )
        )
    db.session.commit()
    manager = make_user(company, "am@msp.example")
    service_id = active_service(company, client_id, manager_id=manager, price="12.50")
    with time_machine.travel(dt.datetime(2027, 5, 3, 9, tzinfo=dt.UTC), tick=False):
        lc.change_quantity(company, service_id, "test", 7, note="two new starters")
    work()
    notices = db.session.scalars(
        select(Notification)
        .filter_by(listener="notify.quantity_changed")
        .order_by(Notification.recipient)
    ).all()
    assert [n.recipient for n in notices] == ["am@msp.example", "bill@acme.example"]
    assert notices[1].subject == "Managed Backup: 7 seats from 2027-05-03"
    assert notices[1].body == (
        "From 2027-05-03, Managed Backup for Acme Dental has 7 seats at 12.50 USD each per "
        "cycle (monthly billing); it had 1. The change for the rest of the current period is "
        "on the next invoice."
    )
