"""`flask users` and `flask tokens`."""

import click
from sqlalchemy import select

from webapp.accounts import api_tokens
from webapp.accounts.models import User
from webapp.company.commands import ACTOR, company_option, company_or_first
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.tenancy import NotFound


@click.group("users", help="People who sign in.")
def users_cli():
    pass


@users_cli.command("create")
@company_option
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in UserRole]), required=True)
@click.password_option()
def users_create(company_id, email, name, role, password):
    """Create a user who signs in with email and password."""
    from webapp.accounts.access import set_password

    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise click.ClickException(f"A user with email {email} exists already.")
    if len(password) < 10:
        raise click.ClickException("Use a password of at least 10 characters.")
    user = User(
        company_id=company_or_first(company_id), email=email, name=name, role=UserRole(role)
    )
    set_password(user, password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email} (user {user.id}).")


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
