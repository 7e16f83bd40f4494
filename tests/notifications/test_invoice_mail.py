"""Invoices and credit notes mailed with their PDF to the client's billing contacts, through a
real SMTP server (aiosmtpd) and a real webhook receiver on loopback."""

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.notifications.test_webhooks import SECRET, Receiver
from tests.support.documents import issue, line
from tests.support.factories import make_client
from webapp.clients.models import Contact
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification, Webhook
from webapp.pipeline.delivery import deliver_event
from webapp.pipeline.models import DomainEvent

D = dt.date


def pdf_text(message) -> str:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    reader = PdfReader(io.BytesIO(part.get_content()))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def add_contact(company_id, client_id, email, **roles):
    db.session.add(
        Contact(company_id=company_id, client_id=client_id, name=email, email=email, **roles)
    )
    db.session.commit()


@pytest.fixture
def acme(app, company):
    """A client with two billing contacts and a primary contact who is not one."""
    db.session.get(Company, company).tax_rate = Decimal("20")
    client_id = make_client(company, email=None)
    add_contact(company, client_id, "ap@acme.example", is_billing=True)
    add_contact(company, client_id, "finance@acme.example", is_billing=True, is_primary=True)
    add_contact(company, client_id, "boss@acme.example", is_primary=True, is_technical=True)
    return client_id


def rows():
    db.session.rollback()
    return sorted(
        (n.listener, n.channel, n.recipient, n.status)
        for n in db.session.scalars(select(Notification))
    )


def test_an_invoice_reaches_each_billing_contact_once_with_its_pdf(company, acme, work, smtp):
    issue(
        company,
        acme,
        [line("Managed Backup", "1028.50", start=D(2026, 12, 5), end=D(2027, 1, 5))],
    )
    work()

    assert sorted(m["To"] for m in smtp.messages) == ["ap@acme.example", "finance@acme.example"]
    for message in smtp.messages:
        assert message["Subject"] == (
            "Invoice INV-2026-00001 from Test MSP: 1,234.20 EUR due 2026-12-19"
        )
        body = message.get_body(preferencelist=("plain",)).get_content()
        assert "Please find attached invoice INV-2026-00001 from Test MSP" in body
        assert "1,234.20 EUR (1,028.50 EUR net and 205.70 EUR tax), due on 2026-12-19" in body
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == "INV-2026-00001.pdf"
        text = pdf_text(message)
        assert "Invoice INV-2026-00001" in text and "Total due 1,234.20 EUR" in text
        assert "Managed Backup 2026-12-05 - 2027-01-04" in text
    assert rows() == [
        ("notify.invoice_issued", "email", "ap@acme.example", "sent"),
        ("notify.invoice_issued", "email", "finance@acme.example", "sent"),
    ]
    # The row keeps the words only; the PDF is made when the mail is sent.
    assert all(len(n.body) < 500 for n in db.session.scalars(select(Notification)))


def test_delivering_an_invoice_event_again_sends_nothing_more(company, acme, work, smtp):
    issue(company, acme, [line("Backup", "10.00")])
    work()
    event_id = db.session.scalar(select(DomainEvent.id).where(DomainEvent.type == "InvoiceIssued"))
    deliver_event(event_id)
    deliver_event(event_id)
    work()
    assert len(smtp.messages) == 2


def test_a_credit_note_is_mailed_with_the_amount_credited(company, acme, work, smtp):
    invoice = issue(company, acme, [line("Firewall", "100.00")])
    issue(company, acme, [line("Firewall", "-100.00", kind="void")], credits=invoice.id)
    work()

    notes = [m for m in smtp.messages if m["Subject"].startswith("Credit note")]
    assert sorted(m["To"] for m in notes) == ["ap@acme.example", "finance@acme.example"]
    message = notes[0]
    assert message["Subject"] == "Credit note CN-2026-00001 from Test MSP: 120.00 EUR credited"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "credit note CN-2026-00001 from Test MSP against invoice INV-2026-00001" in body
    assert next(message.iter_attachments()).get_filename() == "CN-2026-00001.pdf"
    text = pdf_text(message)
    assert "Credit note CN-2026-00001" in text and "Credits invoice INV-2026-00001" in text
    assert "Total credited 120.00 EUR" in text
    assert ("notify.credit_note_issued", "email", "ap@acme.example", "sent") in rows()


def test_an_invoice_for_a_client_without_a_billing_contact_is_shown_on_operations(
    company, work, smtp, as_role
):
    client_id = make_client(company, name="Lonely Ltd", email=None)
    add_contact(company, client_id, "boss@lonely.example", is_primary=True)
    issue(company, client_id, [line("Backup", "10.00")])
    work()

    assert smtp.messages == []  # the primary contact is not the one invoices go to
    notice = db.session.scalars(select(Notification)).one()
    assert (notice.channel, notice.recipient, notice.status) == ("none", "", "no_recipient")
    assert notice.error == (
        "Nobody to tell: client Lonely Ltd has no billing contact with an email and no "
        "webhook is set up."
    )
    html = as_role(UserRole.ADMIN).get("/operations").get_data(as_text=True)
    panel = html[html.index('id="unrouted_notifications"') :]
    assert "Invoice INV-2026-00001 from Test MSP: 10.00 EUR due 2026-12-19" in panel
    assert f'href="/clients/{client_id}">Lonely Ltd</a>' in panel


def test_webhooks_get_a_summary_of_the_document_and_no_pdf(company, acme, work, smtp):
    receiver = Receiver()
    try:
        for kind in ("slack", "generic"):
            db.session.add(
                Webhook(company_id=company, kind=kind, url=f"{receiver.url}/{kind}", secret=SECRET)
            )
        db.session.commit()
        invoice_id = issue(company, acme, [line("Backup", "10.00")]).id
        work()
    finally:
        receiver.stop()

    by_path = {path: json.loads(body) for path, _, body in receiver.requests}
    assert set(by_path) == {"/slack", "/generic"}
    assert by_path["/slack"]["text"].startswith(
        "*Invoice INV-2026-00001 from Test MSP: 12.00 EUR due 2026-12-19*\n"
        "Invoice INV-2026-00001 for Acme Dental: 12.00 EUR, issued 2026-12-05"
    )
    generic = by_path["/generic"]
    assert generic["event"] == "InvoiceIssued"
    assert generic["invoice"] == {
        "id": invoice_id,
        "kind": "invoice",
        "number": "INV-2026-00001",
        "client": {"id": acme, "name": "Acme Dental"},
        "currency": "EUR",
        "net_total": "10.00",
        "tax_rate": "20.00",
        "tax_total": "2.00",
        "total": "12.00",
        "issue_date": "2026-12-05",
        "due_date": "2026-12-19",
        "credits_invoice": None,
    }
    assert all(len(body) < 4000 for _, _, body in receiver.requests)  # no PDF in there
    assert len(smtp.messages) == 2


def test_a_pdf_that_cannot_be_made_leaves_the_mail_undeliverable_with_why(
    company, acme, work, smtp, monkeypatch
):
    from webapp.invoices import pdf

    def broken(invoice):
        raise KeyError("no such glyph")

    monkeypatch.setattr(pdf, "render_pdf", broken)
    issue(company, acme, [line("Backup", "10.00")])
    work()

    assert smtp.messages == []  # never a mail without the document it announces
    errors = {n.status: n.error for n in db.session.scalars(select(Notification))}
    assert list(errors) == ["undeliverable"]
    assert "its PDF cannot be made: KeyError" in errors["undeliverable"]
