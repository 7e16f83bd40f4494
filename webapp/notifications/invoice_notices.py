"""What an invoice's or credit note's notice carries besides its words: the PDF mailed to the
client's billing contacts, and a summary for integration webhooks.

Both are made when the notice is sent, from the document itself (whose number, amounts and
parties never change once issued): the notification row keeps its subject and body only, and
a retry renders the same PDF again rather than storing it.
"""

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db
from webapp.invoices.models import Invoice
from webapp.pipeline.models import DomainEvent

LISTENERS = ("notify.invoice_issued", "notify.credit_note_issued")
EVENTS = ("InvoiceIssued", "CreditNoteIssued")


class CannotAttach(ValueError):
    """The document cannot be attached (it is gone, or cannot be rendered): a retry would fail
    the same way (a ValueError, so the sender marks the mail undeliverable, with why)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    maintype: str
    subtype: str
    content: bytes


def document(company_id: int, invoice_id: int) -> Invoice | None:
    return db.session.scalars(
        select(Invoice).where(Invoice.company_id == company_id, Invoice.id == invoice_id)
    ).one_or_none()


def mail_attachments(notification) -> list[Attachment]:
    """The files a notification's mail carries: the document's PDF for an invoice's or credit
    note's notice, nothing for any other. A database that fails to answer raises as it is (the
    sender retries); a document that cannot be made raises CannotAttach."""
    if notification.listener not in LISTENERS:
        return []
    # Here, not at the top: ReportLab takes a tenth of a second to import, and every process
    # that sends anything imports this module.
    from webapp.invoices.pdf import render_pdf

    event = db.session.get(DomainEvent, notification.event_id)
    invoice = document(notification.company_id, int(event.payload["invoice_id"]))
    if invoice is None:
        raise CannotAttach(f"document {event.payload['invoice_id']} does not exist")
    try:
        content = render_pdf(invoice)
    except SQLAlchemyError:
        raise
    except Exception as exc:
        raise CannotAttach(f"its PDF cannot be made: {type(exc).__name__}: {exc}") from exc
    return [Attachment(pdf_name(invoice.number), "application", "pdf", content)]


def pdf_name(number: str) -> str:
    """A file name any mail client keeps as it is (prefixes are the company's to choose)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", number).strip("._") + ".pdf"


def webhook_summary(event) -> dict | None:
    """The document in plain JSON values for a generic webhook, None for other events.

    Amounts are decimal strings, signed as stored: a credit note's are negative."""
    if event.type not in EVENTS:
        return None
    invoice = document(event.company_id, int(event.payload["invoice_id"]))
    if invoice is None:
        return None
    credits = (
        document(event.company_id, invoice.credits_invoice_id)
        if invoice.credits_invoice_id is not None
        else None
    )
    client = (invoice.parties or {}).get("client") or {}
    return {
        "id": invoice.id,
        "kind": invoice.kind,
        "number": invoice.number,
        "client": {"id": invoice.client_id, "name": client.get("name", "")},
        "currency": invoice.currency,
        "net_total": f"{invoice.net_total:.2f}",
        "tax_rate": f"{invoice.tax_rate:.2f}",
        "tax_total": f"{invoice.tax_total:.2f}",
        "total": f"{invoice.total:.2f}",
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "credits_invoice": credits.number if credits is not None else None,
    }
