"""The documents' sums per month, currency and line kind that the reports read (issue 18):
kept as documents are issued, voids included, and the migration's backfill of the documents
issued before it makes the same rows."""

import datetime as dt
import importlib.util
from collections import defaultdict
from pathlib import Path

from sqlalchemy import delete, select

from tests.support.factories import make_client, make_invoice
from webapp.extensions import db
from webapp.invoices import actions
from webapp.invoices.kept_months import to_cents
from webapp.invoices.models import Invoice, InvoicedKindMonth, InvoiceLine

MIGRATION = next(
    (Path(__file__).parents[2] / "migrations" / "versions").glob("*_invoiced_kind_months.py")
)


def _kept(company) -> dict:
    return {
        (r.month, r.currency, r.kind): r.cents
        for r in db.session.scalars(
            select(InvoicedKindMonth).where(InvoicedKindMonth.company_id == company)
        )
    }


def _from_lines(company) -> dict:
    sums = defaultdict(int)
    for day, currency, kind, amount in db.session.execute(
        select(Invoice.issue_date, Invoice.currency, InvoiceLine.kind, InvoiceLine.amount)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(Invoice.company_id == company)
    ):
        sums[(day.replace(day=1), currency, kind)] += to_cents(amount)
    return dict(sums)


def _documents(company, other_company):
    client = make_client(company)
    jan, feb = dt.date(2027, 1, 31), dt.date(2027, 2, 1)
    make_invoice(company, client, ("100.10", "0.05"), issue_date=jan)
    voided = make_invoice(company, client, ("19.99",), issue_date=jan, currency="EUR")
    make_invoice(company, client, ("-3.33",), issue_date=feb)  # a credit note
    make_invoice(company, client, ("7.00",), issue_date=feb, currency="EUR")
    make_invoice(other_company, make_client(other_company), ("999.00",), issue_date=jan)
    return voided


def test_issuing_and_voiding_keep_each_months_sums_to_the_cent(company, other_company):
    voided = _documents(company, other_company)
    actions.void(company, voided, "test", "duplicate")  # its credit note, issued today
    db.session.rollback()
    kept = _kept(company)
    assert kept == _from_lines(company)
    assert kept[(dt.date(2027, 1, 1), "USD", "period")] == 10015
    assert kept[(dt.date(2027, 2, 1), "USD", "period")] == -333
    assert sum(n for (_, _, kind), n in kept.items() if kind == "void") == -1999
    assert _kept(other_company) == {(dt.date(2027, 1, 1), "USD", "period"): 99900}


def test_the_migration_fills_them_from_the_documents_issued_before_it(company, other_company):
    _documents(company, other_company)
    before = _kept(company), _kept(other_company)
    db.session.execute(delete(InvoicedKindMonth))
    spec = importlib.util.spec_from_file_location("kept_months_migration", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration._backfill(db.session.connection())
    db.session.commit()
    assert (_kept(company), _kept(other_company)) == before


def test_rebuild_sums_adds_what_the_previous_release_issued_during_the_upgrade(
    company, other_company, runner
):
    """The migration fills the sums from the documents there are; one the old release issues
    after it (the bill run on an old worker, a void on an old web) adds nothing to them, until
    `flask billing rebuild-sums` makes them again from the lines."""
    _documents(company, other_company)
    late = dt.date(2027, 2, 1)
    db.session.execute(  # what an old release's documents leave: no sums for them
        delete(InvoicedKindMonth).where(
            InvoicedKindMonth.company_id == company, InvoicedKindMonth.month == late
        )
    )
    db.session.commit()
    assert _kept(company) != _from_lines(company)

    done = runner.invoke(args=["billing", "rebuild-sums"])
    assert done.exit_code == 0, done.output
    assert f"company {company}: 4 monthly sums made from its documents" in done.output
    db.session.rollback()
    assert _kept(company) == _from_lines(company)
    assert _kept(other_company) == _from_lines(other_company)
    unknown = runner.invoke(args=["billing", "rebuild-sums", "--company", "999999"])
    assert unknown.exit_code != 0 and "no company 999999" in unknown.output
