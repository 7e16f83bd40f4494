"""The company a command acts on (`--company ID`, or the only or first one), and the commands
that make companies: `flask setup`, `flask setup-token` and `flask companies`."""

import datetime as dt
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from webapp.company import setup
from webapp.company.models import Company
from webapp.extensions import db
from webapp.forms import CURRENCIES

ACTOR = "cli"


def company_option(f):
    return click.option(
        "--company",
        "company_id",
        type=int,
        default=None,
        help="Company id (defaults to the only, or first, company).",
    )(f)


def company_or_first(company_id):
    if company_id is not None:
        return company_id
    first = db.session.scalar(select(Company.id).order_by(Company.id))
    if first is None:
        raise click.ClickException(
            "No company yet: run `flask setup` (or `flask seed-demo` for a demo) first."
        )
    return first


# Which option a problem with each field of setup.NewCompany is about.
OPTIONS = {
    "name": "--company",
    "timezone": "--timezone",
    "currency": "--currency",
    "closes": "--hours",
    "admin_name": "--admin-name",
    "admin_email": "--admin-email",
    "password": "password",
}


def _hours(text: str) -> tuple[dt.time, dt.time]:
    try:
        opens, closes = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise click.BadParameter("give opening and closing times as 08:00-18:00") from None
    return opens, closes


def _password(password_file: str | None) -> str:
    if password_file is None:
        return click.prompt("Password for the admin", hide_input=True, confirmation_prompt=True)
    lines = Path(password_file).read_text().splitlines()
    return lines[0] if lines else ""


def _new_company_options(f):
    for option in reversed(
        [
            click.option("--timezone", required=True, help="IANA time zone, e.g. Europe/London."),
            click.option("--currency", type=click.Choice(CURRENCIES), required=True),
            click.option(
                "--hours",
                default="08:00-18:00",
                show_default=True,
                help="Business hours, Monday to Friday (Settings has the whole week).",
            ),
            click.option("--admin-email", required=True),
            click.option("--admin-name", required=True),
            click.option(
                "--password-file",
                type=click.Path(exists=True, dir_okay=False),
                help="Read the admin's password from the file's first line (else a prompt).",
            ),
        ]
    ):
        f = option(f)
    return f


def _create(name, timezone, currency, hours, admin_email, admin_name, password_file, first):
    opens, closes = _hours(hours)
    new = setup.NewCompany(
        name=name,
        timezone=timezone,
        currency=currency,
        admin_name=admin_name,
        admin_email=admin_email,
        password=_password(password_file),
        opens=opens,
        closes=closes,
    )
    try:
        created = setup.create(new, first=first)
    except setup.CompanyExists:
        raise click.ClickException(
            "A company exists already: setup makes an installation's first company only."
            " Sign in as its admin, or add another with `flask companies create`."
        ) from None
    except setup.SetupRefused as refused:
        problems = "\n".join(f"  {OPTIONS[k]}: {v}" for k, v in refused.problems.items())
        raise click.ClickException(f"Nothing was created:\n{problems}") from None
    if first:
        setup.forget_token()
    click.echo(
        f"Created company {created.company_id} ({new.name.strip()}) and its admin"
        f" {new.admin_email.strip().lower()} (user {created.admin_id}), who can sign in now."
    )


@click.command("setup")
@click.option("--company", "name", required=True, help="The company's name.")
@_new_company_options
def setup_command(name, timezone, currency, hours, admin_email, admin_name, password_file):
    """Create the installation's first company and its admin (refused once one exists)."""
    _create(name, timezone, currency, hours, admin_email, admin_name, password_file, first=True)


@click.command("setup-token")
@click.option("--new", "fresh", is_flag=True, help="Replace the token file's token.")
@click.option("--base", help="The site's address [default: PUBLIC_URL].")
def setup_token(fresh, base):
    """Print the one-time /setup address while no company exists (making a token if needed)."""
    base = (base or current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if setup.company_exists():
        click.echo(f"  A company exists: sign in at {base}/login")
        return
    path = current_app.config.get("SETUP_TOKEN_FILE")
    if current_app.config.get("SETUP_TOKEN"):  # the operator's own: shown, never replaced
        token = setup.configured_token()
        if token is None:
            raise click.ClickException(
                f"SETUP_TOKEN is too short: use at least {setup.MIN_TOKEN_LENGTH} random"
                " characters."
            )
    elif not path:
        raise click.ClickException(
            "Set SETUP_TOKEN_FILE (a file to keep the token in) or SETUP_TOKEN, for the web"
            " processes too; or create the company with `flask setup`."
        )
    else:
        token = None if fresh else setup.configured_token()
        token = token or setup.write_new_token(path)
    click.echo(f"  Open {base}/setup?token={token} to create your company.")
    click.echo("  (It works once, while no company exists; `flask setup` does the same.)")


@click.group("companies", help="Companies (MSPs) of this installation, for its operators.")
def companies_cli():
    pass


@companies_cli.command("create")
@click.option("--name", required=True, help="The company's name.")
@_new_company_options
def companies_create(name, timezone, currency, hours, admin_email, admin_name, password_file):
    """Create another company with its first admin (beside any there are)."""
    _create(name, timezone, currency, hours, admin_email, admin_name, password_file, first=False)


@companies_cli.command("list")
def companies_list():
    """Every company: id, name, time zone, currency, people, created."""
    rows = setup.companies()
    if not rows:
        click.echo("No companies yet: `flask setup` creates the first.")
    for company, people in rows:
        click.echo(
            f"{company.id}\t{company.name}\t{company.timezone}\t{company.currency}"
            f"\t{people} people\tcreated {company.created_at:%Y-%m-%d}"
        )
