"""The Xero and QuickBooks downloads stream in chunks: every document's rows come once across
chunks, a credit note names the invoice it voids wherever that invoice fell, and no statement
binds more values than a chunk (a single IN list of every credit note's invoice passed the
database's bind-parameter limit at scale: 32,766 on SQLite, 65,535 on PostgreSQL)."""

import csv
import datetime as dt
import io
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import event

from tests.support.factories import make_client
from webapp import database
from webapp.accounts.models import UserRole
from webapp.extensions import db
from webapp.invoices import exports, queries
from webapp.invoices import models as im
from webapp.invoices.documents import NewDocument, NewLine, issue_documents, lock_company
from webapp.pipeline.outbox import unit_of_work

CHUNK = 2


def _line(amount: str) -> NewLine:
    return NewLine(None, im.ONCE, "Work", 1, Decimal(amount), Decimal(amount))


def _issue(company_id, day, documents) -> list[int]:
    with unit_of_work():
        return issue_documents(lock_company(company_id), documents, day, "test")


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(queries, "EXPORT_CHUNK", CHUNK)
    monkeypatch.setattr(exports, "BATCH", CHUNK)
    monkeypatch.setattr(database, "SWEEP_CHUNK", CHUNK)


@pytest.fixture
def bound_values(app):
    """The most values any one statement bound while the test ran."""
    most = [0]

    def count(conn, cursor, statement, parameters, context, executemany):
        if not executemany and parameters:
            most[0] = max(most[0], len(parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield most
    event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def documents(app, company):
    """Seven invoices of two lines each, then four credit notes voiding invoices 1, 2, 3 and
    6: with chunks of two, every credit note is read chunks after its invoice."""
    customer = make_client(company, email=None)
    invoices = _issue(
        company,
        dt.date(2026, 3, 1),
        [NewDocument(customer, "EUR", [_line(f"{n}0.00"), _line("1.00")]) for n in range(1, 8)],
    )
    numbers = dict(db.session.execute(db.select(im.Invoice.id, im.Invoice.number)).all())
    voided = [invoices[i] for i in (0, 1, 2, 5)]
    credits = _issue(
        company,
        dt.date(2026, 3, 2),
        [
            NewDocument(customer, "EUR", [_line(f"-{n}0.00"), _line("-1.00")], invoice_id)
            for n, invoice_id in zip((1, 2, 3, 6), voided, strict=True)
        ],
    )
    db.session.commit()
    return {
        "invoices": [numbers[i] for i in invoices],
        "credits": {
            db.session.get(im.Invoice, c).number: numbers[v]
            for c, v in zip(credits, voided, strict=True)
        },
    }


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response.is_streamed
    text = response.get_data(as_text=True).removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_xero_download_streams_every_row_once_across_chunks(
    documents, small_chunks, bound_values, as_role
):
    viewer = as_role(UserRole.VIEWER)
    bound_values[0] = 0
    rows = _rows(viewer.get("/invoices/xero.csv"))
    counts = Counter(r["*InvoiceNumber"] for r in rows)
    assert counts == {n: 2 for n in [*documents["invoices"], *documents["credits"]]}
    references = {r["*InvoiceNumber"]: r["Reference"] for r in rows}
    assert {n: references[n] for n in documents["credits"]} == documents["credits"]
    assert {references[n] for n in documents["invoices"]} == {""}
    # The ids of a chunk and the company: never every document in one statement.
    assert 0 < bound_values[0] <= CHUNK + 2


def test_quickbooks_download_streams_every_invoice_once_across_chunks(
    documents, small_chunks, bound_values, as_role
):
    viewer = as_role(UserRole.VIEWER)
    bound_values[0] = 0
    rows = _rows(viewer.get("/invoices/quickbooks.csv"))
    assert Counter(r["*InvoiceNo"] for r in rows) == {n: 2 for n in documents["invoices"]}
    assert 0 < bound_values[0] <= CHUNK + 2


def test_the_export_functions_still_take_a_list(documents, small_chunks):
    listed = db.session.scalars(db.select(im.Invoice).order_by(im.Invoice.id)).all()
    text = exports.xero_csv(listed)
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert len(rows) == 2 * len(listed)
    references = {r["*InvoiceNumber"]: r["Reference"] for r in rows}
    assert {n: references[n] for n in documents["credits"]} == documents["credits"]
