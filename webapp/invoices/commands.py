"""`flask billing run [--date D]`: a bill run now, for every company or one; `flask billing
rebuild-sums`: the reports' invoiced sums made again from the documents."""

import datetime as dt
import logging

import click
from sqlalchemy import select

from webapp.clock import today
from webapp.company.models import Company
from webapp.demo import seeding
from webapp.extensions import db
from webapp.invoices import kept_months
from webapp.invoices.bill_run import BillRunRefused, run_bill_run
from webapp.invoices.documents import lock_company
from webapp.pipeline.outbox import unit_of_work

log = logging.getLogger(__name__)


@click.group("billing", help="Bill runs: recurring billing into invoices.")
def billing_cli():
    pass


@billing_cli.command("run")
@click.option(
    "--date",
    "run_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Bill as of this day (default today); never before the last run's day.",
)
@click.option("--company", "company_id", type=int, help="Only this company (default: every one).")
def run_command(run_date, company_id):
    day = run_date.date() if run_date else today()
    ids = [company_id] if company_id else all_company_ids()
    if company_id and db.session.get(Company, company_id) is None:
        raise click.ClickException(f"There is no company {company_id}.")
    failed = False
    for cid in ids:
        try:
            result = run_bill_run(cid, day, "cli")
        except BillRunRefused as exc:
            click.echo(f"company {cid}: {exc}", err=True)
            failed = True
            continue
        click.echo(
            f"company {cid}: bill run {result.run_id} for {day}: {result.invoices} invoices, "
            f"{result.credit_notes} credit notes, {result.lines} lines"
        )
    if failed:
        raise SystemExit(1)


@billing_cli.command("rebuild-sums")
@click.option("--company", "company_id", type=int, help="Only this company (default: every one).")
def rebuild_sums_command(company_id):
    """The reports' invoiced sums per month made again from the documents: once after the
    upgrade that added them, when the new release runs everywhere (the previous release's
    documents issued while the migration ran are added)."""
    if company_id and db.session.get(Company, company_id) is None:
        raise click.ClickException(f"There is no company {company_id}.")
    for cid in [company_id] if company_id else all_company_ids():
        with unit_of_work():
            lock_company(cid)  # no document is issued meanwhile
            rows = kept_months.rebuild(cid)
        click.echo(f"company {cid}: {rows} monthly sums made from its documents")


def all_company_ids() -> list[int]:
    ids = db.session.scalars(select(Company.id).order_by(Company.id)).all()
    db.session.rollback()
    return list(ids)


def run_for_every_company(day: dt.date | None = None, actor: str = "scheduler") -> int:
    """The daily job: today's run for each company; a company whose last run is later (a run
    made by hand for a later day cannot be, runs stop at today) is skipped. Documents issued."""
    issued, failed = 0, []
    for cid in all_company_ids():
        if seeding.in_progress(cid):
            continue  # the demo seed is billing its past year night by night, then today
        try:
            result = run_bill_run(cid, day or today(), actor)
        except BillRunRefused:
            continue
        except Exception as exc:  # one company's failure stops no other's billing
            log.exception("bill run for company %s failed", cid)
            failed.append(exc)
            continue
        issued += result.invoices + result.credit_notes
    if failed:
        raise failed[0]  # the job fails, visibly (Operations > Queues), after the others ran
    return issued
