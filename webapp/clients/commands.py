"""`flask clients`: list and create clients from the command line."""

import click
from sqlalchemy import select

from webapp.accounts.commands import _company as known_company_or_first
from webapp.clients import actions
from webapp.clients import queries as clients_queries
from webapp.clients.models import Client
from webapp.company.commands import ACTOR, company_option
from webapp.extensions import db


@click.group("clients", help="The MSP's clients.")
def clients_cli():
    pass


@clients_cli.command("list")
@company_option
@click.option("--archived", is_flag=True, help="List archived clients too.")
def clients_list(company_id, archived):
    """Each client: id, name, external id, services by status, MRR per currency."""
    company_id = known_company_or_first(company_id)
    query = select(Client).where(Client.company_id == company_id)
    if not archived:
        query = query.where(Client.archived_at.is_(None))
    clients = db.session.scalars(query.order_by(Client.name, Client.id)).all()
    if not clients:
        click.echo("No clients.")
        return
    for row in clients_queries.summaries(company_id, clients):
        c = row.client
        statuses = ", ".join(f"{n} {status}" for status, n in row.statuses.items()) or "none"
        revenue = ", ".join(f"{amount} {currency}" for currency, amount in row.mrr.items())
        click.echo(
            f"{c.id}\t{c.name}"
            + (f"\t[{c.external_id}]" if c.external_id else "")
            + (" (archived)" if c.archived else "")
            + f"\tservices: {statuses}"
            + (f"\tMRR: {revenue}" if revenue else "")
        )


@clients_cli.command("create")
@company_option
@click.option("--name", required=True)
@click.option("--external-id", default=None, help="Its id in another tool (imports match on it).")
def clients_create(company_id, name, external_id):
    """Add a client."""
    name = name.strip()
    if "\x00" in name + (external_id or ""):
        raise click.BadParameter("text cannot hold a NUL character")
    if not name or len(name) > 200:
        raise click.BadParameter("give a name of 1 to 200 characters", param_hint="--name")
    if external_id is not None and len(external_id.strip()) > 100:
        raise click.BadParameter("at most 100 characters", param_hint="--external-id")
    company_id = known_company_or_first(company_id)
    fields = actions.ClientFields(name=name, external_id=(external_id or "").strip() or None)
    try:
        client = actions.create_client(company_id, fields, ACTOR)
    except actions.ClientRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created client {client.id}: {client.name}.")
