"""The sign-in back-off: only wrong passwords count, per account however its address is typed,
the wait grows but never past its cap, and a right password clears it; a browser that signed in
to the account before (its device cookie) is not held up by it. The clock is moved with
time-machine (the back-off and the cookie's signature read webapp.clock); each attempt comes
from its own address so that the per-client limit stays out of the way unless a test is about
it."""

import collections
import datetime as dt
import itertools

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer

from tests.support.factories import redis_at
from tests.support.sessions import PASSWORD, add_user, csrf_from
from tools.embedded_redis import free_port
from webapp.accounts import devices, tokens
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole

EMAIL = "tess@msp.example"
_addresses = (f"198.51.100.{n % 250}" for n in itertools.count(1))


@pytest.fixture
def tess(app, company):
    app.config.update(
        LOGIN_ACCOUNT_FREE_FAILURES=3,
        LOGIN_ACCOUNT_BACKOFF_SECONDS=15,
        LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS=120,
    )
    return add_user(company, UserRole.TECHNICIAN, EMAIL)


@pytest.fixture
def clock():
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as traveller:
        yield traveller


def sign_in(client, email, password, address=None):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address or next(_addresses)},
    )


def waits(response) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def test_an_attacker_typing_the_owners_address_keeps_them_out_no_longer_than_the_cap(
    app, tess, clock
):
    attacker = app.test_client()
    codes = [sign_in(attacker, EMAIL, f"guess {n}").status_code for n in range(3)]
    assert codes == [401] * 3
    # The attacker keeps at it, a wrong password the moment each wait ends: the waits grow,
    # then stay at the cap, and while one lasts no password is checked at all.
    seen = []
    for _ in range(6):
        seen.append(waits(sign_in(attacker, EMAIL, "another guess")))
        clock.shift(seen[-1])
        assert sign_in(attacker, EMAIL, "guess after the wait").status_code == 401
    assert seen == [15, 30, 60, 120, 120, 120]

    # The owner, at worst just after the attacker's last failure, waits the cap and no more.
    owner = app.test_client()
    assert waits(sign_in(owner, EMAIL, PASSWORD)) == 120
    clock.shift(120)
    assert sign_in(owner, EMAIL, PASSWORD).status_code == 302
    # and their sign-in cleared the failures: the next wrong password is free again.
    assert sign_in(app.test_client(), EMAIL, "typo").status_code == 401


def test_signing_in_correctly_never_counts(app, tess, clock):
    # Also from one address: the per-client limit counts only wrong passwords too.
    codes = [
        sign_in(app.test_client(), EMAIL, PASSWORD, "203.0.113.5").status_code for _ in range(12)
    ]
    assert codes == [302] * 12
    # Wrong passwords between right ones never add up to a wait either.
    for _ in range(4):
        assert sign_in(app.test_client(), EMAIL, "typo").status_code == 401
        assert sign_in(app.test_client(), EMAIL, "typo again").status_code == 401
        assert sign_in(app.test_client(), EMAIL, PASSWORD).status_code == 302


def test_every_way_of_typing_the_address_shares_one_count(app, company, tess, clock):
    client = app.test_client()
    variants = ["Tess@MSP.example", " tess@msp.example ", "TESS@msp.EXAMPLE  "]
    assert [sign_in(client, v, "guess").status_code for v in variants] == [401] * 3
    assert waits(sign_in(client, "tEsS@Msp.Example", PASSWORD)) == 15
    # Another account is not held up by Tess's failures.
    add_user(company, UserRole.VIEWER, "vic@msp.example")
    assert sign_in(client, "vic@msp.example", PASSWORD).status_code == 302


def test_the_wait_says_how_long_and_ends_on_time(app, tess, clock):
    client = app.test_client()
    for n in range(3):
        sign_in(client, EMAIL, f"guess {n}")
    refused = sign_in(client, EMAIL, PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "15"
    page = refused.get_data(as_text=True)
    assert "Too many wrong passwords were typed for this account." in page
    assert "Wait 15 seconds and try again." in page
    assert 'name="email"' in page  # the form is there to try again

    clock.shift(14)
    assert "Wait 1 second and try again." in sign_in(client, EMAIL, PASSWORD).get_data(as_text=True)
    clock.shift(1)
    assert sign_in(client, EMAIL, PASSWORD).status_code == 302


def test_waits_of_minutes_are_said_in_minutes(app, tess, clock):
    app.config["LOGIN_ACCOUNT_BACKOFF_SECONDS"] = 100
    client = app.test_client()
    for n in range(3):
        sign_in(client, EMAIL, f"guess {n}")
    assert "Wait 2 minutes and try again." in sign_in(client, EMAIL, "x").get_data(as_text=True)


def test_sign_in_works_unthrottled_while_redis_is_down(app, tess, clock):
    with redis_at(app, f"redis://127.0.0.1:{free_port()}/0"):
        codes = [sign_in(app.test_client(), EMAIL, "guess").status_code for _ in range(5)]
        assert codes == [401] * 5
        assert sign_in(app.test_client(), EMAIL, PASSWORD).status_code == 302


def test_guesses_spread_over_accounts_from_one_client_run_out_and_say_how_long(app, company):
    client = app.test_client()
    codes = [
        sign_in(client, f"n{n}@msp.example", "guess", "203.0.113.9").status_code for n in range(11)
    ]
    assert codes == [401] * 10 + [429]
    refused = sign_in(client, "n99@msp.example", "guess", "203.0.113.9")
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Too many attempts. Wait " in refused.get_data(as_text=True)
    assert " and try again." in refused.get_data(as_text=True)
    # Another client is not held up.
    assert sign_in(client, "n0@msp.example", "guess", "203.0.113.10").status_code == 401


# --- The device cookie: the owner's browsers are not held up by someone else's guessing.

CAP = 120  # the tess fixture's LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS


class Attacker:
    """Guesses at an account from a new address each time (a botnet: the per-client limit never
    stops it), with a browser that never signed in to it."""

    def __init__(self, app, email=EMAIL):
        self.client, self.email = app.test_client(), email
        self.token = csrf_from(self.client.get("/login").get_data(as_text=True))
        self.count = itertools.count(1)

    def guess(self, password="a guess") -> int:
        n = next(self.count)
        return self.client.post(
            "/login",
            data={"email": self.email, "password": password, "csrf_token": self.token},
            environ_base={"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"},
        ).status_code


def sign_out(client):
    token = csrf_from(client.get("/account").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def device_cookie(client) -> str:
    cookie = client.get_cookie(devices.COOKIE)
    assert cookie is not None, "no device cookie"
    return cookie.value


def browser_with(app, cookie: str):
    client = app.test_client()
    client.set_cookie(devices.COOKIE, cookie)
    return client


def owners_browser(app):
    """A browser the owner signed in from before (and signed out of since)."""
    client = app.test_client()
    assert sign_in(client, EMAIL, PASSWORD).status_code == 302
    sign_out(client)
    return client


def make_tess_wait(attacker):
    assert [attacker.guess() for _ in range(3)] == [401] * 3  # the third starts a wait


def test_an_attacker_polling_for_half_an_hour_never_keeps_the_owners_browser_out(app, tess, clock):
    owner = owners_browser(app)
    attacker = Attacker(app)
    answers, new_browser_waits = collections.Counter(), []
    # Every second for 30 minutes a wrong password, so every wait is taken up the moment it ends.
    # Now and then, and just after a wait at the cap was set, the owner signs in from their
    # browser: at once, while a browser new to the account, with the same password, waits.
    last_visit = 0
    for second in range(30 * 60):
        answer = attacker.guess()
        answers[answer] += 1
        if second % 293 == 150 or (answer == 401 and second - last_visit > 200):
            last_visit = second
            new_browser_waits.append(waits(sign_in(app.test_client(), EMAIL, PASSWORD)))
            assert sign_in(owner, EMAIL, PASSWORD).status_code == 302, second
            sign_out(owner)
        clock.shift(1)
    assert answers[302] == 0
    assert answers[401] < 100 and answers[429] > 1600  # checked only as each wait ended
    assert len(new_browser_waits) >= 10 and max(new_browser_waits) == CAP

    # The attacker stops: a browser new to the account gets in within the cap.
    newcomer = app.test_client()
    wait = waits(sign_in(newcomer, EMAIL, PASSWORD))
    assert wait <= CAP
    clock.shift(wait)
    assert sign_in(newcomer, EMAIL, PASSWORD).status_code == 302


def test_a_device_cookie_for_another_account_does_not_spare_the_wait(app, company, tess, clock):
    add_user(company, UserRole.VIEWER, "vic@msp.example")
    browser = app.test_client()
    assert sign_in(browser, "vic@msp.example", PASSWORD).status_code == 302
    make_tess_wait(Attacker(app))
    assert waits(sign_in(browser, EMAIL, PASSWORD)) == 15
    # The same cookie does spare Vic's own wait.
    make_tess_wait(Attacker(app, "vic@msp.example"))
    assert sign_in(browser, "vic@msp.example", PASSWORD).status_code == 302


def _signed_elsewhere(user_id, cookie, secret, salt=devices._SALT):
    # A payload copied from a real cookie, signed with another key or salt.
    nonce, fingerprint = URLSafeTimedSerializer("any").loads_unsafe(cookie)[1][1:]
    return URLSafeTimedSerializer(secret, salt=salt).dumps([user_id, nonce, fingerprint])


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda cookie, app, tess: cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"),
            id="signature altered",
        ),
        pytest.param(
            lambda cookie, app, tess: _signed_elsewhere(tess, cookie, "another key"),
            id="signed with another key",
        ),
        pytest.param(
            lambda cookie, app, tess: _signed_elsewhere(
                tess, cookie, app.config["SECRET_KEY"], salt=tokens.RESET.salt
            ),
            id="signed for another purpose",
        ),
        pytest.param(
            lambda cookie, app, tess: tokens.make(tokens.RESET, db.session.get(User, tess)),
            id="a reset link's token",
        ),
        pytest.param(lambda cookie, app, tess: "x" * 4000, id="too long"),
        pytest.param(lambda cookie, app, tess: "\u00e9t\u00e9.\u2028", id="not ascii"),
    ],
)
def test_a_tampered_device_cookie_does_not_spare_the_wait(app, tess, clock, tamper):
    cookie = device_cookie(owners_browser(app))
    make_tess_wait(Attacker(app))
    assert sign_in(browser_with(app, cookie), EMAIL, "a typo").status_code == 401  # the real one
    assert waits(sign_in(browser_with(app, tamper(cookie, app, tess)), EMAIL, PASSWORD)) == 15


def test_a_device_cookie_that_fails_ten_times_is_trusted_no_more(app, tess, clock):
    laptop, phone = owners_browser(app), owners_browser(app)
    thief = browser_with(app, device_cookie(laptop))  # copied from the laptop
    make_tess_wait(Attacker(app))
    # Ten guesses are checked though the account waits; the eleventh waits, right or not.
    assert [sign_in(thief, EMAIL, f"guess {n}").status_code for n in range(10)] == [401] * 10
    assert waits(sign_in(thief, EMAIL, PASSWORD)) == 15
    assert waits(sign_in(laptop, EMAIL, PASSWORD)) == 15  # the same cookie, the same count
    # The phone has a cookie of its own, which still serves.
    assert sign_in(phone, EMAIL, PASSWORD).status_code == 302


def test_each_sign_in_replaces_the_cookie_and_retires_the_old_one(app, tess, clock):
    owner = app.test_client()
    assert sign_in(owner, EMAIL, PASSWORD).status_code == 302
    copied = device_cookie(owner)  # a copy taken of it, then the owner signs in again
    sign_out(owner)
    assert sign_in(owner, EMAIL, PASSWORD).status_code == 302
    assert device_cookie(owner) != copied
    make_tess_wait(Attacker(app))
    assert waits(sign_in(browser_with(app, copied), EMAIL, PASSWORD)) == 15
    assert sign_in(owner, EMAIL, PASSWORD).status_code == 302


def test_a_new_password_makes_every_device_cookie_worthless(app, tess, clock):
    laptop, phone = owners_browser(app), app.test_client()
    assert sign_in(phone, EMAIL, PASSWORD).status_code == 302
    new_password = "a brand new passphrase"
    token = csrf_from(phone.get("/account").get_data(as_text=True))
    form = {"current": PASSWORD, "password": new_password, "confirm": new_password}
    assert phone.post("/account/password", data={**form, "csrf_token": token}).status_code == 303
    make_tess_wait(Attacker(app))
    assert waits(sign_in(laptop, EMAIL, new_password)) == 15
    # The browser that changed it was given a cookie of the new password.
    sign_out(phone)
    assert sign_in(phone, EMAIL, new_password).status_code == 302


def test_a_device_cookie_lasts_a_year(app, tess, clock):
    owner = owners_browser(app)
    clock.shift(dt.timedelta(days=366))
    make_tess_wait(Attacker(app))
    assert waits(sign_in(owner, EMAIL, PASSWORD)) == 15


def test_no_browser_is_trusted_when_the_setting_is_zero(app, tess, clock):
    app.config["LOGIN_DEVICE_FAILURES"] = 0
    owner = owners_browser(app)
    make_tess_wait(Attacker(app))
    assert waits(sign_in(owner, EMAIL, PASSWORD)) == 15


@pytest.mark.parametrize("https", [False, True])
def test_the_device_cookie_is_http_only_lax_and_secure_over_https(app, tess, https):
    client = app.test_client()
    base = "https://localhost" if https else "http://localhost"
    token = csrf_from(client.get("/login", base_url=base).get_data(as_text=True))
    response = client.post(
        "/login",
        base_url=base,
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        headers={"Referer": base + "/login"},  # Flask-WTF's check over HTTPS
    )
    assert response.status_code == 302
    [set_cookie] = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(devices.COOKIE + "=")
    ]
    attributes = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "SameSite=Lax" in set_cookie and "Max-Age=31536000" in set_cookie
    assert ("secure" in attributes) is https
    # A wrong password gives no cookie.
    refused = client.post(
        "/login",
        base_url=base,
        data={"email": EMAIL, "password": "no", "csrf_token": token},
        headers={"Referer": base + "/login"},
    )
    assert refused.status_code == 401
    assert devices.COOKIE not in refused.headers.get("Set-Cookie", "")


def test_polling_an_accounts_wait_from_one_address_spends_the_addresss_allowance(app, tess, clock):
    make_tess_wait(Attacker(app))
    poller = app.test_client()
    codes = [sign_in(poller, EMAIL, "guess", "203.0.113.77") for _ in range(11)]
    assert [waits(c) for c in codes[:10]] == [15] * 10
    assert "Too many wrong passwords were typed for this account." in codes[9].get_data(True)
    # The eleventh is the address's own limit (10 a minute), not the account's wait.
    assert codes[10].status_code == 429
    assert "Too many attempts. Wait " in codes[10].get_data(as_text=True)
