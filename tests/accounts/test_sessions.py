"""Sessions end on the server: after sign-out, deactivation, a password change or "sign out
everywhere", a copied session cookie or remember-me cookie opens nothing."""

import pytest
from sqlalchemy import select

from tests.accounts.steps import NEW_PASSWORD, REMEMBER, cookies_of, sign_in, signed_in_with
from tests.support.sessions import PASSWORD, add_user, csrf_from
from webapp.accounts import people
from webapp.accounts.access import load_user
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

EMAIL = "tess@msp.example"


@pytest.fixture
def tess(company):
    return add_user(company, UserRole.TECHNICIAN, EMAIL)


def _signed_in_browser(app, remember=True):
    browser = app.test_client()
    assert sign_in(browser, EMAIL, PASSWORD, remember=remember).status_code == 302
    cookies = cookies_of(browser)
    assert set(cookies) == ({"session", REMEMBER} if remember else {"session"})
    return browser, cookies


def _token(browser) -> str:
    return csrf_from(browser.get("/account").get_data(as_text=True))


def _sign_out(app, browser, tess, company):
    assert browser.post("/logout", data={"csrf_token": _token(browser)}).status_code == 302


def _deactivate(app, browser, tess, company):
    people.deactivate(company, tess, "test")


def _change_password(app, browser, tess, company):
    changed = browser.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": _token(browser),
        },
    )
    assert changed.status_code == 303, changed.get_data(as_text=True)


def _sign_out_everywhere(app, browser, tess, company):
    response = browser.post("/account/sign-out-everywhere", data={"csrf_token": _token(browser)})
    assert response.status_code == 303 and response.headers["Location"] == "/login"


ENDINGS = {
    "sign-out": _sign_out,
    "deactivation": _deactivate,
    "password change": _change_password,
    "sign out everywhere": _sign_out_everywhere,
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_copied_cookies_open_nothing_once_the_session_is_ended(app, company, tess, ending):
    browser, cookies = _signed_in_browser(app)
    # Before: each cookie alone, in another browser, is a way in (so the check below means
    # something).
    assert signed_in_with(app, "session", cookies["session"])
    assert signed_in_with(app, REMEMBER, cookies[REMEMBER])

    ENDINGS[ending](app, browser, tess, company)

    assert not signed_in_with(app, "session", cookies["session"])
    assert not signed_in_with(app, REMEMBER, cookies[REMEMBER])


def test_sign_out_everywhere_ends_another_browsers_session(app, company, tess):
    laptop, _ = _signed_in_browser(app, remember=False)
    phone, _ = _signed_in_browser(app, remember=True)
    assert phone.get("/account").status_code == 200

    _sign_out_everywhere(app, laptop, tess, company)

    assert phone.get("/account").status_code == 302
    assert laptop.get("/account").status_code == 302
    events = db.session.scalars(select(DomainEvent).filter_by(type="SignedOutEverywhere")).all()
    assert [(e.payload["user_id"], e.actor, e.service_id) for e in events] == [
        (tess, f"user:{tess} {EMAIL}", None)
    ]


def test_after_changing_the_password_this_browser_stays_signed_in_and_others_do_not(
    app, company, tess
):
    here, _ = _signed_in_browser(app, remember=True)
    elsewhere, _ = _signed_in_browser(app, remember=False)

    _change_password(app, here, tess, company)

    assert here.get("/account").status_code == 200
    assert REMEMBER in cookies_of(here)  # "keep me signed in" kept, with the new generation
    assert signed_in_with(app, REMEMBER, cookies_of(here)[REMEMBER])
    assert elsewhere.get("/account").status_code == 302
    fresh = app.test_client()
    assert sign_in(fresh, EMAIL, PASSWORD).status_code == 401
    assert sign_in(fresh, EMAIL, NEW_PASSWORD).status_code == 302


def test_signing_out_in_one_browser_signs_out_the_others_too(app, company, tess):
    one, _ = _signed_in_browser(app, remember=False)
    other, _ = _signed_in_browser(app, remember=False)
    _sign_out(app, one, tess, company)
    assert other.get("/account").status_code == 302


def test_a_deactivated_person_cannot_sign_in_and_hears_only_wrong_password(app, company, tess):
    people.deactivate(company, tess, "test")
    response = sign_in(app.test_client(), EMAIL, PASSWORD)
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)

    people.reactivate(company, tess, "test")
    assert sign_in(app.test_client(), EMAIL, PASSWORD).status_code == 302


def test_sign_in_records_when(app, company, tess):
    assert db.session.get(User, tess).last_sign_in_at is None
    _signed_in_browser(app, remember=False)
    db.session.rollback()
    assert db.session.get(User, tess).last_sign_in_at is not None


@pytest.mark.parametrize(
    "cookie_id",
    ["1", "1:", ":0", "1:x", "x:0", "1:0:0", "99999999999999999999:0", "0:0", "١:0", ""],
)
def test_the_loader_refuses_any_id_that_is_not_a_live_session(app, company, tess, cookie_id):
    assert load_user(cookie_id.replace("1", str(tess), 1)) is None


def test_the_loader_takes_the_current_generation_only(app, company, tess):
    user = db.session.get(User, tess)
    assert load_user(f"{tess}:{user.session_generation}") is user
    assert load_user(f"{tess}:{user.session_generation + 1}") is None
