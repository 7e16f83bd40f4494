"""Inputs the fuzzers (tests/fuzz) found to fail, pinned one by one: each is refused with a
message that says why, and nothing is written."""

import pytest
from sqlalchemy import func, select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import active_service, make_client
from tests.support.sessions import PASSWORD, add_user, csrf_from
from webapp.accounts import api_tokens
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus, UserRole
from webapp.pipeline.models import DomainEvent, ListenerDelivery

PAST_32_BITS = 2**31

PAST_64_BITS = 2**63


def events() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(DomainEvent))


@pytest.mark.parametrize("row_id", [PAST_32_BITS, PAST_64_BITS])
@pytest.mark.parametrize(
    ("role", "url"),
    [
        (UserRole.TECHNICIAN, "/incidents/{}/acknowledge"),
        (UserRole.TECHNICIAN, "/incidents/{}/resolve"),
        (UserRole.TECHNICIAN, "/alerts/{}/acknowledge"),
        (UserRole.ACCOUNT_MANAGER, "/services/{}/suspend"),
        (UserRole.ACCOUNT_MANAGER, "/services/{}/sla"),
    ],
)
def test_an_id_past_what_a_table_holds_is_a_404_not_a_500(as_role, role, url, row_id):
    # PostgreSQL refuses a number past 32 bits for an integer column; SQLite cannot bind one
    # past 64 bits at all: both were a 500 before the id was checked.
    response = as_role(role).post(url.format(row_id), data={"reason": "x"})
    assert response.status_code == 404
    assert "no such record" in response.get_data(as_text=True)


def test_an_api_id_past_what_a_table_holds_is_a_json_404(app, client, company):
    token = api_tokens.create(company, "probe", "test")[1]
    response = client.get(
        f"/api/v1/incidents/{PAST_64_BITS}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    assert response.get_json() == {"error": f"There is no incident {PAST_64_BITS} in this company."}


def test_a_page_with_an_id_past_what_a_table_holds_is_a_404(as_role, company):
    active_service(company)
    viewer = as_role(UserRole.VIEWER)
    assert viewer.get(f"/services/{PAST_64_BITS}").status_code == 404
    assert viewer.get(f"/incidents/{PAST_32_BITS}").status_code == 404
    before = events()
    assert viewer.get("/services/1").status_code == 200  # a real id still works
    assert events() == before


def _failed_delivery(company_id) -> int:
    active_service(company_id)
    rows = db.session.scalars(select(ListenerDelivery)).all()
    for row in rows:
        row.status = DeliveryStatus.FAILED
    db.session.commit()
    return len(rows)


def failed() -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).where(ListenerDelivery.status == DeliveryStatus.FAILED)
    )


@pytest.mark.parametrize("sent", ["9223372036854775808", "abc", "", "0", "-1", "1\x00"])
def test_retrying_a_garbled_delivery_id_is_a_404_that_retries_nothing(as_role, company, sent):
    # It was a 500 past 64 bits, and anything int() refused (or 0) retried *every* failed
    # delivery of the company, as if "Retry all" had been pressed.
    count = _failed_delivery(company)
    assert count >= 2
    response = as_role(UserRole.ADMIN).post("/operations/retry", data={"delivery": sent})
    assert response.status_code == 404
    assert "no such record" in response.get_data(as_text=True)
    assert failed() == count


def test_retry_all_and_retry_one_still_work(as_role, company):
    count = _failed_delivery(company)
    admin = as_role(UserRole.ADMIN)
    assert admin.post("/operations/retry", data={"delivery": "1"}).status_code == 200
    assert failed() == count - 1
    assert admin.post("/operations/retry").status_code == 200
    assert failed() == 0


def _nul_posts(company):
    """(role, url, form data, the field that has the NUL) for each form with free text."""
    service = active_service(company)
    return [
        (
            UserRole.ACCOUNT_MANAGER,
            "/services/new",
            {"client_id": "1", "name": "Back\x00up", "price": "10", "term_months": "12"},
            "name",
        ),
        (
            UserRole.ACCOUNT_MANAGER,
            f"/services/{service}/suspend",
            {"reason": "unpaid\x00"},
            "reason",
        ),
        (
            UserRole.TECHNICIAN,
            "/incidents/new",
            {
                "service_id": str(service),
                "title": "\x00",
                "severity": "high",
                "opened_at": "2026-01-01T10:00",
            },
            "title",
        ),
        (
            UserRole.ADMIN,
            "/settings",
            {
                "timezone": "UTC",
                "days-0-is_open": "y",
                "days-0-opens": "09:00",
                "days-0-closes": "17:00",
                "escalate_after_minutes": "30",
                "escalation_email": "on\x00call@msp.example",
                "reminder_days": "30",
            },
            "escalation_email",
        ),
    ]


def test_nul_in_any_form_text_is_that_fields_error_and_nothing_is_saved(as_role, company):
    # PostgreSQL cannot store NUL in text: each of these was a 500 there.
    for role, url, data, field in _nul_posts(company):
        session = as_role(role)
        before = snapshot()
        response = session.post(url, data=data, htmx=False)
        assert response.status_code == 422, (url, response.status_code)
        html = response.get_data(as_text=True)
        assert f'id="{field}-error">Remove the NUL character (\\u0000)' in html, url
        assert changed_tables(before, snapshot()) == set(), url


def test_nul_in_the_sign_in_form_is_refused_like_a_wrong_password(app, company):
    add_user(company, UserRole.VIEWER, "viewer@msp.example")
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    data = {"email": "viewer@msp.example\x00", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data=data)
    assert response.status_code == 401
    assert "Remove the NUL character" in response.get_data(as_text=True)
    # A checkbox's value is not kept: a NUL there is no reason to refuse (nor an unseen error).
    data = {"email": "viewer@msp.example", "password": PASSWORD, "remember": "y\x00"}
    assert client.post("/login", data={**data, "csrf_token": token}).status_code == 302


@pytest.mark.parametrize("version", ["abc", "1.0", "１", "-1", "1\x00"])
def test_a_garbled_version_is_a_409_that_says_reload(as_role, company, version):
    # The hidden version field went straight into int(): anything else was a 500.
    service = active_service(company)
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    response = manager.post(
        f"/services/{service}/suspend", data={"version": version, "reason": "x"}
    )
    assert response.status_code == 409
    assert "reload the page and try again" in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()


def test_the_pages_own_version_still_suspends(as_role, company):
    service = active_service(company)
    response = as_role(UserRole.ACCOUNT_MANAGER).post(
        f"/services/{service}/suspend", data={"version": "2", "reason": "unpaid"}
    )
    assert response.status_code == 200
    assert "Done: suspend." in response.get_data(as_text=True)


def provision_data(client_id, **extra) -> dict:
    return {
        "client_id": str(client_id),
        "name": "Managed Backup",
        "service_type": "backup",
        "price": "149.00",
        "currency": "USD",
        "billing_cycle": "monthly",
        "term_months": "12",
        "service_level": "standard",
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        # NUMERIC(12, 2) overflowed on PostgreSQL: a 500.
        ({"setup_fee": "1E+12"}, "setup_fee", "Enter a setup fee from 0 to 9999999999.99."),
        # Silently rounded to 0.00 before.
        ({"setup_fee": "0.001"}, "setup_fee", "Use at most two decimal places."),
        # The term end (start + months) was past year 9999: a 500.
        ({"start_date": "9999-12-31"}, "start_date", "Enter a start date from 2000 to 2099."),
        ({"start_date": "0001-01-01"}, "start_date", "Enter a start date from 2000 to 2099."),
        ({"start_date": "2026-02-30"}, "start_date", "Enter a date such as 2026-03-01."),
        # Too large was "Enter a price of 0 or more.", which misleads.
        ({"price": "10000000000"}, "price", "Enter a price from 0 to 9999999999.99."),
    ],
)
def test_provisioning_out_of_range_money_or_dates_says_which_and_saves_nothing(
    as_role, company, extra, field, message
):
    client_id = make_client(company)
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    response = manager.post("/services/new", data=provision_data(client_id, **extra), htmx=False)
    assert response.status_code == 422
    assert f'id="{field}-error">{message}</p>' in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()


def test_the_largest_amounts_and_a_plain_start_date_still_provision(as_role, company):
    client_id = make_client(company)
    data = provision_data(
        client_id, price="9999999999.99", setup_fee="9999999999.99", start_date="2099-12-31"
    )
    response = as_role(UserRole.ACCOUNT_MANAGER).post("/services/new", data=data, htmx=False)
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("zone", "opened_at"),
    [("Asia/Kolkata", "0001-01-01T00:00"), ("America/New_York", "9999-12-31T23:59")],
)
def test_an_incident_time_whose_utc_is_off_the_calendar_is_a_field_error(
    as_role, company, zone, opened_at
):
    # Converting to UTC overflowed (OverflowError, not the ValueError the view handled): a 500.
    db.session.get(Company, company).timezone = zone
    db.session.commit()
    service = active_service(company)
    technician = as_role(UserRole.TECHNICIAN)
    before = snapshot()
    data = {"service_id": str(service), "title": "Down", "severity": "high", "opened_at": opened_at}
    response = technician.post("/incidents/new", data=data, htmx=False)
    assert response.status_code == 422
    date = opened_at[:10]
    assert f'id="opened_at-error">{date} is outside the dates we can record.' in response.get_data(
        as_text=True
    )
    assert changed_tables(before, snapshot()) == set()
