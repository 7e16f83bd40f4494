"""Invoices and credit notes ("documents"), their lines, bill runs, number sequences, and each
service's invoicing cursor."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.database import Money, TenantMixin
from webapp.extensions import db

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
DOCUMENT_KINDS = (INVOICE, CREDIT_NOTE)

ISSUED = "issued"
PAID = "paid"
VOID = "void"
DOCUMENT_STATUSES = (ISSUED, PAID, VOID)

# Line kinds. A period line charges one billing period in advance; setup charges a service's
# setup fee once; once charges a one-time service; adjustment settles a price or quantity
# change; credit gives back the paid days after a stop; void reverses a voided invoice's line.
PERIOD, SETUP, ONCE, ADJUSTMENT, CREDIT, VOID_LINE = (
    "period",
    "setup",
    "once",
    "adjustment",
    "credit",
    "void",
)


class BillRun(TenantMixin, db.Model):
    """One bill run: runs go forward (none for a date before the last one's)."""

    __tablename__ = "bill_runs"
    __table_args__ = (Index("ix_bill_runs_company_date", "company_id", "run_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_date: Mapped[dt.date]
    actor: Mapped[str] = mapped_column(String(120))
    invoices: Mapped[int] = mapped_column(default=0)
    credit_notes: Mapped[int] = mapped_column(default=0)
    lines: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DocumentSequence(TenantMixin, db.Model):
    """The last number given per company, kind and year: updated in the transaction that
    issues the document, so a rolled-back run gives its numbers back and none is skipped."""

    __tablename__ = "document_sequences"
    __table_args__ = (UniqueConstraint("company_id", "kind", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    year: Mapped[int]
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(TenantMixin, db.Model):
    """An invoice or a credit note. Amounts are in the document's currency; the parties are
    kept as they were at issue (a client's later change of address does not rewrite it)."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("company_id", "kind", "year", "sequence"),
        UniqueConstraint("company_id", "number"),
        Index("ix_invoices_company_date", "company_id", "issue_date"),
        Index("ix_invoices_company_client_date", "company_id", "client_id", "issue_date"),
        Index("ix_invoices_company_status", "company_id", "status", "issue_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # INVOICE or CREDIT_NOTE
    number: Mapped[str] = mapped_column(String(40))
    year: Mapped[int]
    sequence: Mapped[int]
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    bill_run_id: Mapped[int | None] = mapped_column(ForeignKey("bill_runs.id"))
    issue_date: Mapped[dt.date]
    due_date: Mapped[dt.date | None]  # credit notes have none
    currency: Mapped[str] = mapped_column(String(3))
    net_total: Mapped[Decimal] = mapped_column(Money)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))  # percent
    tax_total: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(10), default=ISSUED)
    paid_on: Mapped[dt.date | None]
    payment_reference: Mapped[str | None] = mapped_column(String(120))
    # A credit note that voids an invoice names it; the invoice names the credit note.
    credits_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    # {"company": {"name", "address"}, "client": {"name", "address"}} as at issue.
    parties: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()
    lines: Mapped[list["InvoiceLine"]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.id"
    )

    @property
    def is_credit_note(self) -> bool:
        return self.kind == CREDIT_NOTE


class InvoiceLine(TenantMixin, db.Model):
    """One line. `billing_key` makes billing exactly once per service: "period:<start>" for a
    period, "setup", "once", "event:<id>" for the adjustment or credit an event made. Lines
    that bill nothing new (a voiding credit note's) have no key. Written by
    documents.issue_documents alone, which adds them to the reports' sums (InvoicedKindMonth)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("service_id", "billing_key"),
        Index("ix_invoice_lines_invoice", "invoice_id"),
        Index("ix_invoice_lines_company_service", "company_id", "service_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("client_services.id"))
    kind: Mapped[str] = mapped_column(String(12))
    billing_key: Mapped[str | None] = mapped_column(String(40))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("domain_events.id"))
    description: Mapped[str] = mapped_column(String(300))
    period_start: Mapped[dt.date | None]
    period_end: Mapped[dt.date | None]  # exclusive: the first day of the next period
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)  # net, rounded to the cent; signed
    # The service's version the line was priced at (a change on a period's first day made
    # after its line is settled by an adjustment; one made before is in the line).
    service_version: Mapped[int | None]

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoicedKindMonth(TenantMixin, db.Model):
    """What a company's documents issued in a month add up to, per currency and line kind, in
    cents: the reports read these, not every line of the months (a month's bill runs at
    100,000 services write over 100,000 lines). A document's lines, currency and issue date
    never change, and issue_documents is the one writer of documents and lines, so it adds
    each one's lines here as it writes them (webapp.invoices.kept_months): another writer of
    lines must add to these too."""

    __tablename__ = "invoiced_kind_months"
    __table_args__ = (UniqueConstraint("company_id", "month", "currency", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[dt.date]  # its first day
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(12))
    cents: Mapped[int] = mapped_column(BigInteger)


class ServiceInvoicing(TenantMixin, db.Model):
    """Where the bill run stands with one service, so a daily run reads only the services that
    have something due: the next period's start, what is paid through, and the service
    version up to which its changes are settled. Owned by the bill run alone."""

    __tablename__ = "service_invoicing"
    __table_args__ = (Index("ix_service_invoicing_company_next", "company_id", "next_bill_date"),)

    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), primary_key=True)
    anchor: Mapped[dt.date]  # the first period's start
    periods_charged: Mapped[int] = mapped_column(default=0)
    # Start of the next period to charge; None while it cannot be known (suspended now).
    next_bill_date: Mapped[dt.date | None]
    paid_through: Mapped[dt.date | None]  # the last day the charged periods cover
    settled_version: Mapped[int] = mapped_column(default=0)
    done: Mapped[bool] = mapped_column(default=False)  # stopped and settled: never due again
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
