"""`flask service ...`: move a service through its lifecycle from the command line."""

from decimal import Decimal, InvalidOperation

import click
from sqlalchemy import select

from webapp.company.commands import ACTOR, company_option, company_or_first
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as service_lifecycle
from webapp.services import repricing
from webapp.services.actions import MAX_QUANTITY
from webapp.services.models import ClientService
from webapp.services.queries import ServiceQuery
from webapp.tenancy import NotFound, get_or_404


def _run(action, *args, **kwargs):
    try:
        service = action(*args, **kwargs)
    except (TransitionRefused, NotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _print_service(db.session.get(ClientService, service.id))


def _print_service(s: ClientService):
    click.echo(f"service {s.id}  {s.name}  [{s.status.value}]  version {s.version}")
    seats = f"  x {s.quantity} seats" if s.quantity != 1 else ""
    click.echo(f"  client {s.client_id}  {s.price} {s.currency} {s.billing_cycle.value}{seats}")
    click.echo(
        f"  term {s.start_date} .. {s.term_end}  auto-renew {'yes' if s.auto_renew else 'no'}"
        + (f"  ends on {s.ends_on}" if s.ends_on else "")
    )
    if s.billing:
        from webapp.invoices.dates import service_billing_dates  # invoices build on services

        b, dates = s.billing, service_billing_dates(s.company_id, s.id)
        next_bill = "when it resumes" if dates.suspended else dates.next_bill_date or "none"
        click.echo(
            f"  billing {b.status.value}: {b.amount} {b.currency}  paid through "
            f"{dates.paid_through or '-'}  next bill {next_bill}"
            + (f" final {b.final_amount}" if b.final_amount is not None else "")
        )


@click.group("service", help="Move a service through its lifecycle.")
def service_cli():
    pass


def _money(value):
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount") from None


@service_cli.command("provision")
@company_option
@click.option("--client", "client_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--type", "service_type", default="managed_service", show_default=True)
@click.option("--price", required=True, callback=lambda c, p, v: _money(v))
@click.option("--currency", default="USD", show_default=True)
@click.option("--cycle", type=click.Choice([c.value for c in BillingCycle]), default="monthly")
@click.option("--term-months", type=click.IntRange(1, 120), default=12, show_default=True)
@click.option("--level", type=click.Choice([v.value for v in ServiceLevel]), default="standard")
@click.option("--auto-renew/--no-auto-renew", default=False)
def provision_cmd(
    company_id,
    client_id,
    name,
    service_type,
    price,
    currency,
    cycle,
    term_months,
    level,
    auto_renew,
):
    """Provision a new service (pending)."""
    new = service_lifecycle.NewService(
        client_id=client_id,
        name=name,
        service_type=service_type,
        price=price,
        currency=currency,
        billing_cycle=BillingCycle(cycle),
        term_months=term_months,
        service_level=ServiceLevel(level),
        auto_renew=auto_renew,
    )
    _run(service_lifecycle.provision, company_or_first(company_id), new, ACTOR)


def _simple(name, func, help_text, **extra):
    @service_cli.command(name, help=help_text)
    @company_option
    @click.argument("service_id", type=int)
    def command(company_id, service_id, **kwargs):
        _run(func, company_or_first(company_id), service_id, ACTOR, **kwargs)

    for option in reversed(extra.get("options", [])):
        command = option(command)
    return command


_simple("activate", service_lifecycle.activate, "Activate a pending service.")


_simple("resume", service_lifecycle.resume, "Resume a suspended service.")


_simple(
    "suspend",
    service_lifecycle.suspend,
    "Suspend an active service.",
    options=[click.option("--reason", required=True)],
)


_simple(
    "cancel",
    service_lifecycle.cancel,
    "Cancel a service, now or at term end.",
    options=[
        click.option("--reason", required=True),
        click.option("--at-term-end", is_flag=True, help="Cancel when the term ends."),
    ],
)


_simple(
    "undo-cancellation",
    service_lifecycle.undo_cancellation,
    "Withdraw a cancellation at term end before the day it takes effect.",
)


_simple(
    "renew",
    service_lifecycle.renew,
    "Extend the term of a service.",
    options=[click.option("--months", type=click.IntRange(1, 120), default=12)],
)


_simple(
    "price",
    service_lifecycle.change_price,
    "Change the unit price per cycle from today (seats: flask service quantity).",
    options=[
        click.option("--price", "new_price", required=True, callback=lambda c, p, v: _money(v)),
        click.option("--note", default="", help="Why, such as 'yearly price review'."),
    ],
)


@service_cli.command("quantity")
@company_option
@click.argument("service_id", type=int)
@click.argument("new_quantity", metavar="N", type=click.IntRange(1, MAX_QUANTITY))
@click.option("--note", default="", help="Why, such as 'two new starters'.")
def quantity_cmd(company_id, service_id, new_quantity, note):
    """Change the number of seats from today; the unit price stays."""
    _run(
        service_lifecycle.change_quantity,
        company_or_first(company_id),
        service_id,
        ACTOR,
        new_quantity,
        note=note,
    )


@service_cli.command("bulk-price")
@company_option
@click.option("--percent", help="The change in percent, such as 5 or -10.")
@click.option("--amount", help="The change per unit, such as 2.50 or -1.")
@click.option("--status", type=click.Choice([s.value for s in repricing.CHANGEABLE]))
@click.option("--type", "service_type", help="Only services of this type, such as m365.")
@click.option("--client", "client_id", type=int, help="Only this client's services.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
def bulk_price_cmd(company_id, percent, amount, status, service_type, client_id, dry_run):
    """Change the unit price of many services at once (pending, active and suspended ones
    the filters select), each a price change of its own; all of them or none."""
    if (percent is None) == (amount is None):
        raise click.UsageError("Give --percent or --amount (one of them).")
    step = repricing.PriceStep(
        repricing.PERCENT if percent is not None else repricing.AMOUNT,
        _money(percent if percent is not None else amount),
    )
    problem = repricing.step_problem(step)
    if problem:
        raise click.BadParameter(problem, param_hint="--percent" if percent else "--amount")
    query = ServiceQuery(status=status or "", client=client_id, service_type=service_type or "")
    company = company_or_first(company_id)
    preview = repricing.preview(company, query, step)
    for r in preview.rows:
        mark = f"  ({r.problem})" if r.problem else ("  (unchanged)" if r.unchanged else "")
        click.echo(
            f"service {r.service_id}  {r.name} ({r.client})  [{r.status.value}]  "
            f"{r.old} -> {r.new} {r.currency}{mark}"
        )
    counts = ", ".join(f"{n} in {c}" for c, n in preview.per_currency.items()) or "none"
    click.echo(f"{len(preview.changing)} price changes ({step.label}): {counts}.")
    if preview.too_many:
        raise click.ClickException(repricing.too_many(preview.selected))
    if preview.problems:
        raise click.ClickException(
            f"{len(preview.problems)} services would get a price no service can have: "
            "nothing was changed."
        )
    if dry_run or not preview.changing:
        click.echo("Nothing was changed.")
        return
    seen = {r.service_id: r.version for r in preview.changing}
    try:
        changed = repricing.apply(company, seen, step, ACTOR)
    except TransitionRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Changed the price of {changed} services.")


@service_cli.command("show")
@company_option
@click.argument("service_id", type=int)
def show_cmd(company_id, service_id):
    """Show a service, its billing and its events."""
    try:
        s = get_or_404(ClientService, company_or_first(company_id), service_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    _print_service(s)
    events = db.session.scalars(
        select(DomainEvent).where(DomainEvent.service_id == s.id).order_by(DomainEvent.id)
    )
    for e in events:
        click.echo(f"  {e.occurred_at:%Y-%m-%d %H:%M:%S}  {e.type}  by {e.actor}")
        for d in e.deliveries:
            err = f"  ({d.last_error})" if d.last_error else ""
            click.echo(f"      {d.listener}: {d.status.value}{err}")
