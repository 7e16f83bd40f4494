"""`flask` commands: services, events, deliveries, demo data, worker and scheduler."""

import logging
from decimal import Decimal, InvalidOperation

import click
from sqlalchemy import select

from webapp import api_tokens, deliveries, outbox, service_lifecycle
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES, REGISTRY
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, UserRole
from webapp.lifecycle.transitions import TransitionRefused
from webapp.models import ClientService, Company, DomainEvent, User
from webapp.tenancy import NotFound, get_or_404

ACTOR = "cli"


def register(app):
    for group in (service_cli, events_cli, deliveries_cli, users_cli, webhooks_cli, tokens_cli):
        app.cli.add_command(group)
    for command in (seed_demo, seed_scale, worker, scheduler, relay):
        app.cli.add_command(command)


def _company_option(f):
    return click.option(
        "--company",
        "company_id",
        type=int,
        default=None,
        help="Company id (defaults to the only, or first, company).",
    )(f)


def _company(company_id):
    if company_id is not None:
        return company_id
    first = db.session.scalar(select(Company.id).order_by(Company.id))
    if first is None:
        raise click.ClickException("No company yet: run `flask seed-demo` first.")
    return first


def _run(action, *args, **kwargs):
    try:
        service = action(*args, **kwargs)
    except (TransitionRefused, NotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _print_service(db.session.get(ClientService, service.id))


def _print_service(s: ClientService):
    click.echo(f"service {s.id}  {s.name}  [{s.status.value}]  version {s.version}")
    click.echo(f"  client {s.client_id}  {s.price} {s.currency} {s.billing_cycle.value}")
    click.echo(
        f"  term {s.start_date} .. {s.term_end}  auto-renew {'yes' if s.auto_renew else 'no'}"
    )
    if s.billing:
        b = s.billing
        click.echo(
            f"  billing {b.status.value}: {b.amount} {b.currency} next {b.next_bill_date}"
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
@_company_option
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
    _run(service_lifecycle.provision, _company(company_id), new, ACTOR)


def _simple(name, func, help_text, **extra):
    @service_cli.command(name, help=help_text)
    @_company_option
    @click.argument("service_id", type=int)
    def command(company_id, service_id, **kwargs):
        _run(func, _company(company_id), service_id, ACTOR, **kwargs)

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
    "renew",
    service_lifecycle.renew,
    "Extend the term of a service.",
    options=[click.option("--months", type=click.IntRange(1, 120), default=12)],
)

_simple(
    "price",
    service_lifecycle.change_price,
    "Change the price per cycle from today (a change of seats: a new price with a note).",
    options=[
        click.option("--price", "new_price", required=True, callback=lambda c, p, v: _money(v)),
        click.option("--note", default="", help="Why, such as '25 -> 30 seats'."),
    ],
)


@service_cli.command("show")
@_company_option
@click.argument("service_id", type=int)
def show_cmd(company_id, service_id):
    """Show a service, its billing and its events."""
    try:
        s = get_or_404(ClientService, _company(company_id), service_id)
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


@click.group("events", help="Domain events and their listeners.")
def events_cli():
    pass


@events_cli.command("list")
def events_list():
    """Print every event with its listeners and queues, from the registry."""
    for event_type, listeners in REGISTRY.items():
        click.echo(event_type.__name__)
        if not listeners:
            click.echo("    (audit only)")
        for li in listeners:
            click.echo(f"    {li.name:<30} queue={li.queue:<14} {li.does}")


@click.group("deliveries", help="Listener deliveries that failed.")
def deliveries_cli():
    pass


@deliveries_cli.command("failed")
def deliveries_failed():
    """List failed deliveries with their last error."""
    rows = deliveries.failed()
    if not rows:
        click.echo("No failed deliveries.")
    for d in rows:
        click.echo(
            f"{d.id}\tevent {d.event_id}\t{d.listener}\tattempts {d.attempts}\t{d.last_error}"
        )


@deliveries_cli.command("retry")
@click.argument("delivery_id", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed delivery.")
def deliveries_retry(delivery_id, retry_all):
    """Send a failed delivery (or all of them) again."""
    if (delivery_id is None) == (not retry_all):
        raise click.UsageError("Give a delivery id or --all.")
    count = deliveries.retry(None if retry_all else [delivery_id])
    if not retry_all and count == 0:
        raise click.ClickException(f"Delivery {delivery_id} is not a failed delivery.")
    click.echo(f"{count} deliveries sent again.")


@click.command("seed-scale")
@click.option("--services", default=100_000, show_default=True, help="How many services.")
@click.option("--clients", type=int, help="How many clients [default: services / 50].")
@click.option("--incidents", type=int, help="How many incidents [default: services x 10].")
@click.option("--events", type=int, help="How many past events [default: services x 10].")
def seed_scale(services, clients, incidents, events):
    """A company at MSP scale, written in bulk, for benchmarks; prints how long it took."""
    from webapp.scale_seed import seed_scale as seed

    if services < 1:
        raise click.BadParameter("at least one service", param_hint="--services")
    click.echo(str(seed(services, clients, incidents, events)))


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when a company exists already.")
@click.option("--wait", is_flag=True, help="Wait for Redis first (when started alongside it).")
def seed_demo(if_empty, wait):
    """Create a demo company with clients, users and services in every status."""
    from jobs.worker import wait_for_redis
    from webapp.seed import seed_demo_data

    if wait:
        wait_for_redis()
    if if_empty and db.session.scalar(select(Company.id)) is not None:
        click.echo("Demo data exists already.")
        return
    summary = seed_demo_data()
    click.echo(summary)


@click.command("relay")
def relay():
    """Enqueue outbox events that never reached Redis, and mail a dead worker left unsent."""
    from jobs.notifications import requeue_stalled

    click.echo(f"{outbox.relay() + requeue_stalled()} deliveries sent.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--queues", default=",".join(QUEUES), show_default=True)
def worker(burst, queues):
    """Run an RQ worker with this app's configuration and context."""
    from jobs.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_worker(queues.split(","), burst=burst)


@click.command("scheduler")
@click.option("--interval", type=int, default=5, show_default=True)
def scheduler(interval):
    """Run rq-scheduler with this app's periodic jobs registered once."""
    from jobs.worker import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_scheduler(interval)


@click.group("users", help="People who sign in.")
def users_cli():
    pass


@users_cli.command("create")
@_company_option
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in UserRole]), required=True)
@click.password_option()
def users_create(company_id, email, name, role, password):
    """Create a user who signs in with email and password."""
    from webapp.auth import set_password

    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise click.ClickException(f"A user with email {email} exists already.")
    if len(password) < 10:
        raise click.ClickException("Use a password of at least 10 characters.")
    user = User(company_id=_company(company_id), email=email, name=name, role=UserRole(role))
    set_password(user, password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email} (user {user.id}).")


@click.group("webhooks", help="Chat and integration webhooks that receive notifications.")
def webhooks_cli():
    pass


@webhooks_cli.command("add")
@_company_option
@click.option("--kind", type=click.Choice(["slack", "teams", "generic"]), required=True)
@click.option("--url", required=True)
@click.option("--secret", default=None, help="generic only: the HMAC-SHA256 signing secret")
def webhooks_add(company_id, kind, url, secret):
    """Send this company's notifications to a webhook too."""
    from webapp.models import Webhook

    if not url.startswith(("https://", "http://")):
        raise click.BadParameter("the URL must start with https:// or http://", param_hint="--url")
    if kind == "generic" and not secret:
        raise click.UsageError("A generic webhook needs --secret to sign its payloads.")
    hook = Webhook(company_id=_company(company_id), kind=kind, url=url, secret=secret)
    db.session.add(hook)
    db.session.commit()
    click.echo(f"Webhook {hook.id} ({kind}) added.")


@webhooks_cli.command("list")
@_company_option
def webhooks_list(company_id):
    """List this company's webhooks."""
    from webapp.models import Webhook

    hooks = db.session.scalars(select(Webhook).where(Webhook.company_id == _company(company_id)))
    for hook in hooks:
        click.echo(f"{hook.id}\t{hook.kind}\t{'active' if hook.active else 'off'}\t{hook.url}")


@click.group("tokens", help="API tokens that monitoring tools use to record incidents.")
def tokens_cli():
    pass


@tokens_cli.command("create")
@_company_option
@click.argument("name")
def tokens_create(company_id, name):
    """Make a token for the JSON API (shown once)."""
    try:
        row, token = api_tokens.create(_company(company_id), name, ACTOR)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API token {row.id} ({row.name}) for company {row.company_id}:")
    click.echo(f"  {token}")
    click.echo("Copy it now: only its hash is stored, so it cannot be shown again.")


@tokens_cli.command("list")
@_company_option
def tokens_list(company_id):
    """List this company's API tokens (their first characters, never the token)."""
    rows = api_tokens.tokens(_company(company_id))
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
@_company_option
@click.argument("token_id", type=int)
def tokens_revoke(company_id, token_id):
    """Revoke an API token: requests with it are refused from now on."""
    try:
        row = api_tokens.revoke(_company(company_id), token_id, ACTOR)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API token {row.id} ({row.name}) revoked.")
