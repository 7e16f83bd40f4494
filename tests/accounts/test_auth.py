"""Sign-in, sign-out, throttling and password hashes."""

import uuid

import pytest

from tests.support.factories import make_user
from tests.support.sessions import PASSWORD, add_user, csrf_from
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole


def _login(client, email, password):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_pages_need_sign_in(client, app):
    pages = ("/", "/services", "/renewals", "/alerts", "/operations", "/live", "/operations/queues")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


def test_sign_in_with_the_right_password_opens_the_overview(client, company):
    add_user(company, UserRole.VIEWER, "v@msp.example")
    response = _login(client, "V@msp.example ", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Overview" in client.get("/").get_data(as_text=True)


def test_wrong_password_is_refused_in_place(client, company):
    add_user(company, UserRole.VIEWER, "v@msp.example")
    response = _login(client, "v@msp.example", "not it")
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_sign_in_without_csrf_token_is_refused(client, company):
    add_user(company, UserRole.VIEWER, "v@msp.example")
    response = client.post("/login", data={"email": "v@msp.example", "password": PASSWORD})
    assert response.status_code == 400
    assert "session expired" in response.get_data(as_text=True)


def test_sign_in_attempts_are_rate_limited(client, company):
    # Spread over accounts, so that no account's own back-off is what refuses them.
    add_user(company, UserRole.VIEWER, "v@msp.example")
    codes = [_login(client, f"n{n}@msp.example", "guess").status_code for n in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    assert (
        _login(client, "v@msp.example", PASSWORD).status_code == 429
    )  # even the right one, for now


def test_guesses_at_one_account_from_many_addresses_run_out_too(client, app, company):
    app.config["LOGIN_ACCOUNT_FREE_FAILURES"] = 5
    add_user(company, UserRole.VIEWER, "v@msp.example")
    add_user(company, UserRole.ADMIN, "a@msp.example")
    page = client.get("/login").get_data(as_text=True)

    def attempt(email, password, address):
        return client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_from(page)},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    codes = [attempt(" V@msp.example", "guess", f"198.51.100.{i}") for i in range(6)]
    assert codes == [401] * 5 + [429]
    assert attempt("a@msp.example", PASSWORD, "198.51.100.50") == 302  # other accounts unaffected


@pytest.mark.parametrize("email", ["nobody@msp.example", "invited@msp.example"])
def test_the_dummy_hashs_own_password_opens_no_account(client, company, email):
    # Without an account or a password, the password is checked against a dummy hash (for the
    # time it takes); typing the dummy's own password must be an ordinary wrong password too.
    make_user(company, "invited@msp.example", UserRole.VIEWER)  # invited: no password yet
    response = _login(client, email, "no such user")
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("//evil.example/x", "/"),
        ("/%09/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/services?status=active", "/services?status=active"),
    ],
)
def test_next_only_redirects_within_the_site(app, company, next_url, lands_on):
    client = app.test_client()
    add_user(company, UserRole.VIEWER, f"v{abs(hash(next_url))}@msp.example")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        f"/login?next={next_url}",
        data={
            "email": f"v{abs(hash(next_url))}@msp.example",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == lands_on


def test_htmx_request_from_an_expired_session_reloads_to_sign_in(client, app):
    response = client.get("/alerts", headers={"HX-Request": "true", "HX-Target": "alerts_table"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"
    assert response.get_data(as_text=True) == ""


def test_session_cookie_is_httponly_and_samesite(client, company):
    add_user(company, UserRole.VIEWER, "v@msp.example")
    response = _login(client, "v@msp.example", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_are_stored_as_scrypt_hashes(app, company):
    from webapp.accounts.models import User
    from webapp.extensions import db

    add_user(company, UserRole.VIEWER, "v@msp.example")
    stored = db.session.query(User.password_hash).scalar()
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_an_old_password_hash_is_replaced_by_a_current_one_at_sign_in(client, app, company):
    from werkzeug.security import check_password_hash, generate_password_hash

    from webapp.accounts.models import User
    from webapp.extensions import db

    user_id = add_user(company, UserRole.VIEWER, "v@msp.example")
    old = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    db.session.get(User, user_id).password_hash = old
    db.session.commit()

    assert _login(client, "v@msp.example", "not it").status_code == 401
    db.session.rollback()
    assert db.session.get(User, user_id).password_hash == old  # a wrong password changes nothing

    assert _login(client, "v@msp.example", PASSWORD).status_code == 302
    db.session.rollback()
    upgraded = db.session.get(User, user_id).password_hash
    assert upgraded.startswith("scrypt:32768:8:1$")
    assert check_password_hash(upgraded, PASSWORD)


def test_sign_out_needs_a_post_with_csrf(as_role):
    session = as_role(UserRole.VIEWER)
    assert session.client.get("/logout").status_code == 405
    assert session.post("/logout", htmx=False).status_code == 302
    assert session.get("/").status_code == 302


def _attempts_from(client, forwarded_for, count):
    """Sign-in attempts through a proxy at 10.0.0.2 on behalf of `forwarded_for`."""
    client.environ_base.update(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    # A new account each time: no account's own back-off is what refuses them.
    return [
        _login(client, f"{uuid.uuid4().hex}@msp.example", "guess").status_code for _ in range(count)
    ]


def test_behind_a_proxy_each_client_has_its_own_sign_in_limit(
    app, company, database_url, redis_server
):
    from tests.support.app import FreshContextClient, make_config
    from webapp import create_app

    add_user(company, UserRole.VIEWER, "v@msp.example")
    proxied = create_app(make_config(database_url, redis_server.url, TRUSTED_PROXIES=1))
    proxied.test_client_class = FreshContextClient
    try:
        assert _attempts_from(proxied.test_client(), "203.0.113.7", 11)[-1] == 429
        # Another client behind the same proxy is not locked out by the first one's guesses.
        assert _attempts_from(proxied.test_client(), "198.51.100.9", 1) == [401]
    finally:
        with proxied.app_context():  # its own engine: closed here, not left to the GC
            db.engine.dispose()


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(client, company):
    add_user(company, UserRole.VIEWER, "v@msp.example")
    codes = [_attempts_from(client, f"192.0.2.{n}", 1)[0] for n in range(11)]
    assert codes[-1] == 429
