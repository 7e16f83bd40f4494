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
    """Send this company's notifications to a webhook too (its URL checked as Settings does)."""
    from webapp.notifications.actions import WebhookRefused, add_webhook

    try:
        hook = add_webhook(company_or_first(company_id), kind, url, secret, "cli")
    except WebhookRefused as refused:
        raise click.BadParameter(str(refused), param_hint=f"--{refused.field}") from None
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
