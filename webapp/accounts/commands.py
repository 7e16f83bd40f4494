"""`flask users` (create, list, set-role, deactivate, reactivate, reset-password) and
`flask tokens`."""

from pathlib import Path

import click
from sqlalchemy import func, select

from webapp.accounts import api_tokens, passwords, people
from webapp.accounts.access import set_password
from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.company.commands import ACTOR, company_option, company_or_first
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.outbox import unit_of_work
from webapp.tenancy import NotFound


@click.group("users", help="People who sign in.")
def users_cli():
    pass


def _company(company_id) -> int:
    if company_id is not None and db.session.get(Company, company_id) is None:
        raise click.ClickException(f"No company {company_id}: `flask companies list` shows them.")
    return company_or_first(company_id)


def _person(company_id, email) -> User:
    try:
        return people.by_email(company_id, email)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None


def _read_password(path: str) -> str:
    lines = Path(path).read_text().splitlines()
    return lines[0] if lines else ""


@users_cli.command("create")
@company_option
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in UserRole]), required=True)
@click.password_option()
def users_create(company_id, email, name, role, password):
    """Create a user who signs in with email and password."""
    company_id = _company(company_id)
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise click.ClickException(f"A user with email {email} exists already.")
    if (why := passwords.problem(password)) is not None:
        raise click.ClickException(why)
    with unit_of_work():
        user = User(
            company_id=company_id,
            email=email,
            name=name.strip(),
            role=UserRole(role),
            password_changed_at=utcnow(),
        )
        set_password(user, password)
        db.session.add(user)
    click.echo(f"Created {role} {email} (user {user.id}).")


@users_cli.command("list")
@company_option
def users_list(company_id):
    """Everyone in the company: id, email, name, role, status, last sign-in."""
    for user in people.people(_company(company_id)):
        signed_in = f"{user.last_sign_in_at:%Y-%m-%d %H:%M}" if user.last_sign_in_at else "never"
        click.echo(
            f"{user.id}\t{user.email}\t{user.name}\t{user.role.value}"
            f"\t{people.status(user)}\tlast sign-in {signed_in}"
        )


def _refusing(change):
    try:
        return change()
    except people.Refused as refused:
        raise click.ClickException(str(refused)) from None


@users_cli.command("set-role")
@company_option
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in UserRole]))
def users_set_role(company_id, email, role):
    """Give a person another role (the last admin keeps theirs)."""
    company_id = _company(company_id)
    user = _person(company_id, email)
    _refusing(lambda: people.change_role(company_id, user.id, UserRole(role), ACTOR))
    click.echo(f"{user.email} is now {role}.")


@users_cli.command("deactivate")
@company_option
@click.argument("email")
def users_deactivate(company_id, email):
    """Stop a person signing in, and end every session of theirs now."""
    company_id = _company(company_id)
    user = _person(company_id, email)
    _refusing(lambda: people.deactivate(company_id, user.id, ACTOR))
    click.echo(f"{user.email} is deactivated and signed out everywhere.")


@users_cli.command("reactivate")
@company_option
@click.argument("email")
def users_reactivate(company_id, email):
    """Let a deactivated person sign in again, with their password."""
    company_id = _company(company_id)
    user = _person(company_id, email)
    people.reactivate(company_id, user.id, ACTOR)
    click.echo(f"{user.email} may sign in again.")


@users_cli.command("reset-password")
@company_option
@click.argument("email")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Set the password to the file's first line now, instead of mailing a link.",
)
def users_reset_password(company_id, email, password_file):
    """Mail the person a link to choose a new password (or set it from a file)."""
    company_id = _company(company_id)
    user = _person(company_id, email)
    if password_file:
        password = _read_password(password_file)
        _refusing(lambda: people.set_password_directly(company_id, user.id, password, ACTOR))
        click.echo(f"The password of {user.email} is set; every session of theirs has ended.")
        return
    sent = _refusing(lambda: people.send_password_link(company_id, user.id, ACTOR))
    what = "invitation" if sent == "invitation" else "password reset link"
    click.echo(f"The {what} is on its way to {user.email} (the worker sends it).")


@click.group("tokens", help="API tokens that monitoring tools use to record incidents.")
def tokens_cli():
    pass


@tokens_cli.command("create")
@company_option
@click.argument("name")
def tokens_create(company_id, name):
    """Make a token for the JSON API (shown once)."""
    try:
        row, token = api_tokens.create(company_or_first(company_id), name, ACTOR)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API token {row.id} ({row.name}) for company {row.company_id}:")
    click.echo(f"  {token}")
    click.echo("Copy it now: only its hash is stored, so it cannot be shown again.")


@tokens_cli.command("list")
@company_option
def tokens_list(company_id):
    """List this company's API tokens (their first characters, never the token)."""
    rows = api_tokens.tokens(company_or_first(company_id))
    if not rows:
        click.echo("No API tokens.")
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        click.echo(
            f"{row.id}\t{row.name}\t{row.prefix}...\t{state}\tlast used {used}"
            f"\tcreated {row.created_at:%Y-%m-%d} by {row.created_by}"
        )


@tokens_cli.command("revoke")
@company_option
@click.argument("token_id", type=int)
def tokens_revoke(company_id, token_id):
    """Revoke an API token: requests with it are refused from now on."""
    try:
        row = api_tokens.revoke(company_or_first(company_id), token_id, ACTOR)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API token {row.id} ({row.name}) revoked.")
