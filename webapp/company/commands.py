"""The company a command acts on: `--company ID`, or the only (or first) one."""

import click
from sqlalchemy import select

from webapp.company.models import Company
from webapp.extensions import db

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
        raise click.ClickException("No company yet: run `flask seed-demo` first.")
    return first
