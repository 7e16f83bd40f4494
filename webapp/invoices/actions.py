"""Changes to issued documents: an invoice marked paid, and an invoice voided by a credit note
that reverses it. One unit of work each.

The invoice row is locked and read afresh inside the unit of work, so a payment and a void sent
at the same moment are made one after the other and the second is refused by what the first
did. Voiding issues a document, so it takes the company's lock first, as the bill run does:
numbers are handed out one writer at a time (webapp.invoices.documents).

Voiding gives back nothing to bill: the periods the invoice charged keep their billing keys on
its lines, so the bill run never charges them again. The credit note's lines carry no key.
"""

import datetime as dt

from webapp.clock import today
from webapp.extensions import db
from webapp.invoices.documents import NewDocument, NewLine, issue_documents, lock_company
from webapp.invoices.models import CREDIT_NOTE, PAID, VOID, VOID_LINE, Invoice
from webapp.invoices.queries import company_today
from webapp.lifecycle import events as ev
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.outbox import record, unit_of_work
from webapp.tenancy import MAX_ID, NotFound, scoped

REFERENCE_LENGTH = 120  # Invoice.payment_reference
REASON_LENGTH = 500


class InvoiceRefused(TransitionRefused):
    """A change to a document that was not made. `field` names the input at fault, when one
    is (shown beside it); otherwise it is a 409 with its message."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _locked(company_id: int, invoice_id: int) -> Invoice:
    """The company's document, locked until commit and read afresh (not the copy a page read
    before the unit of work began)."""
    if not 0 < invoice_id <= MAX_ID:
        raise NotFound(f"No invoice {invoice_id} in this company.")
    invoice = db.session.scalars(
        scoped(Invoice, company_id)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if invoice is None:
        raise NotFound(f"No invoice {invoice_id} in this company.")
    return invoice


def refuse_unless_open(invoice: Invoice, doing: str) -> None:
    """Only an issued invoice is marked paid or voided; anything else is refused, saying why."""
    if invoice.kind == CREDIT_NOTE:
        raise InvoiceRefused(f"{invoice.number} is a credit note: only an invoice is {doing}.")
    if invoice.status == PAID:
        raise InvoiceRefused(
            f"{invoice.number} was paid on {invoice.paid_on:%Y-%m-%d}: a paid invoice is not {doing}."
        )
    if invoice.status == VOID:
        raise InvoiceRefused(f"{invoice.number} is void: a void invoice is not {doing}.")


def mark_paid(
    company_id: int, invoice_id: int, actor: str, paid_on: dt.date, reference: str
) -> Invoice:
    """Record that an issued invoice was paid on `paid_on` (from its issue date to today)."""
    reference = (reference or "").strip()
    if len(reference) > REFERENCE_LENGTH:
        raise InvoiceRefused(f"At most {REFERENCE_LENGTH} characters.", field="reference")
    with unit_of_work():
        invoice = _locked(company_id, invoice_id)
        refuse_unless_open(invoice, "marked paid")
        # Documents are dated in UTC days (the bill run's), people think in the company's: a
        # day that has begun in either is no future day.
        if paid_on > max(company_today(company_id), today()):
            raise InvoiceRefused("That day has not come yet: enter the day it was paid.", "paid_on")
        if paid_on < invoice.issue_date:
            raise InvoiceRefused(
                f"Before the invoice's date ({invoice.issue_date:%Y-%m-%d}): enter the day the "
                "payment arrived.",
                field="paid_on",
            )
        invoice.status = PAID
        invoice.paid_on = paid_on
        invoice.payment_reference = reference or None
        db.session.flush()
        record(
            ev.InvoicePaid(
                service_id=None,
                invoice_id=invoice.id,
                client_id=invoice.client_id,
                number=invoice.number,
                paid_on=paid_on,
                reference=reference,
            ),
            company_id,
            actor,
        )
    return invoice


def void(company_id: int, invoice_id: int, actor: str, reason: str) -> int:
    """Void an issued, unpaid invoice by a credit note dated today that reverses each of its
    lines (at the invoice's own tax rate), and names it; the credit note's id."""
    reason = (reason or "").strip()
    if not reason:
        raise InvoiceRefused("Say why: the credit note carries the reason.", field="reason")
    if len(reason) > REASON_LENGTH:
        raise InvoiceRefused(f"At most {REASON_LENGTH} characters.", field="reason")
    with unit_of_work():
        company = lock_company(company_id)
        invoice = _locked(company_id, invoice_id)
        refuse_unless_open(invoice, "voided")
        if invoice.net_total == 0:
            # A document is a credit note when its total is below zero: reversing nothing
            # would issue an empty invoice instead.
            raise InvoiceRefused(f"{invoice.number} charges nothing: there is nothing to credit.")
        lines = [
            NewLine(
                service_id=line.service_id,
                kind=VOID_LINE,
                description=f"Void: {line.description}",
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=-line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in invoice.lines
        ]
        (credit_note_id,) = issue_documents(
            company,
            [
                NewDocument(
                    client_id=invoice.client_id,
                    currency=invoice.currency,
                    lines=lines,
                    credits_invoice_id=invoice.id,
                    note=reason,
                    tax_rate=invoice.tax_rate,
                )
            ],
            today(),
            actor,
        )
        invoice.status = VOID
        invoice.voided_by_id = credit_note_id
        db.session.flush()
    return credit_note_id
