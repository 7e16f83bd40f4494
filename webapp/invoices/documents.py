"""Issuing documents: an invoice or credit note from its lines, with its gapless number, its
tax and totals (DESIGN.md, "Money"), the parties as at issue, and its event in the outbox.

Both the bill run and voiding issue through here, under the company's lock (lock_company), so
numbers are handed out one writer at a time and in the order documents are issued; the
sequence row is written in the issuing transaction, so a run that rolls back gives its
numbers back and none is skipped.
"""

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from sqlalchemy import func, insert, select, update

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.database import chunked
from webapp.extensions import db
from webapp.invoices import kept_months
from webapp.invoices.models import (
    CREDIT_NOTE,
    INVOICE,
    ISSUED,
    DocumentSequence,
    Invoice,
    InvoiceLine,
)
from webapp.lifecycle import events as ev
from webapp.lifecycle.invoicing import cents
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.outbox import record_many


@dataclass(frozen=True)
class NewLine:
    service_id: int | None
    kind: str
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal  # signed, rounded to the cent
    billing_key: str | None = None
    event_id: int | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None  # exclusive
    service_version: int | None = None


@dataclass(frozen=True)
class NewDocument:
    client_id: int
    currency: str
    lines: Sequence[NewLine]
    credits_invoice_id: int | None = None
    note: str | None = None
    # None: the client's rate, else the company's. A voiding credit note keeps its invoice's
    # rate, so it reverses the invoice's tax exactly even after the rate changed.
    tax_rate: Decimal | None = None


def kind_of(document: NewDocument) -> str:
    """A document whose net total is below zero is a credit note, any other an invoice."""
    return CREDIT_NOTE if sum(x.amount for x in document.lines) < 0 else INVOICE


def lock_company(company_id: int) -> Company:
    """The company's row, locked until commit: bill runs and voids issue one at a time.

    FOR NO KEY UPDATE on PostgreSQL, not FOR UPDATE: every row inserted for the company (an
    event in the outbox, say) takes FOR KEY SHARE on it through its foreign key, which FOR
    UPDATE would block for the whole run; and a writer that holds a service or an invoice
    while it inserts its event would deadlock with the run or the void waiting for that row."""
    return db.session.scalars(
        select(Company).where(Company.id == company_id).with_for_update(key_share=True)
    ).one()


def number_text(company: Company, kind: str, year: int, sequence: int) -> str:
    prefix = company.invoice_prefix if kind == INVOICE else company.credit_note_prefix
    return (
        f"{prefix}{year}-{sequence:05d}" if company.number_with_year else f"{prefix}{sequence:05d}"
    )


# What follows the prefix in a number (number_text): an optional "YYYY-", then the sequence.
_AFTER_PREFIX = re.compile(r"(\d{4}-)?\d{5,}")
PREFIX_SETTING = {INVOICE: "invoice number prefix", CREDIT_NOTE: "credit note number prefix"}


class NumberTaken(TransitionRefused):
    """A document's number is already another document's: the prefixes were changed to one
    the other kind used before (a change the settings form refuses, unless it raced a run)."""

    def __init__(self, number: str, kind: str):
        self.number = number
        super().__init__(
            f"Cannot issue {number}: a document already has that number. Change the "
            f"{PREFIX_SETTING[kind]} in the invoicing settings to one no earlier document "
            "used, then run again."
        )


def number_of_other_kind(company_id: int, kind: str, prefix: str) -> str | None:
    """A stored number of the kind other than `kind` that a `kind` number with `prefix` could
    equal (prefix, then what number_text puts after one), if any. Case-sensitive, as the
    UNIQUE(company_id, number) it guards."""
    other = CREDIT_NOTE if kind == INVOICE else INVOICE
    candidates = db.session.scalars(
        select(Invoice.number).where(
            Invoice.company_id == company_id,
            Invoice.kind == other,
            func.substr(Invoice.number, 1, len(prefix)) == prefix,
            func.substr(Invoice.number, len(prefix) + 1, 1).in_(list("0123456789")),
        )
    )
    return next((n for n in candidates if _AFTER_PREFIX.fullmatch(n[len(prefix) :])), None)


def _refuse_taken_numbers(company_id: int, rows: list[dict]) -> None:
    """Refuse, before writing, a number a stored document already has (the caller holds
    lock_company, so no other writer issues meanwhile)."""
    kinds = {row["number"]: row["kind"] for row in rows}
    for numbers in chunked(list(kinds)):
        taken = db.session.scalar(
            select(Invoice.number)
            .where(Invoice.company_id == company_id, Invoice.number.in_(numbers))
            .limit(1)
        )
        if taken is not None:
            raise NumberTaken(taken, kinds[taken])


# Numbers without the year in them run on from year to year (a sequence restarting each year
# would give INV-00001 twice): their sequence is kept under this year.
RUNNING = 0


def sequence_year(company: Company, issue_date: dt.date) -> int:
    return issue_date.year if company.number_with_year else RUNNING


def _take_numbers(company_id: int, kind: str, year: int, count: int) -> int:
    """Reserve `count` numbers; returns the first. The caller holds lock_company."""
    last = db.session.scalar(
        select(DocumentSequence.last_number).where(
            DocumentSequence.company_id == company_id,
            DocumentSequence.kind == kind,
            DocumentSequence.year == year,
        )
    )
    if last is None:
        db.session.add(
            DocumentSequence(company_id=company_id, kind=kind, year=year, last_number=count)
        )
        db.session.flush()
        return 1
    db.session.execute(
        update(DocumentSequence)
        .where(
            DocumentSequence.company_id == company_id,
            DocumentSequence.kind == kind,
            DocumentSequence.year == year,
        )
        .values(last_number=last + count)
    )
    return last + 1


# Lines written per statement. A part of a first bill run (months of periods caught up: some
# 40,000 lines) held as one list of rows, and again as the driver's parameters, added 45 MB
# to the worker's peak at once; in batches only one batch's rows are held.
LINE_BATCH = 2000


def issue_documents(
    company: Company,
    documents: Sequence[NewDocument],
    issue_date: dt.date,
    actor: str,
    bill_run_id: int | None = None,
) -> list[int]:
    """Write `documents` (in the order given, which is the order of their numbers) with their
    lines and events, in the open unit of work; their ids. The caller holds lock_company.

    A document whose net total is below zero is a credit note, any other an invoice. Amounts
    are stored signed: a credit note's totals are negative."""
    if not documents:
        return []
    clients = {
        c.id: c
        for c in db.session.scalars(
            select(Client).where(
                Client.company_id == company.id,
                Client.id.in_({d.client_id for d in documents}),
            )
        )
    }
    kinds = [kind_of(d) for d in documents]
    next_number = {
        kind: _take_numbers(company.id, kind, sequence_year(company, issue_date), kinds.count(kind))
        for kind in (INVOICE, CREDIT_NOTE)
        if kind in kinds
    }
    rows = []
    for document, kind in zip(documents, kinds, strict=True):
        client = clients[document.client_id]
        sequence = next_number[kind]
        next_number[kind] += 1
        rows.append(
            _document_row(company, client, document, kind, sequence, issue_date, bill_run_id)
        )
    _refuse_taken_numbers(company.id, rows)
    ids = db.session.scalars(
        insert(Invoice.__table__).returning(Invoice.__table__.c.id, sort_by_parameter_order=True),
        rows,
    ).all()
    lines = (
        _line_row(company.id, invoice_id, line)
        for invoice_id, document in zip(ids, documents, strict=True)
        for line in document.lines
    )
    while batch := list(islice(lines, LINE_BATCH)):
        db.session.execute(insert(InvoiceLine.__table__), batch)
    kept_months.add(company.id, issue_date, documents)
    record_many(
        [
            (_issued_event(invoice_id, row), company.id)
            for invoice_id, row in zip(ids, rows, strict=True)
        ],
        actor,
    )
    return list(ids)


def _document_row(company, client, document, kind, sequence, issue_date, bill_run_id) -> dict:
    net = sum((line.amount for line in document.lines), Decimal("0.00"))
    rate = document.tax_rate
    if rate is None:
        rate = client.tax_rate if client.tax_rate is not None else company.tax_rate
    tax = cents(net * Decimal(rate) / 100)
    terms = client.payment_terms_days
    terms = company.payment_terms_days if terms is None else terms
    return {
        "company_id": company.id,
        "kind": kind,
        "number": number_text(company, kind, issue_date.year, sequence),
        "year": issue_date.year,
        "sequence": sequence,
        "client_id": client.id,
        "bill_run_id": bill_run_id,
        "issue_date": issue_date,
        "due_date": issue_date + dt.timedelta(days=terms) if kind == INVOICE else None,
        "currency": document.currency,
        "net_total": cents(net),
        "tax_rate": Decimal(rate),
        "tax_total": tax,
        "total": cents(net) + tax,
        "status": ISSUED,
        "credits_invoice_id": document.credits_invoice_id,
        "parties": {"company": _party(company), "client": _party(client)},
        "note": document.note,
        "created_at": utcnow(),
    }


def _party(who: Company | Client) -> dict:
    """A party as it was at issue: a later change of address does not rewrite the document."""
    return {
        "name": who.name,
        "address": who.address or "",
        "country": who.country or "",
        "vat_id": who.vat_id or "",
    }


def _line_row(company_id: int, invoice_id: int, line: NewLine) -> dict:
    return {
        "company_id": company_id,
        "invoice_id": invoice_id,
        "service_id": line.service_id,
        "kind": line.kind,
        "billing_key": line.billing_key,
        "event_id": line.event_id,
        "description": line.description[:300],
        "period_start": line.period_start,
        "period_end": line.period_end,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "amount": line.amount,
        "service_version": line.service_version,
    }


def _issued_event(invoice_id: int, row: dict) -> ev.Event:
    common = {
        "service_id": None,
        "invoice_id": invoice_id,
        "client_id": row["client_id"],
        "number": row["number"],
        "currency": row["currency"],
        "total": row["total"],
        "issue_date": row["issue_date"],
    }
    if row["kind"] == CREDIT_NOTE:
        return ev.CreditNoteIssued(**common, credits_invoice_id=row["credits_invoice_id"])
    return ev.InvoiceIssued(**common)
