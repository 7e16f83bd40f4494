"""`flask events`, `flask deliveries`, `flask relay`, `flask worker`, `flask scheduler`."""

import logging

import click

from webapp.lifecycle.registry import QUEUES, REGISTRY
from webapp.pipeline import deliveries
from webapp.pipeline import relay as pipeline_relay


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


@click.command("relay")
def relay():
    """Enqueue outbox events that never reached Redis, and mail a dead worker left unsent."""
    from webapp.notifications.sending import requeue_stalled

    click.echo(f"{pipeline_relay.relay() + requeue_stalled()} deliveries sent.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--queues", default=",".join(QUEUES), show_default=True)
def worker(burst, queues):
    """Run an RQ worker with this app's configuration and context."""
    from webapp.pipeline.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_worker(queues.split(","), burst=burst)


@click.command("scheduler")
@click.option("--interval", type=int, default=5, show_default=True)
def scheduler(interval):
    """Run rq-scheduler with this app's periodic jobs registered once."""
    from webapp.pipeline.worker import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_scheduler(interval)
