"""`flask users`: create, list, set-role, deactivate, reactivate, reset-password."""

from sqlalchemy import select

from tests.accounts.steps import NEW_PASSWORD, link_in, mails, sign_in
from tests.support.factories import make_user
from tests.support.sessions import PASSWORD, add_user
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

R = UserRole


def trail() -> list[tuple[str, str, int | None]]:
    db.session.rollback()
    return [
        (e.type, e.actor, e.service_id)
        for e in db.session.scalars(select(DomainEvent).order_by(DomainEvent.id))
    ]


def user(email) -> User:
    db.session.rollback()
    return db.session.scalars(select(User).filter_by(email=email)).one()


def test_create_on_an_empty_database_points_to_setup(runner, app):
    result = runner.invoke(
        args=["users", "create", "--email", "a@b.example", "--name", "A", "--role", "admin"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 1
    assert "flask setup" in result.output


def test_create_in_a_given_company(runner, company, other_company):
    result = runner.invoke(
        args=["users", "create", "--company", str(other_company), "--email", " Ann@B.example"]
        + ["--name", "Ann", "--role", "viewer"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    created = user("ann@b.example")
    assert created.company_id == other_company and created.role == R.VIEWER
    assert created.password_changed_at is not None


def test_create_refuses_an_unknown_company_and_a_weak_password(runner, company):
    args = ["users", "create", "--email", "a@b.example", "--name", "A", "--role", "admin"]
    result = runner.invoke(args=[*args, "--company", "999"], input=f"{NEW_PASSWORD}\n" * 2)
    assert result.exit_code == 1 and "No company 999" in result.output
    result = runner.invoke(args=args, input="qwerty123456\n" * 2)
    assert result.exit_code == 1 and "most common" in result.output
    result = runner.invoke(args=args, input="short\n" * 2)
    assert result.exit_code == 1 and "at least 12" in result.output
    assert db.session.scalar(select(User.id)) is None


def test_list_shows_everyone_with_role_and_status(runner, company, other_company):
    add_user(company, R.ADMIN, "admin@msp.example")
    make_user(company, "new@msp.example", R.VIEWER)
    add_user(other_company, R.ADMIN, "them@other.example")
    result = runner.invoke(args=["users", "list", "--company", str(company)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "admin@msp.example" in lines[0] and "\tadmin\tactive\tlast sign-in never" in lines[0]
    assert "new@msp.example" in lines[1] and "\tviewer\tinvited\t" in lines[1]


def test_set_role_deactivate_and_reactivate_record_their_events(app, runner, company):
    add_user(company, R.ADMIN, "admin@msp.example")
    add_user(company, R.TECHNICIAN, "tess@msp.example")

    result = runner.invoke(args=["users", "set-role", "TESS@msp.example", "account_manager"])
    assert result.exit_code == 0, result.output
    assert user("tess@msp.example").role == R.ACCOUNT_MANAGER

    browser = app.test_client()
    assert sign_in(browser, "tess@msp.example", PASSWORD).status_code == 302
    result = runner.invoke(args=["users", "deactivate", "tess@msp.example"])
    assert result.exit_code == 0 and "signed out everywhere" in result.output
    assert browser.get("/account").status_code == 302
    assert sign_in(app.test_client(), "tess@msp.example", PASSWORD).status_code == 401

    result = runner.invoke(args=["users", "reactivate", "tess@msp.example"])
    assert result.exit_code == 0
    assert sign_in(app.test_client(), "tess@msp.example", PASSWORD).status_code == 302
    assert trail() == [
        ("UserRoleChanged", "cli", None),
        ("UserDeactivated", "cli", None),
        ("UserReactivated", "cli", None),
    ]


def test_the_last_admin_is_kept_from_the_command_line_too(runner, company):
    add_user(company, R.ADMIN, "admin@msp.example")
    for args in (["set-role", "admin@msp.example", "viewer"], ["deactivate", "admin@msp.example"]):
        result = runner.invoke(args=["users", *args])
        assert result.exit_code == 1 and "last active admin" in result.output
    assert user("admin@msp.example").role == R.ADMIN and user("admin@msp.example").active
    assert trail() == []


def test_an_unknown_email_or_role_is_a_clear_error(runner, company, other_company):
    add_user(other_company, R.VIEWER, "them@other.example")
    add_user(company, R.VIEWER, "v@msp.example")
    result = runner.invoke(args=["users", "deactivate", "them@other.example"])
    assert result.exit_code == 1 and "No one with email them@other.example" in result.output
    result = runner.invoke(args=["users", "set-role", "v@msp.example", "owner"])
    assert result.exit_code == 2 and "owner" in result.output
    assert user("them@other.example").active and trail() == []


def test_reset_password_mails_the_link(runner, company, work):
    add_user(company, R.VIEWER, "v@msp.example")
    result = runner.invoke(args=["users", "reset-password", "v@msp.example"])
    assert result.exit_code == 0 and "password reset link is on its way" in result.output
    work()
    [mail] = mails("notify.password_reset")
    assert mail.recipient == "v@msp.example" and link_in(mail).startswith("/reset/")
    assert trail() == [("PasswordResetRequested", "cli", None)]


def test_reset_password_from_a_file_sets_it_and_ends_the_sessions(app, runner, company, tmp_path):
    add_user(company, R.VIEWER, "v@msp.example")
    browser = app.test_client()
    assert sign_in(browser, "v@msp.example", PASSWORD).status_code == 302
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    result = runner.invoke(
        args=["users", "reset-password", "v@msp.example", "--password-file", str(weak)]
    )
    assert result.exit_code == 1 and "at least 12" in result.output
    assert browser.get("/account").status_code == 200 and trail() == []

    good = tmp_path / "good"
    good.write_text(f"{NEW_PASSWORD}\nignored second line\n")
    result = runner.invoke(
        args=["users", "reset-password", "v@msp.example", "--password-file", str(good)]
    )
    assert result.exit_code == 0, result.output
    assert browser.get("/account").status_code == 302
    assert sign_in(app.test_client(), "v@msp.example", NEW_PASSWORD).status_code == 302
    assert trail() == [("PasswordChanged", "cli", None)]
