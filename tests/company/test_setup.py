"""A company from nothing: /setup with the printed token, `flask setup`, `flask setup-token`
and `flask companies`, and the overview a new company lands on."""

import threading
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client, make_service
from tests.support.sessions import csrf_from
from webapp.accounts.models import User
from webapp.company import setup
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole

PASSWORD = "a long enough passphrase"


@pytest.fixture
def token(app, tmp_path):
    """A setup token in a file, as `make run DEMO=0` leaves it."""
    path = tmp_path / "setup_token"
    app.config["SETUP_TOKEN_FILE"] = str(path)
    return setup.write_new_token(str(path))


def valid(**overrides) -> dict:
    return {
        "name": "Acme IT",
        "timezone": "Europe/Berlin",
        "currency": "EUR",
        "opens": "09:00",
        "closes": "17:30",
        "admin_name": "Ann Admin",
        "admin_email": "Ann@Acme.example",
        "password": PASSWORD,
        "confirm": PASSWORD,
        **overrides,
    }


def post_setup(client, token, data):
    page = client.get(f"/setup?token={token}")
    assert page.status_code == 200
    return client.post(
        f"/setup?token={token}", data={**data, "csrf_token": csrf_from(page.get_data(as_text=True))}
    )


def counts() -> tuple[int, int]:
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(Company)),
        db.session.scalar(select(func.count()).select_from(User)),
    )


# -- /setup: there only with the token, only while no company exists ---------------------------


def test_without_a_configured_token_setup_is_not_there(app, client):
    app.config.update(SETUP_TOKEN="", SETUP_TOKEN_FILE="")
    assert client.get("/setup").status_code == 404
    assert client.get("/setup?token=anything-at-all-long-enough").status_code == 404


def test_a_token_file_that_is_gone_is_no_token(app, client, tmp_path):
    app.config["SETUP_TOKEN_FILE"] = str(tmp_path / "never-written")
    assert client.get("/setup?token=").status_code == 404


@pytest.mark.parametrize("sent", ["", "wrong", "x" * 43])
def test_a_wrong_token_is_a_404_that_says_nothing_more(client, token, sent):
    response = client.get(f"/setup?token={sent}")
    assert response.status_code == 404
    assert "Set up your company" not in response.get_data(as_text=True)


def test_a_prefix_of_the_token_is_not_the_token(client, token):
    assert client.get(f"/setup?token={token[:-1]}").status_code == 404


def test_the_right_token_shows_the_form(client, token):
    response = client.get(f"/setup?token={token}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Set up your company" in html
    assert f'action="/setup?token={token}"' in html
    for name in ("name", "timezone", "currency", "opens", "closes", "admin_email", "confirm"):
        assert f'name="{name}"' in html, name
    assert '<option value="Europe/London">' in html  # the time zone list
    assert 'name="csrf_token"' in html


def test_a_token_from_the_environment_works_and_a_short_one_does_not(app, client):
    app.config.update(SETUP_TOKEN="given-by-the-operator-0123", SETUP_TOKEN_FILE="")
    assert client.get("/setup?token=given-by-the-operator-0123").status_code == 200
    app.config["SETUP_TOKEN"] = "short"
    assert client.get("/setup?token=short").status_code == 404


def test_once_a_company_exists_setup_is_gone_even_with_the_token(client, token, company):
    assert client.get(f"/setup?token={token}").status_code == 404
    before = snapshot()
    response = client.post(f"/setup?token={token}", data=valid())
    assert response.status_code in (400, 404)  # no CSRF token to be had: either way, refused
    assert changed_tables(before, snapshot()) == set()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"timezone": "Europe/Nowhere"}, "timezone", "Not a time zone name we know"),
        ({"timezone": "../../etc/passwd"}, "timezone", "Not a time zone name we know"),
        ({"password": "too short", "confirm": "too short"}, "password", "at least 12"),
        ({"password": "password1234", "confirm": "password1234"}, "password", "most common"),
        ({"password": "x" * 201, "confirm": "x" * 201}, "password", "at most 200"),
        ({"confirm": PASSWORD + "!"}, "confirm", "The two passwords differ."),
        ({"admin_email": "ann.acme.example"}, "admin_email", "Enter an email address"),
        ({"currency": "XXX"}, "currency", "Choose one of USD"),
        ({"closes": "08:00"}, "closes", "Closing time must be after opening time."),
        ({"opens": "9 o'clock"}, "opens", "Enter a time such as 08:00."),
        ({"name": "  "}, "name", "Enter the company's name."),
        ({"admin_name": ""}, "admin_name", "Enter your name."),
        ({"name": "Acme\x00"}, "name", "Remove the NUL character"),
    ],
)
def test_invalid_input_is_shown_in_place_and_writes_nothing(client, token, changes, field, message):
    before = snapshot()
    response = post_setup(client, token, valid(**changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "nothing was saved" in html
    error = html[html.index(f'id="{field}-error"') :]
    assert message in unescape(error[: error.index("</p>")])
    assert changed_tables(before, snapshot()) == set()
    assert 'value="Acme' in html or field == "name"  # what was typed stays in the form
    assert PASSWORD not in html  # passwords are never sent back


def test_setup_creates_the_company_and_its_admin_signs_in_and_the_page_is_gone(client, token, app):
    response = post_setup(client, token, valid())
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    company = db.session.scalars(select(Company)).one()
    assert (company.name, company.timezone, company.currency) == ("Acme IT", "Europe/Berlin", "EUR")
    assert company.business_hours == {str(d): ["09:00", "17:30"] for d in range(5)}
    admin = db.session.scalars(select(User)).one()
    assert (admin.company_id, admin.role, admin.email, admin.name) == (
        company.id,
        UserRole.ADMIN,
        "ann@acme.example",
        "Ann Admin",
    )
    assert check_password_hash(admin.password_hash, PASSWORD)
    assert admin.active and admin.password_changed_at is not None

    overview = client.get("/")
    assert overview.status_code == 200  # signed in
    assert "Acme IT" in overview.get_data(as_text=True)

    assert client.get(f"/setup?token={token}").status_code == 404
    assert not Path(app.config["SETUP_TOKEN_FILE"]).exists()  # the token is forgotten
    other = app.test_client()
    assert other.get(f"/setup?token={token}").status_code == 404


def test_an_email_in_use_in_any_company_is_refused(app):
    with pytest.raises(setup.SetupRefused) as refused:
        setup.create(
            setup.NewCompany("A", "UTC", "USD", "Ann", "ann@acme.example", PASSWORD), first=False
        )
        setup.create(
            setup.NewCompany("B", "UTC", "USD", "Ann", "ANN@acme.example", PASSWORD), first=False
        )
    assert "exists already" in refused.value.problems["admin_email"]
    assert counts() == (1, 1)


def test_two_setups_at_once_make_one_company(app):
    """The check that no company exists runs inside the transaction that makes one."""
    results, barrier = [], threading.Barrier(2)

    def attempt(n):
        with app.app_context():
            barrier.wait()
            try:
                new = setup.NewCompany(
                    f"Racer {n}", "UTC", "USD", "Admin", f"admin{n}@race.example", PASSWORD
                )
                results.append(setup.create(new, first=True))
            except setup.CompanyExists as refused:
                results.append(refused)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(type(r).__name__ for r in results) == ["CompanyExists", "Created"]
    assert counts() == (1, 1)


# -- The command line ----------------------------------------------------------------------


def setup_args(password_file, **overrides):
    options = {
        "--company": "Acme IT",
        "--timezone": "America/New_York",
        "--currency": "USD",
        "--admin-email": "ops@acme.example",
        "--admin-name": "Ops Lead",
        **overrides,
    }
    args = ["setup", *[part for pair in options.items() for part in pair]]
    return [*args, "--password-file", str(password_file)] if password_file else args


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


def test_flask_setup_creates_the_company_from_a_password_file_and_refuses_a_second(
    runner, password_file
):
    done = runner.invoke(args=setup_args(password_file))
    assert done.exit_code == 0, done.output
    assert "Created company" in done.output and "ops@acme.example" in done.output
    company = db.session.scalars(select(Company)).one()
    assert (company.timezone, company.currency) == ("America/New_York", "USD")
    assert company.business_hours == {str(d): ["08:00", "18:00"] for d in range(5)}
    admin = db.session.scalars(select(User)).one()
    assert admin.role == UserRole.ADMIN and check_password_hash(admin.password_hash, PASSWORD)

    again = runner.invoke(args=setup_args(password_file, **{"--admin-email": "b@acme.example"}))
    assert again.exit_code == 1
    assert "A company exists already" in again.output
    assert "flask companies create" in again.output
    assert counts() == (1, 1)


def test_flask_setup_asks_for_the_password_twice_without_a_file(runner):
    done = runner.invoke(args=setup_args(None), input=f"{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output  # hidden input
    admin = db.session.scalars(select(User)).one()
    assert check_password_hash(admin.password_hash, PASSWORD)


def test_flask_setup_says_what_is_wrong_and_creates_nothing(runner, tmp_path):
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    done = runner.invoke(
        args=setup_args(short, **{"--timezone": "Mars/Olympus", "--hours": "18:00-08:00"})
    )
    assert done.exit_code == 1
    assert "Nothing was created" in done.output
    assert "--timezone: Not a time zone name we know" in done.output
    assert "--hours: Closing time must be after opening time." in done.output
    assert "password: Use at least 12 characters" in done.output
    assert counts() == (0, 0)
    garbled = runner.invoke(args=setup_args(short, **{"--hours": "nine to five"}))
    assert garbled.exit_code == 2 and "08:00-18:00" in garbled.output


def test_flask_companies_create_adds_a_company_whose_admin_sees_only_it(app, runner, password_file):
    assert runner.invoke(args=setup_args(password_file)).exit_code == 0
    first = db.session.scalar(select(Company.id))
    theirs = make_service(first, make_client(first, name="First's client"), name="First's backup")

    done = runner.invoke(
        args=[
            "companies",
            "create",
            "--name",
            "Second MSP",
            "--timezone",
            "Europe/London",
            "--currency",
            "GBP",
            "--admin-email",
            "boss@second.example",
            "--admin-name",
            "Boss",
            "--password-file",
            str(password_file),
        ]
    )
    assert done.exit_code == 0, done.output
    second = db.session.scalar(select(Company.id).where(Company.name == "Second MSP"))
    assert second != first and counts() == (2, 2)

    listed = runner.invoke(args=["companies", "list"])
    assert listed.exit_code == 0
    assert f"{first}\tAcme IT\tAmerica/New_York\tUSD\t1 people" in listed.output
    assert f"{second}\tSecond MSP\tEurope/London\tGBP\t1 people" in listed.output

    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    signed_in = browser.post(
        "/login",
        data={"email": "boss@second.example", "password": PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert signed_in.status_code == 302
    overview = browser.get("/").get_data(as_text=True)
    assert "Second MSP" in overview and "Acme IT" not in overview
    assert "First&#39;s backup" not in browser.get("/services").get_data(as_text=True)
    assert browser.get(f"/services/{theirs}").status_code == 404


def test_companies_create_refuses_an_email_in_use_and_creates_nothing(runner, password_file):
    assert runner.invoke(args=setup_args(password_file)).exit_code == 0
    done = runner.invoke(
        args=[
            "companies",
            "create",
            "--name",
            "Copycat",
            "--timezone",
            "UTC",
            "--currency",
            "USD",
            "--admin-email",
            "OPS@acme.example",
            "--admin-name",
            "Copy",
            "--password-file",
            str(password_file),
        ]
    )
    assert done.exit_code == 1
    assert "--admin-email: A person with this email exists already" in done.output
    assert counts() == (1, 1)


def test_companies_list_on_an_empty_installation(runner):
    done = runner.invoke(args=["companies", "list"])
    assert done.exit_code == 0 and "No companies yet" in done.output


def test_commands_on_an_empty_installation_point_to_setup(runner):
    done = runner.invoke(args=["tokens", "list"])
    assert done.exit_code == 1
    assert "No company yet: run `flask setup`" in done.output


# -- flask setup-token ---------------------------------------------------------------------


def test_setup_token_writes_a_private_token_and_prints_the_address(app, runner, tmp_path):
    path = tmp_path / "instance" / "setup_token"
    app.config.update(SETUP_TOKEN="", SETUP_TOKEN_FILE=str(path))
    done = runner.invoke(args=["setup-token", "--base", "http://127.0.0.1:5000/"])
    assert done.exit_code == 0, done.output
    token = path.read_text().strip()
    assert len(token) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"Open http://127.0.0.1:5000/setup?token={token} to create your company" in done.output

    app.config["PUBLIC_URL"] = "https://msp.example/"
    same = runner.invoke(args=["setup-token"])
    # The web process shows the same address; without --base, at the public address.
    assert f"Open https://msp.example/setup?token={token} " in same.output
    fresh = runner.invoke(args=["setup-token", "--new"])
    assert token not in fresh.output
    assert path.read_text().strip() in fresh.output


def test_setup_token_with_a_company_prints_the_sign_in_address_and_no_token(
    app, runner, tmp_path, company
):
    path = tmp_path / "setup_token"
    app.config.update(SETUP_TOKEN="", SETUP_TOKEN_FILE=str(path))
    done = runner.invoke(args=["setup-token", "--base", "http://127.0.0.1:5000"])
    assert done.exit_code == 0
    assert "A company exists: sign in at http://127.0.0.1:5000/login" in done.output
    assert "token=" not in done.output and not path.exists()


def test_setup_token_without_anywhere_to_keep_it_says_what_to_set(app, runner):
    app.config.update(SETUP_TOKEN="", SETUP_TOKEN_FILE="")
    done = runner.invoke(args=["setup-token"])
    assert done.exit_code == 1
    assert "Set SETUP_TOKEN_FILE" in done.output
    app.config["SETUP_TOKEN"] = "short"
    assert "too short" in runner.invoke(args=["setup-token"]).output


# -- The overview of a new company --------------------------------------------------------


def test_a_company_without_clients_is_shown_how_to_start(client, token):
    post_setup(client, token, valid())
    html = client.get("/").get_data(as_text=True)
    assert "Get started" in html
    assert 'href="/settings/import"' in html and 'href="/settings/people"' in html
    make_client(db.session.scalar(select(Company.id)))
    assert "Get started" not in client.get("/").get_data(as_text=True)


def test_viewers_are_not_offered_what_they_cannot_do(as_role):
    html = as_role(UserRole.VIEWER).get("/").get_data(as_text=True)
    assert "Get started" in html
    assert 'href="/settings/import"' not in html and 'href="/clients/new"' not in html
