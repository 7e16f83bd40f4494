"""The invoice and credit note PDF, read back as text with pypdf."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from tests.support.documents import issue, line
from tests.support.factories import make_client
from webapp.clients.models import Client
from webapp.company.models import Company
from webapp.extensions import db
from webapp.invoices.models import PAID, VOID
from webapp.invoices.pdf import render_pdf
from webapp.pipeline.outbox import unit_of_work

D = dt.date


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def flat(pdf: bytes) -> str:
    """The text of every page, each run of white space one space."""
    return " ".join(" ".join(pages(pdf)).split())


@pytest.fixture
def acme(app, company):
    row = db.session.get(Company, company)
    row.address = "1 Harbour Road\nDublin D02 XY45"
    row.tax_rate = Decimal("23")
    row.country, row.vat_id = "IE", "IE6388047V"
    client_id = make_client(company)
    db.session.get(Client, client_id).address = "Unit 4, Main Street\nCork T12 AB34"
    db.session.get(Client, client_id).country = "IE"
    db.session.commit()
    return client_id


def test_an_invoice_shows_parties_number_dates_lines_tax_and_totals(company, acme):
    invoice = issue(
        company,
        acme,
        [
            line("Managed Backup", "3703.50", quantity=3, start=D(2026, 12, 5), end=D(2027, 1, 5)),
            line("Managed Backup: setup", "50.00", kind="setup"),
        ],
    )
    text = flat(render_pdf(invoice))

    assert "Invoice INV-2026-00001" in text
    assert "Test MSP 1 Harbour Road Dublin D02 XY45 IE · VAT IE6388047V" in text
    assert "Acme Dental Unit 4, Main Street Cork T12 AB34 IE" in text
    assert "Issue date 2026-12-05" in text
    assert "Due date 2026-12-19" in text  # 14 days, the company's terms
    # The period's end is stored exclusive: the PDF shows the last day billed.
    assert "Managed Backup 2026-12-05 - 2027-01-04 3 1,234.50 3,703.50" in text
    assert "Managed Backup: setup 1 50.00 50.00" in text
    assert "Net total 3,753.50 EUR" in text
    assert "Tax 23% 863.31 EUR" in text
    assert "Total due 4,616.81 EUR" in text
    assert "Page 1 of 1" in text
    assert "Credit" not in text and "Paid" not in text and "Void" not in text


def test_a_credit_note_prints_its_amounts_as_positive_credited_amounts(company, acme):
    invoice = issue(company, acme, [line("Firewall", "120.00", start=D(2026, 12, 5))])
    note = issue(
        company,
        acme,
        [line("Firewall: unused days", "-120.00", kind="credit", start=D(2026, 12, 5))],
        day=D(2026, 12, 9),
        credits=invoice.id,
    )
    assert note.total == Decimal("-147.60")  # stored signed
    text = flat(render_pdf(note))

    assert "Credit note CN-2026-00001" in text
    assert "Credits invoice INV-2026-00001" in text
    assert "Issue date 2026-12-09" in text and "Due date" not in text
    assert "Firewall: unused days from 2026-12-05 1 120.00 120.00" in text
    assert "Net total 120.00 EUR" in text
    assert "Tax 23% 27.60 EUR" in text
    assert "Total credited 147.60 EUR" in text
    assert re.findall(r"(?<!\w)-\s?[\d,]+\.\d\d", text) == []  # no amount printed negative


def test_a_paid_invoice_and_a_void_one_say_so(company, acme):
    paid = issue(company, acme, [line("Backup", "10.00")])
    void = issue(company, acme, [line("Backup", "20.00")])
    note = issue(company, acme, [line("Backup", "-20.00", kind="void")], credits=void.id)
    with unit_of_work():
        paid.status, paid.paid_on, paid.payment_reference = PAID, D(2026, 12, 10), "BANK-42"
        void.status, void.voided_by_id = VOID, note.id

    assert "Paid on 2026-12-10 (BANK-42)" in flat(render_pdf(paid))
    assert f"Void (credit note {note.number})" in flat(render_pdf(void))


def test_an_annual_invoice_for_300_services_runs_over_pages_with_the_header_on_each(company, acme):
    lines = [
        line(f"Service {n:03d}", "1200.00", start=D(2026, 1, 1), end=D(2027, 1, 1))
        for n in range(300)
    ]
    text = pages(render_pdf(issue(company, acme, lines, day=D(2026, 1, 1))))

    assert len(text) > 5
    for number, page in enumerate(text, start=1):
        assert "Description" in page and "Amount" in page  # the header row, repeated
        assert f"Page {number} of {len(text)}" in page
    everything = " ".join(text)
    assert [n for n in range(300) if f"Service {n:03d}" not in everything] == []
    assert everything.count("2026-01-01 - 2026-12-31") == 300
    assert "Total due" in text[-1] and "442,800.00 EUR" in text[-1]  # 360,000 + 23%


def test_a_client_name_in_any_script_prints_and_none_breaks_the_pdf(company, acme):
    client = db.session.get(Client, acme)
    client.name = "Ωμέγα Δομ Дом Київ <b>&amp; Øre 東京\x07"
    client.address = "Ulica 1\n\x01Praha"
    db.session.commit()
    pdf = render_pdf(issue(company, acme, [line("Čištění <script>", "5.00")]))
    text = flat(pdf)

    assert "Ωμέγα Δομ Дом Київ <b>&amp; Øre" in text  # markup-looking text prints as typed
    assert "Ulica 1 Praha" in text
    assert "Čištění <script>" in text


def test_the_same_document_renders_to_the_same_bytes(company, acme):
    invoice = issue(company, acme, [line("Backup", "10.00")])
    assert render_pdf(invoice) == render_pdf(invoice)
