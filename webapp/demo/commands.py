"""`flask seed-demo` and `flask seed-scale`."""

import click
from sqlalchemy import select

from webapp.company.models import Company
from webapp.extensions import db


@click.command("seed-scale")
@click.option("--services", default=100_000, show_default=True, help="How many services.")
@click.option("--clients", type=int, help="How many clients [default: services / 50].")
@click.option("--incidents", type=int, help="How many incidents [default: services x 10].")
@click.option("--events", type=int, help="How many past events [default: services x 10].")
def seed_scale(services, clients, incidents, events):
    """A company at MSP scale, written in bulk, for benchmarks; prints how long it took."""
    from webapp.demo.scale import seed_scale as seed

    if services < 1:
        raise click.BadParameter("at least one service", param_hint="--services")
    click.echo(str(seed(services, clients, incidents, events)))


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when a company exists already.")
@click.option("--wait", is_flag=True, help="Wait for Redis first (when started alongside it).")
def seed_demo(if_empty, wait):
    """Create a demo company with clients, users and services in every status."""
    from webapp.demo.seed import seed_demo_data
    from webapp.pipeline.worker import wait_for_redis

    if wait:
        wait_for_redis()
    if if_empty and db.session.scalar(select(Company.id)) is not None:
        click.echo("Demo data exists already.")
        return
    summary = seed_demo_data()
    click.echo(summary)
