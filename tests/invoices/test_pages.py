"""The invoices pages: the list (filters, totals per currency, downloads), one document (its
lines, downloads, marking it paid, voiding it), the sections on the client and service pages,
and the invoicing settings."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.factories import active_service, make_client, make_invoice
from webapp.clock import today
from webapp.company.models import Company
from webapp.extensions import db
from webapp.invoices import actions
from webapp.invoices.bill_run import run_bill_run
from webapp.invoices.models import Invoice, ServiceInvoicing
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

R = UserRole
ACTOR = "test"


@pytest.fixture
def manager(as_role):
    return as_role(R.ACCOUNT_MANAGER)


@pytest.fixture
def books(company):
    """Two clients' documents in two currencies: paid, issued, overdue, void and its credit
    note, and a credit note of the bill run's."""
    acme = make_client(company, name="Acme Dental")
    fjord = make_client(company, name="Fjord Shipping", email=None)
    day = today()
    ids = {
        "paid": make_invoice(company, acme, ("100.00",), issue_date=day - dt.timedelta(days=40)),
        "overdue": make_invoice(
            company, acme, ("200.00", "50.00"), issue_date=day - dt.timedelta(days=30)
        ),
        "issued": make_invoice(company, acme, ("80.00",), issue_date=day),
        "void": make_invoice(company, fjord, ("70.00",), issue_date=day - dt.timedelta(days=2)),
        "eur": make_invoice(company, fjord, ("300.00",), currency="EUR", issue_date=day),
        "credit": make_invoice(company, fjord, ("-20.00",), currency="EUR", issue_date=day),
    }
    actions.mark_paid(company, ids["paid"], ACTOR, day - dt.timedelta(days=35), "BACS 1")
    ids["void_note"] = actions.void(company, ids["void"], ACTOR, "sent to the wrong client")
    return {"acme": acme, "fjord": fjord, **ids}


def number(invoice_id) -> str:
    return db.session.get(Invoice, invoice_id).number


def listed(session, query="") -> set[int]:
    html = session.get(f"/invoices{query}").get_data(as_text=True)
    return {int(i) for i in re.findall(r'data-invoice="(\d+)"', html)}


def totals(session, query="") -> dict[str, list[str]]:
    html = session.get(f"/invoices{query}").get_data(as_text=True)
    rows = re.findall(r'<tr data-currency="(\w+)">(.*?)</tr>', html)
    return {c: re.findall(r'<td class="num">([^<]*)</td>', cells) for c, cells in rows}


def test_the_list_filters_by_client_status_kind_and_dates(manager, books):
    b = books
    assert listed(manager) == {b[k] for k in b if k not in ("acme", "fjord")}
    assert listed(manager, f"?client={b['acme']}") == {b["paid"], b["overdue"], b["issued"]}
    assert listed(manager, "?status=paid") == {b["paid"]}
    assert listed(manager, "?status=void") == {b["void"]}
    # Overdue: issued invoices past their due date (14 days by default); never a credit note.
    assert listed(manager, "?status=overdue") == {b["overdue"]}
    assert listed(manager, "?status=issued") == {
        b["overdue"],
        b["issued"],
        b["eur"],
        b["credit"],
        b["void_note"],
    }
    assert listed(manager, "?kind=credit_note") == {b["credit"], b["void_note"]}
    since = (today() - dt.timedelta(days=2)).isoformat()
    assert listed(manager, f"?from={since}&kind=invoice") == {b["issued"], b["void"], b["eur"]}
    until = (today() - dt.timedelta(days=30)).isoformat()
    assert listed(manager, f"?to={until}") == {b["paid"], b["overdue"]}
    # Values the list cannot use are ignored, as the other lists ignore them.
    assert listed(manager, "?status=lost&kind=x&client=abc&from=2026-13-01") == listed(manager)


def test_totals_per_currency_cover_every_matching_document_not_only_the_page(app, manager, books):
    app.config["PAGE_SIZE"] = 2
    # USD: 100 paid + 250 overdue + 80 issued + 70 void - 70 its credit note; owed 330, of
    # which 250 is overdue. EUR: 300 - 20 (a credit note owes nothing).
    assert totals(manager) == {
        "EUR": ["280.00", "0.00", "280.00", "300.00", "0.00"],
        "USD": ["430.00", "0.00", "430.00", "330.00", "250.00"],
    }
    assert len(listed(manager)) == 2
    assert "7 documents · page 1 of 4" in manager.get("/invoices").get_data(as_text=True)
    assert totals(manager, f"?client={books['fjord']}") == {
        "EUR": ["280.00", "0.00", "280.00", "300.00", "0.00"],
        "USD": ["0.00", "0.00", "0.00", "0.00", "0.00"],
    }
    page_4 = manager.get("/invoices?page=4").get_data(as_text=True)
    assert "page 4 of 4" in page_4 and "/invoices?page=3" in page_4


def test_totals_add_the_tax(manager, company):
    db.session.get(Company, company).tax_rate = Decimal("20")
    db.session.commit()
    make_invoice(company, amounts=("10.05",))
    make_invoice(company, amounts=("0.03",))
    # Tax per document, rounded half up: 2.01 + 0.01.
    assert totals(manager) == {"USD": ["10.08", "2.02", "12.10", "12.10", "0.00"]}


def test_the_page_answers_its_table_alone_to_htmx_and_says_when_nothing_matches(manager, books):
    part = manager.htmx_get("/invoices?status=paid", "invoices_table").get_data(as_text=True)
    assert part.lstrip().startswith('<div id="invoices_table"') and "<html" not in part
    html = manager.get("/invoices?status=paid&kind=credit_note").get_data(as_text=True)
    assert "No invoices match" in html


def test_the_csv_holds_every_matching_document(app, manager, books):
    app.config["PAGE_SIZE"] = 1
    response = manager.get(f"/invoices.csv?client={books['fjord']}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.match(
        r'attachment; filename="invoices-\d{4}-\d\d-\d\d.csv"',
        response.headers["Content-Disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["number"], r["kind"], r["status"], r["total"]) for r in rows] == [
        (number(books["void"]), "invoice", "void", "70.00"),
        (number(books["eur"]), "invoice", "issued", "300.00"),
        (number(books["credit"]), "credit_note", "issued", "-20.00"),
        (number(books["void_note"]), "credit_note", "issued", "-70.00"),
    ]
    void, note = rows[0], rows[3]
    assert (void["voided_by"], note["credits_invoice"]) == (note["number"], void["number"])
    assert note["note"] == "sent to the wrong client" and note["client"] == "Fjord Shipping"
    paid = list(csv.DictReader(io.StringIO(manager.get("/invoices.csv?status=paid").text)))
    assert [(r["paid_on"], r["payment_reference"]) for r in paid] == [
        ((today() - dt.timedelta(days=35)).isoformat(), "BACS 1")
    ]


def test_the_list_links_the_downloads_with_its_filters(manager, books):
    html = manager.get(f"/invoices?client={books['acme']}&status=issued").get_data(as_text=True)
    query = f"client={books['acme']}&amp;status=issued"
    for path in ("/invoices.csv", "/invoices/xero.csv", "/invoices/quickbooks.csv"):
        assert f'href="{path}?{query}"' in html


def test_an_invoice_page_shows_its_lines_periods_totals_and_downloads(manager, company):
    db.session.get(Company, company).tax_rate = Decimal("10")
    db.session.commit()
    service = active_service(company, name="Nightly Backup")
    day = dt.date(2027, 3, 1)
    issued = make_invoice(company, amounts=("120.00",), service_id=service, issue_date=day)
    html = manager.get(f"/invoices/{issued}").get_data(as_text=True)
    assert f"Invoice {number(issued)}" in html
    # The stored end is the next period's first day: the page shows the last day served.
    assert '2027-03-01</span> to <span class="nowrap">2027-03-30' in html
    assert f'<a href="/services/{service}">Nightly Backup</a>' in html
    assert re.search(r'id="invoice-net">120.00 USD<', html)
    assert re.search(r'id="invoice-tax">12.00 USD<', html)
    assert re.search(r'id="invoice-total"><strong>132.00 USD<', html)
    assert f'href="/invoices/{issued}.pdf"' in html and f'href="/invoices/{issued}.xml"' in html
    assert "2027-03-15" in html  # due after the company's 14 days


def test_a_void_invoice_and_its_credit_note_name_each_other(manager, books):
    void = manager.get(f"/invoices/{books['void']}").get_data(as_text=True)
    assert f'<a href="/invoices/{books["void_note"]}">{number(books["void_note"])}</a>' in void
    assert "stay billed" in void and 'data-action="void"' not in void
    note = manager.get(f"/invoices/{books['void_note']}").get_data(as_text=True)
    assert f'<a href="/invoices/{books["void"]}">{number(books["void"])}</a>' in note
    assert "sent to the wrong client" in note and 'data-action="paid"' not in note


def test_marking_paid_on_the_page(manager, books):
    url = f"/invoices/{books['overdue']}/paid"
    day = today().isoformat()
    form = manager.get(f"/invoices/{books['overdue']}").get_data(as_text=True)
    assert f'value="{day}"' in form  # the day defaults to today
    response = manager.post(url, {"paid_on": day, "reference": "SEPA 9"}, target="invoice_main")
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "data-changed"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="invoice_main"')
    assert "paid</span> on " + day + ", reference SEPA 9" in html
    db.session.rollback()
    row = db.session.get(Invoice, books["overdue"])
    assert (row.status, row.paid_on, row.payment_reference) == ("paid", today(), "SEPA 9")

    again = manager.post(url, {"paid_on": day}, target="invoice_main")
    assert again.status_code == 409
    assert "was paid on" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ({"paid_on": ""}, "Enter the day it was paid"),
        ({"paid_on": "31/12/2026"}, "Enter a date such as"),
        ({"paid_on": "2999-01-01"}, "has not come yet"),
        ({"paid_on": "2001-01-01"}, "Before the invoice&#39;s date"),
        ({"paid_on": today().isoformat(), "reference": "x" * 121}, "at most 120 characters"),
    ],
)
def test_a_bad_payment_is_shown_beside_its_field_and_nothing_is_saved(
    manager, books, sent, message
):
    events = db.session.scalar(select(DomainEvent.id).order_by(DomainEvent.id.desc()).limit(1))
    response = manager.post(f"/invoices/{books['issued']}/paid", sent, target="invoice_main")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="field-error"' in html and message.lower() in html.lower()
    db.session.rollback()
    assert db.session.get(Invoice, books["issued"]).status == "issued"
    assert db.session.scalar(select(DomainEvent.id).order_by(DomainEvent.id.desc()).limit(1)) == (
        events
    )


def test_voiding_on_the_page(manager, books, company):
    url = f"/invoices/{books['issued']}/void"
    empty = manager.post(url, {"reason": " "}, target="invoice_main")
    assert empty.status_code == 422 and "Say why" in empty.get_data(as_text=True)
    response = manager.post(url, {"reason": "cancelled order"}, target="invoice_main")
    assert response.status_code == 200
    db.session.rollback()
    row = db.session.get(Invoice, books["issued"])
    note = db.session.get(Invoice, row.voided_by_id)
    assert row.status == "void" and note.number == f"CN-{today().year}-00003"
    assert f"credit note {note.number} reverses it" in response.get_data(as_text=True)
    paid = manager.post(f"/invoices/{books['paid']}/void", {"reason": "x"}, target="invoice_main")
    assert paid.status_code == 409
    assert "a paid invoice is not voided" in paid.get_data(as_text=True)


def test_without_htmx_the_forms_redirect_to_the_invoice(manager, books):
    response = manager.post(
        f"/invoices/{books['issued']}/paid", {"paid_on": today().isoformat()}, htmx=False
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/invoices/{books['issued']}")


@pytest.mark.parametrize("role", [R.VIEWER, R.TECHNICIAN])
def test_roles_that_cannot_settle_see_invoices_but_no_forms_and_are_refused(as_role, books, role):
    session = as_role(role)
    html = session.get(f"/invoices/{books['issued']}").get_data(as_text=True)
    assert number(books["issued"]) in html
    assert 'data-action="paid"' not in html and 'data-action="void"' not in html
    for action, data in (("paid", {"paid_on": today().isoformat()}), ("void", {"reason": "x"})):
        response = session.post(f"/invoices/{books['issued']}/{action}", data)
        assert response.status_code == 403
        assert "Your role cannot mark invoices paid or void them" in response.text
    db.session.rollback()
    assert db.session.get(Invoice, books["issued"]).status == "issued"


def test_the_forms_are_for_open_invoices_and_the_roles_that_may_use_them(as_role, books):
    for role in (R.ADMIN, R.ACCOUNT_MANAGER):
        html = as_role(role).get(f"/invoices/{books['issued']}").get_data(as_text=True)
        assert 'data-action="paid"' in html and 'data-action="void"' in html
    html = as_role(R.ADMIN).get(f"/invoices/{books['credit']}").get_data(as_text=True)
    assert 'data-action="paid"' not in html


def test_another_companys_invoice_is_not_found_anywhere(manager, other_company):
    theirs = make_invoice(other_company, make_client(other_company, name="Their client"))
    for url in (f"/invoices/{theirs}", f"/invoices/{theirs}.pdf", f"/invoices/{theirs}.xml"):
        assert manager.get(url).status_code == 404, url
    for action, data in (("paid", {"paid_on": today().isoformat()}), ("void", {"reason": "x"})):
        assert manager.post(f"/invoices/{theirs}/{action}", data).status_code == 404
    html = manager.get(f"/invoices?client={make_client(other_company, name='B')}").text
    assert "Their client" not in manager.get("/invoices").text and "data-invoice" not in html
    db.session.rollback()
    assert db.session.get(Invoice, theirs).status == "issued"


def test_the_pdf_and_the_ubl_xml_download(manager, books):
    pytest.importorskip("webapp.invoices.pdf")
    pdf = manager.get(f"/invoices/{books['issued']}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert f'filename="{number(books["issued"])}.pdf"' in pdf.headers["Content-Disposition"]
    xml = manager.get(f"/invoices/{books['void_note']}.xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert b"CreditNote" in xml.data


def test_the_accounting_exports_of_the_filtered_list(manager, books):
    xero = manager.get(f"/invoices/xero.csv?client={books['acme']}")
    assert xero.status_code == 200 and xero.mimetype == "text/csv"
    text = xero.get_data(as_text=True)
    assert number(books["issued"]) in text and number(books["eur"]) not in text
    quickbooks = manager.get("/invoices/quickbooks.csv?currency=x&kind=invoice").text
    assert number(books["eur"]) in quickbooks and number(books["credit"]) not in quickbooks


def test_the_client_page_shows_its_documents_and_what_it_owes(manager, books):
    html = manager.get(f"/clients/{books['acme']}").get_data(as_text=True)
    section = html.split('id="client_invoices"')[1].split("</section>")[0]
    assert "<strong>330.00 USD</strong> <small>outstanding" in section
    assert [int(i) for i in re.findall(r'href="/invoices/(\d+)"', section)] == [
        books["issued"],
        books["overdue"],
        books["paid"],
    ]
    assert "overdue" in section and f'href="/invoices?client={books["acme"]}"' in section


def test_the_service_page_lists_its_invoice_lines_and_no_old_adjustments(manager, company):
    service = active_service(company, name="Nightly Backup")
    issued = make_invoice(company, amounts=("99.00",), service_id=service)
    html = manager.get(f"/services/{service}").get_data(as_text=True)
    section = html.split('id="service_invoices"')[1].split("</section>")[0]
    assert f'<a href="/invoices/{issued}">{number(issued)}</a>' in section
    assert "Managed Backup 1" in section and "99.00 USD" in section
    assert "Price-change adjustments" not in html


def test_the_invoicing_settings_number_and_tax_the_next_documents(as_role, company):
    admin = as_role(R.ADMIN)
    page = admin.get("/settings").get_data(as_text=True)
    assert 'name="invoice_prefix"' in page and 'value="INV-"' in page
    sent = {
        "invoice_prefix": " F/ ",
        "credit_note_prefix": "AV-",
        "tax_rate": "21",
        "payment_terms_days": "30",
    }
    response = admin.post("/settings/invoicing", sent, target="invoicing_form")
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section class="panel" id="invoicing_form"')
    day = dt.date(2027, 5, 2)
    issued = make_invoice(company, amounts=("100.00",), issue_date=day)
    row = db.session.get(Invoice, issued)
    assert (row.number, row.tax_total, row.due_date) == (
        "F/00001",
        Decimal("21.00"),
        day + dt.timedelta(days=30),
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("credit_note_prefix", "inv-", "other than the invoices"),
        ("invoice_prefix", "INV 2026", "Letters, digits"),
        ("tax_rate", "101", "from 0 to 100"),
        ("tax_rate", "7.125", "two decimal places"),
        ("payment_terms_days", "-1", "From 0 to 365"),
        ("payment_terms_days", "", "Enter a number of days"),
    ],
)
def test_bad_invoicing_settings_are_shown_beside_their_field(
    as_role, company, field, value, message
):
    sent = {
        "invoice_prefix": "INV-",
        "credit_note_prefix": "CN-",
        "number_with_year": "y",
        "tax_rate": "0",
        "payment_terms_days": "14",
        field: value,
    }
    response = as_role(R.ADMIN).post("/settings/invoicing", sent, target="invoicing_form")
    assert response.status_code == 422
    assert f'id="{field}-error">' in response.text and message in response.text
    db.session.rollback()
    row = db.session.get(Company, company)
    assert (row.invoice_prefix, row.credit_note_prefix, row.tax_rate) == ("INV-", "CN-", 0)


def test_the_service_page_shows_the_dates_the_bill_run_uses(manager, company, work):
    service = active_service(company, name="Nightly Backup")  # monthly, from today
    work()
    html = manager.get(f"/services/{service}").get_data(as_text=True)
    assert re.search(r'id="paid-through">nothing invoiced yet<', html)
    assert f'id="next-bill">{today().isoformat()}<' in html
    run_bill_run(company, today(), actor="test")
    html = manager.get(f"/services/{service}").get_data(as_text=True)
    next_start = db.session.get(ServiceInvoicing, service).next_bill_date
    assert next_start > today()
    assert f'id="paid-through">{(next_start - dt.timedelta(days=1)).isoformat()}<' in html
    assert f'id="next-bill">{next_start.isoformat()}<' in html
    section = html.split('id="service_invoices"')[1].split("</section>")[0]
    assert "INV-" in section
