"""The sign-in back-off: only wrong passwords count, per account however its address is typed,
the wait grows but never past its cap, and a right password clears it. The clock is moved with
time-machine (the back-off reads webapp.clock); each attempt comes from its own address so that
the per-client limit stays out of the way unless a test is about it."""

import datetime as dt
import itertools

import pytest
import time_machine

from tests.support.factories import redis_at
from tests.support.sessions import PASSWORD, add_user, csrf_from
from tools.embedded_redis import free_port
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
