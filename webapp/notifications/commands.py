"""`flask webhooks`."""

import click
from sqlalchemy import select

from webapp.company.commands import company_option, company_or_first
from webapp.extensions import db


@click.group("webhooks", help="Chat and integration webhooks that receive notifications.")
def webhooks_cli():
    pass


@webhooks_cli.command("add")
@company_option
@click.option("--kind", type=click.Choice(["slack", "teams", "generic"]), required=True)
@click.option("--url", required=True)
@click.option("--secret", default=None, help="generic only: the HMAC-SHA256 signing secret")
def webhooks_add(company_id, kind, url, secret):
    """Send this company's notifications to a webhook too."""
    from webapp.notifications.models import Webhook

    if not url.startswith(("https://", "http://")):
        raise click.BadParameter("the URL must start with https:// or http://", param_hint="--url")
    if kind == "generic" and not secret:
        raise click.UsageError("A generic webhook needs --secret to sign its payloads.")
    hook = Webhook(company_id=company_or_first(company_id), kind=kind, url=url, secret=secret)
    db.session.add(hook)
    db.session.commit()
    click.echo(f"Webhook {hook.id} ({kind}) added.")


@webhooks_cli.command("list")
@company_option
def webhooks_list(company_id):
    """List this company's webhooks."""
    from webapp.notifications.models import Webhook

    hooks = db.session.scalars(
        select(Webhook).where(Webhook.company_id == company_or_first(company_id))
    )
    for hook in hooks:
        click.echo(f"{hook.id}\t{hook.kind}\t{'active' if hook.active else 'off'}\t{hook.url}")
