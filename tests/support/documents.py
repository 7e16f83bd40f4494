"""Issuing invoices and credit notes in tests, through the one function the bill run and
voiding use (webapp.invoices.documents.issue_documents)."""

import datetime as dt
from decimal import Decimal

from webapp.extensions import db
from webapp.invoices.documents import NewDocument, NewLine, issue_documents, lock_company
from webapp.invoices.models import Invoice
from webapp.pipeline.outbox import unit_of_work

DAY = dt.date(2026, 12, 5)


def line(description, amount, *, quantity=1, unit_price=None, start=None, end=None, kind="period"):
    """A line of `amount` (a string, signed); `end` is exclusive, as stored."""
    amount = Decimal(amount)
    return NewLine(
        service_id=None,
        kind=kind,
        description=description,
        quantity=quantity,
        unit_price=Decimal(unit_price) if unit_price is not None else abs(amount) / quantity,
        amount=amount,
        period_start=start,
        period_end=end,
    )


def issue(company_id, client_id, lines, *, day=DAY, currency="EUR", credits=None) -> Invoice:
    """One document, issued and committed (its event published); the Invoice row."""
    with unit_of_work():
        company = lock_company(company_id)
        [invoice_id] = issue_documents(
            company,
            [NewDocument(client_id, currency, lines, credits_invoice_id=credits)],
            day,
            "test",
        )
    return db.session.get(Invoice, invoice_id)
