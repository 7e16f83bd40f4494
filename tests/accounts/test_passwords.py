"""Passwords: the rules for a new one, changing one's own, and "Forgot your password?" with its
reset link (one hour, once, never for someone deactivated)."""

import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import select

from tests.accounts.steps import NEW_PASSWORD, choose_password, link_in, mails, sign_in
from tests.support.sessions import PASSWORD, add_user, csrf_from
from webapp.accounts import devices, passwords, people
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

EMAIL = "tess@msp.example"

RESET = "notify.password_reset"


@pytest.fixture
def tess(company):
    return add_user(company, UserRole.TECHNICIAN, EMAIL)


def _password_hash(user_id):
    db.session.rollback()
    return db.session.get(User, user_id).password_hash


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short one", "at least 12 characters"),
        ("qwerty123456", "most common"),
        ("QWERTY123456", "most common"),  # compared whatever the case
        ("1q2w3e4r5t6y", "most common"),
        ("x" * 201, "at most 200"),
    ],
)
def test_a_new_password_must_be_long_and_uncommon(password, why):
    assert why in passwords.problem(password)


def test_a_long_uncommon_password_passes():
    assert passwords.problem(NEW_PASSWORD) is None
    assert passwords.problem(PASSWORD) is None  # the tests' own sign-in password


@pytest.mark.parametrize(
    ("form", "field_error"),
    [
        ({"current": "not it", "password": NEW_PASSWORD}, "not your current password"),
        ({"current": PASSWORD, "password": "too short"}, "at least 12 characters"),
        ({"current": PASSWORD, "password": "qwertyqwerty"}, "most common"),
        ({"current": PASSWORD, "password": PASSWORD}, "other than your current one"),
        ({"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "typo"}, "differ"),
        ({"current": "", "password": NEW_PASSWORD}, "Enter your current password"),
    ],
)
def test_changing_ones_password_is_refused_in_place(as_role, tess, form, field_error):
    session = as_role(UserRole.TECHNICIAN, EMAIL)
    before = _password_hash(tess)
    data = {"confirm": form["password"], **form}
    response = session.post("/account/password", data, htmx=False)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error in html and "Your password was not changed" in html
    assert _password_hash(tess) == before
    assert session.get("/account").status_code == 200  # still signed in


def test_a_password_change_is_in_the_trail(as_role, tess):
    session = as_role(UserRole.TECHNICIAN, EMAIL)
    response = session.post(
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        htmx=False,
    )
    assert response.status_code == 303
    db.session.rollback()
    event = db.session.scalars(select(DomainEvent).filter_by(type="PasswordChanged")).one()
    assert event.payload == {"service_id": None, "user_id": tess, "email": EMAIL, "how": "changed"}
    assert event.actor == f"user:{tess} {EMAIL}" and event.service_id is None
    assert db.session.get(User, tess).password_changed_at is not None


def test_guesses_at_the_current_password_run_out_like_sign_ins(app, as_role, tess):
    # A stolen session must not guess the current password without end: a change waits as
    # signing in does, on the same count per account (the session's own sign-in counted nothing).
    # Stolen: the session cookie without the browser's device cookie.
    app.config["LOGIN_ACCOUNT_FREE_FAILURES"] = 3
    session = as_role(UserRole.TECHNICIAN, EMAIL)
    session.client.delete_cookie(devices.COOKIE)
    before = _password_hash(tess)

    def change(current, new=NEW_PASSWORD):
        data = {"current": current, "password": new, "confirm": new}
        return session.post("/account/password", data, htmx=False)

    assert [change(f"guess {i}").status_code for i in range(3)] == [422] * 3
    refused = change(PASSWORD)  # even the right one, for now
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "15"
    assert "Wait 15 seconds and try again." in refused.get_data(as_text=True)
    assert _password_hash(tess) == before
    assert sign_in(app.test_client(), EMAIL, PASSWORD).status_code == 429
    assert session.get("/account").status_code == 200  # still signed in


def test_in_the_owners_own_browser_guesses_run_out_too(app, as_role, tess):
    # Left signed in and unattended: its device cookie spares it the account's wait for
    # LOGIN_DEVICE_FAILURES guesses, then it waits like anyone.
    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=3, LOGIN_DEVICE_FAILURES=4)
    session = as_role(UserRole.TECHNICIAN, EMAIL)
    data = {"current": "guess", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    codes = [session.post("/account/password", data, htmx=False).status_code for _ in range(8)]
    assert codes == [422] * 4 + [422] * 3 + [429]


def test_the_right_current_password_clears_the_count_even_if_the_change_is_refused(
    app, as_role, tess
):
    app.config["LOGIN_ACCOUNT_FREE_FAILURES"] = 2
    session = as_role(UserRole.TECHNICIAN, EMAIL)

    def change(current, new=NEW_PASSWORD):
        session.client.delete_cookie(devices.COOKIE)  # the account's count, not a device's
        data = {"current": current, "password": new, "confirm": new}
        return session.post("/account/password", data, htmx=False)

    for _ in range(3):
        assert change("guess").status_code == 422
        assert change(PASSWORD, new=PASSWORD).status_code == 422  # the same password again
    assert change(PASSWORD).status_code == 303


def test_the_sign_in_page_offers_forgot_your_password(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot"' in html and "Forgot your password?" in html


def _forgot(client, email, **kw):
    token = csrf_from(client.get("/forgot").get_data(as_text=True))
    return client.post("/forgot", data={"email": email, "csrf_token": token}, **kw)


def _answer(response) -> list[str]:
    assert response.status_code == 200 and response.request.path == "/login"
    return re.findall(r'<p class="notice">(.*?)</p>', response.get_data(as_text=True))


def test_forgot_answers_the_same_for_known_and_unknown_addresses_and_mails_only_known(
    app, company, tess, work
):
    known = _forgot(app.test_client(), " Tess@MSP.example ", follow_redirects=True)
    unknown = _forgot(app.test_client(), "nobody@msp.example", follow_redirects=True)
    assert _answer(known) == _answer(unknown)
    assert "If that address has an account" in _answer(known)[0]

    work()
    sent = mails(RESET)
    assert [(n.recipient, n.service_id, n.channel) for n in sent] == [(EMAIL, None, "email")]
    assert "1 hour" in sent[0].body and "http://127.0.0.1:5000/reset/" in sent[0].body
    event = db.session.scalars(select(DomainEvent).filter_by(type="PasswordResetRequested")).one()
    assert event.payload["user_id"] == tess and event.service_id is None
    assert event.actor == "forgot-password form"


def test_forgot_mails_nothing_to_someone_deactivated(app, company, tess, work):
    people.deactivate(company, tess, "test")
    assert _forgot(app.test_client(), EMAIL).status_code == 303
    work()
    assert mails(RESET) == []


def test_forgot_is_rate_limited_per_address_asked_about(app, company, tess):
    app.config["PASSWORD_RESET_RATE_LIMIT"] = "2 per hour"
    client = app.test_client()
    token = csrf_from(client.get("/forgot").get_data(as_text=True))
    codes = [
        client.post(
            "/forgot",
            data={"email": EMAIL, "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"198.51.100.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert codes == [303, 303, 429]
    assert _forgot(client, "other@msp.example").status_code == 303  # other addresses unaffected


def test_forgot_is_rate_limited_per_client_like_sign_in(app, company):
    client = app.test_client()
    codes = [_forgot(client, f"n{i}@msp.example").status_code for i in range(11)]
    assert codes == [303] * 10 + [429]


def _reset_link(app, company, tess, work):
    people.send_password_link(company, tess, "test")
    work()
    return link_in(mails(RESET)[-1])


def test_a_reset_link_sets_a_new_password_signs_in_and_works_once(app, company, tess, work):
    link = _reset_link(app, company, tess, work)
    browser = app.test_client()
    page = browser.get(link)
    assert page.status_code == 200 and EMAIL in page.get_data(as_text=True)

    response = choose_password(browser, link)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert browser.get("/account").status_code == 200  # signed in
    assert sign_in(app.test_client(), EMAIL, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), EMAIL, NEW_PASSWORD).status_code == 302
    db.session.rollback()
    event = db.session.scalars(select(DomainEvent).filter_by(type="PasswordChanged")).one()
    assert event.payload["how"] == "reset"

    again = app.test_client().get(link)
    assert again.status_code == 400
    assert "used already" in again.get_data(as_text=True)
    before = _password_hash(tess)
    response = choose_password(app.test_client(), link, "another passphrase")
    assert response.status_code == 400
    assert "used already" in response.get_data(as_text=True)
    assert _password_hash(tess) == before


def test_a_reset_link_expires_after_an_hour(app, company, tess, work):
    start = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        link = _reset_link(app, company, tess, work)
        clock.shift(dt.timedelta(minutes=59))
        assert app.test_client().get(link).status_code == 200
        clock.shift(dt.timedelta(minutes=2))
        before = _password_hash(tess)
        browser = app.test_client()
        page = browser.get(link)
        assert page.status_code == 400
        assert "expired" in page.get_data(as_text=True)
        assert "1 hour" in page.get_data(as_text=True)
        assert _password_hash(tess) == before


@pytest.mark.parametrize(
    "garbled",
    ["x", "", "eyJ1c2VyIjoxfQ.abc.def", "a" * 500, "%00", "..", "WzEsImFiYyJd.Zm9v.YmFy"],
)
def test_a_garbled_link_is_a_clear_page_not_a_500(app, company, tess, garbled):
    response = app.test_client().get(f"/reset/{garbled}" if garbled else "/reset/")
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "not valid" in response.get_data(as_text=True)


def test_an_invitation_token_is_no_reset_token(app, company, tess, work):
    link = _reset_link(app, company, tess, work)
    response = app.test_client().get(link.replace("/reset/", "/invite/"))
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_someone_deactivated_cannot_use_a_reset_link(app, company, tess, work):
    link = _reset_link(app, company, tess, work)
    people.deactivate(company, tess, "test")
    before = _password_hash(tess)
    page = app.test_client().get(link)
    assert page.status_code == 400
    assert "not active" in page.get_data(as_text=True)
    assert _password_hash(tess) == before


def test_a_reset_link_from_before_a_deactivation_stays_dead_after_reactivation(
    app, company, tess, work
):
    link = _reset_link(app, company, tess, work)
    people.deactivate(company, tess, "test")
    people.reactivate(company, tess, "test")
    before = _password_hash(tess)
    page = app.test_client().get(link)
    assert page.status_code == 400
    assert "newer one" in page.get_data(as_text=True)
    assert choose_password(app.test_client(), link).status_code == 400
    assert _password_hash(tess) == before
    fresh = _reset_link(app, company, tess, work)  # one asked for now works
    assert choose_password(app.test_client(), fresh).status_code == 303


def test_the_new_password_through_a_link_keeps_the_rules(app, company, tess, work):
    link = _reset_link(app, company, tess, work)
    before = _password_hash(tess)
    browser = app.test_client()
    response = choose_password(browser, link, "password1234")
    assert response.status_code == 422
    assert "most common" in response.get_data(as_text=True)
    response = choose_password(browser, link, NEW_PASSWORD, again="something else")
    assert response.status_code == 422
    assert _password_hash(tess) == before
    assert choose_password(browser, link).status_code == 303  # the link still works


def test_a_reset_link_ends_every_session(app, company, tess, work):
    elsewhere = app.test_client()
    assert sign_in(elsewhere, EMAIL, PASSWORD).status_code == 302
    link = _reset_link(app, company, tess, work)
    assert choose_password(app.test_client(), link).status_code == 303
    assert elsewhere.get("/account").status_code == 302
