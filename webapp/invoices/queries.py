"""Reads of invoices and credit notes: the list and its filters (a page, the totals per
currency, the CSV and the accounting exports of every matching document), one document with
its lines, and the documents shown on a client's and a service's page.

Amounts are stored signed (a credit note's are negative), so the totals over any filtered set
are plain sums: a void invoice and the credit note that voids it add up to nothing.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from webapp.clients.models import Client
from webapp.clock import to_local, utcnow
from webapp.company.models import Company
from webapp.date_range import DateRange
from webapp.exports import CHUNK, keyset_chunks
from webapp.extensions import db
from webapp.invoices.models import CREDIT_NOTE, INVOICE, ISSUED, PAID, VOID, Invoice, InvoiceLine
from webapp.lifecycle.invoicing import cents
from webapp.query_args import id_arg
from webapp.services.models import ClientService
from webapp.tenancy import get_or_404

OVERDUE = "overdue"  # not a stored status: an issued invoice past its due date
STATUSES = (ISSUED, PAID, VOID, OVERDUE)
KINDS = (INVOICE, CREDIT_NOTE)
KIND_LABELS = {INVOICE: "Invoice", CREDIT_NOTE: "Credit note"}

SHOWN_ON_PAGES = 10  # a client's documents, a service's lines


def company_today(company_id: int) -> dt.date:
    """Today in the company's time zone: the day payments are dated and due dates pass."""
    zone = db.session.scalar(select(Company.timezone).where(Company.id == company_id))
    return to_local(utcnow(), zone or "UTC").date()


@dataclass(frozen=True)
class InvoiceQuery:
    client: int | None = None
    status: str = ""
    kind: str = ""
    issued: DateRange = DateRange()  # on the issue date

    @classmethod
    def from_args(cls, args) -> "InvoiceQuery":
        """The filters from a query string (the page's, or its downloads', which have no
        pages)."""
        status, kind = args.get("status", ""), args.get("kind", "")
        return cls(
            client=id_arg(args, "client"),
            status=status if status in STATUSES else "",
            kind=kind if kind in KINDS else "",
            issued=DateRange.from_args(args),
        )

    @property
    def args(self) -> dict:
        """The filters as the query string carries them."""
        return {
            "client": self.client,
            "status": self.status or None,
            "kind": self.kind or None,
            **self.issued.args,
        }

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in self.args.values())


def _outstanding():
    return and_(Invoice.kind == INVOICE, Invoice.status == ISSUED)


def invoice_filters(company_id: int, query: InvoiceQuery, today: dt.date) -> list:
    found = [Invoice.company_id == company_id, *query.issued.on_dates(Invoice.issue_date)]
    if query.client:
        found.append(Invoice.client_id == query.client)
    if query.kind:
        found.append(Invoice.kind == query.kind)
    if query.status == OVERDUE:
        found += [_outstanding(), Invoice.due_date < today]
    elif query.status:
        found.append(Invoice.status == query.status)
    return found


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    documents: int
    net: Decimal
    tax: Decimal
    total: Decimal
    outstanding: Decimal  # issued invoices not paid (nor void); credit notes are never "due"
    overdue: Decimal  # of which past their due date


@dataclass(frozen=True)
class InvoicePage:
    rows: list[Invoice]  # with their clients
    total: int
    page: int
    pages: int
    totals: list[CurrencyTotals]
    today: dt.date  # the company's: an issued invoice due before it is overdue


def invoices_page(company_id: int, query: InvoiceQuery, page: int, page_size: int) -> InvoicePage:
    """A page of the matching documents, newest first, and the totals of all of them."""
    today = company_today(company_id)
    filters = invoice_filters(company_id, query, today)
    totals = currency_totals(filters, today)
    count = sum(t.documents for t in totals)
    pages = max(1, -(-count // page_size))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        select(Invoice)
        .options(joinedload(Invoice.client, innerjoin=True))
        .where(*filters)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return InvoicePage(list(rows), count, page, pages, totals, today)


def currency_totals(filters: list, today: dt.date) -> list[CurrencyTotals]:
    """Net, tax, total and what is still owed, per currency (never added across them), in one
    grouped statement."""
    owed = _outstanding()
    late = and_(owed, Invoice.due_date < today)
    zero = Decimal("0.00")
    return [
        CurrencyTotals(currency, n, *(cents(Decimal(v if v is not None else 0)) for v in sums))
        for currency, n, *sums in db.session.execute(
            select(
                Invoice.currency,
                func.count(Invoice.id),
                func.sum(Invoice.net_total),
                func.sum(Invoice.tax_total),
                func.sum(Invoice.total),
                func.sum(case((owed, Invoice.total), else_=zero)),
                func.sum(case((late, Invoice.total), else_=zero)),
            )
            .where(*filters)
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        )
    ]


def is_open(invoice: Invoice) -> bool:
    """Whether the document can still be marked paid or voided: an issued invoice."""
    return invoice.kind == INVOICE and invoice.status == ISSUED


def is_overdue(invoice: Invoice, today: dt.date) -> bool:
    return (
        invoice.kind == INVOICE
        and invoice.status == ISSUED
        and invoice.due_date is not None
        and invoice.due_date < today
    )


# --- One document --------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRow:
    line: InvoiceLine
    service_name: str | None
    last_day: dt.date | None  # the period's last day (its stored end is the day after)


@dataclass(frozen=True)
class Document:
    invoice: Invoice
    lines: list[LineRow]
    credits: Invoice | None  # the invoice this credit note voids
    voided_by: Invoice | None  # the credit note that voids this invoice
    overdue: bool


def document(company_id: int, invoice_id: int) -> Document:
    """One document of the company (another company's is not found), with its lines."""
    invoice = get_or_404(Invoice, company_id, invoice_id)
    lines = [
        LineRow(line, name, line.period_end - dt.timedelta(days=1) if line.period_end else None)
        for line, name in db.session.execute(
            select(InvoiceLine, ClientService.name)
            .outerjoin(ClientService, InvoiceLine.service_id == ClientService.id)
            .where(InvoiceLine.company_id == company_id, InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.id)
        )
    ]
    related = {
        row.id: row
        for row in db.session.scalars(
            select(Invoice).where(
                Invoice.company_id == company_id,
                Invoice.id.in_(
                    [i for i in (invoice.credits_invoice_id, invoice.voided_by_id) if i]
                ),
            )
        )
    }
    return Document(
        invoice=invoice,
        lines=lines,
        credits=related.get(invoice.credits_invoice_id),
        voided_by=related.get(invoice.voided_by_id),
        overdue=is_overdue(invoice, company_today(company_id)),
    )


# --- On other pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientDocuments:
    latest: list[Invoice]
    outstanding: dict[str, Decimal]  # currency -> issued invoices' totals not yet paid
    today: dt.date


def client_documents(
    company_id: int, client_id: int, limit: int = SHOWN_ON_PAGES
) -> ClientDocuments:
    latest = db.session.scalars(
        select(Invoice)
        .where(Invoice.company_id == company_id, Invoice.client_id == client_id)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(limit)
    ).all()
    outstanding = {
        currency: cents(Decimal(total))
        for currency, total in db.session.execute(
            select(Invoice.currency, func.sum(Invoice.total))
            .where(
                Invoice.company_id == company_id,
                Invoice.client_id == client_id,
                _outstanding(),
            )
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        )
    }
    return ClientDocuments(list(latest), outstanding, company_today(company_id))


@dataclass(frozen=True)
class ServiceLine:
    line: InvoiceLine
    invoice: Invoice


def service_lines(company_id: int, service_id: int, limit: int = SHOWN_ON_PAGES):
    """The service's latest invoice lines, each with its document."""
    return [
        ServiceLine(line, invoice)
        for line, invoice in db.session.execute(
            select(InvoiceLine, Invoice)
            .join(Invoice, InvoiceLine.invoice_id == Invoice.id)
            .where(InvoiceLine.company_id == company_id, InvoiceLine.service_id == service_id)
            .order_by(InvoiceLine.id.desc())
            .limit(limit)
        )
    ]


# --- Downloads -----------------------------------------------------------------------------

EXPORT_CHUNK = CHUNK  # documents loaded at a time for the accounting exports

CSV_HEADER = [
    "number",
    "kind",
    "status",
    "issue_date",
    "due_date",
    "client",
    "currency",
    "net",
    "tax_rate_percent",
    "tax",
    "total",
    "paid_on",
    "payment_reference",
    "credits_invoice",
    "voided_by",
    "note",
]


def csv_rows(company_id: int, query: InvoiceQuery) -> Iterator[tuple]:
    """Every matching document as the CSV's rows (signed amounts, as stored), in issue order,
    read in keyset chunks."""
    filters = invoice_filters(company_id, query, company_today(company_id))
    credits, voided_by = aliased(Invoice), aliased(Invoice)
    read = (
        select(
            Invoice.id,
            Invoice.number,
            Invoice.kind,
            Invoice.status,
            Invoice.issue_date,
            Invoice.due_date,
            Client.name,
            Invoice.currency,
            Invoice.net_total,
            Invoice.tax_rate,
            Invoice.tax_total,
            Invoice.total,
            Invoice.paid_on,
            Invoice.payment_reference,
            credits.number,
            voided_by.number,
            Invoice.note,
        )
        .join(Client, Invoice.client_id == Client.id)
        .outerjoin(credits, Invoice.credits_invoice_id == credits.id)
        .outerjoin(voided_by, Invoice.voided_by_id == voided_by.id)
        .where(*filters)
    )
    for chunk in keyset_chunks(read, Invoice.id):
        for row in chunk:
            yield tuple(row)[1:]


def documents_for_export(company_id: int, query: InvoiceQuery) -> Iterator[Invoice]:
    """Every matching document with its lines, in issue order, for the accounting exports:
    read in keyset chunks, each chunk's documents loaded whole and detached from the session
    before its read ends, so a long download holds neither a transaction nor every document."""
    filters = invoice_filters(company_id, query, company_today(company_id))
    for chunk in keyset_chunks(select(Invoice.id).where(*filters), Invoice.id, EXPORT_CHUNK):
        invoices = db.session.scalars(
            select(Invoice)
            .options(selectinload(Invoice.lines))
            .where(Invoice.company_id == company_id, Invoice.id.in_([row.id for row in chunk]))
            .order_by(Invoice.id)
        ).all()
        for invoice in invoices:
            for line in invoice.lines:
                db.session.expunge(line)
            db.session.expunge(invoice)
        db.session.rollback()
        yield from invoices
