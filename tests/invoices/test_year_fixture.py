"""A year of invoices worked out by hand (issue 16): two clients, EUR and USD, monthly, quarterly
and annual services, an upgrade, a seat change, a suspension, a cancellation now and one at term
end, with the bill run every day of 2027 (after the day's actions, the scheduler's sweep of due
cancellations before them). Every expected amount below is a literal, with its arithmetic where
it is more than a price; nothing is computed by the app's rules to compare with.

Alpine Dental (EUR, the company's 20 % tax, 14 days to pay):
- A1 Managed Backup, monthly, 30.00, setup fee 100.00, from Jan 1; upgraded to 45.00 on Apr 11.
- A2 Microsoft 365, quarterly, 12.00 a seat x 10 seats, from Feb 1; 15 seats from Mar 2.
Bay Logistics (USD, its own 10 % tax, 30 days to pay):
- B1 Firewall, annual, 1,200.00, from Jan 15; cancelled now on Sep 15.
- B2 Helpdesk, monthly, 200.00, a 6-month term from Jan 10; cancelled at term end (Jul 10) on
  Mar 1: the term end is a period boundary, so nothing is credited.
- B3 Monitoring, monthly, 50.00, from Mar 3; suspended Jun 13, resumed Jun 23 (10 days): the
  period of Jun 3 ends on Jul 13 instead of Jul 3, and every later period starts 10 days later.
"""

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from decimal import Decimal as D
from pathlib import Path

import pytest
import time_machine
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import select

from tests.support.factories import make_client
from webapp.clients.models import Client
from webapp.company.models import Company
from webapp.extensions import db
from webapp.invoices.bill_run import run_bill_run
from webapp.invoices.models import Invoice
from webapp.lifecycle.statuses import BillingCycle, UserRole
from webapp.services import actions as lc
from webapp.services import cancellations
from webapp.services.models import ClientService

XSD = Path(__file__).parent / "ubl-2.1-xsd" / "maindoc"
UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def d(month: int, day: int, year: int = 2027) -> dt.date:
    return dt.date(year, month, day)


# (number, client, issue date, due date, currency, lines, net, tax, total); a line is
# (service, kind, period start, period end (exclusive), quantity, unit price, amount); None where
# the rules fix nothing (how an adjustment or a credit shows its quantity, unit price, period).
A, B = "Alpine Dental", "Bay Logistics"
EXPECTED = [
    # Jan 1: A1's first month and its setup fee; 130.00 x 20 % = 26.00
    ("INV-2027-00001", A, d(1, 1), d(1, 15), "EUR",
     [("A1", "period", d(1, 1), d(2, 1), 1, D("30.00"), D("30.00")),
      ("A1", "setup", None, None, None, None, D("100.00"))],
     D("130.00"), D("26.00"), D("156.00")),
    ("INV-2027-00002", B, d(1, 10), d(2, 9), "USD",
     [("B2", "period", d(1, 10), d(2, 10), 1, D("200.00"), D("200.00"))],
     D("200.00"), D("20.00"), D("220.00")),
    # Jan 15 2027 to Jan 15 2028: 365 days, one annual line
    ("INV-2027-00003", B, d(1, 15), d(2, 14), "USD",
     [("B1", "period", d(1, 15), d(1, 15, 2028), 1, D("1200.00"), D("1200.00"))],
     D("1200.00"), D("120.00"), D("1320.00")),
    # Feb 1: A1's month and A2's quarter, 10 seats x 12.00 = 120.00 (Feb 1 to May 1: 89 days)
    ("INV-2027-00004", A, d(2, 1), d(2, 15), "EUR",
     [("A1", "period", d(2, 1), d(3, 1), 1, D("30.00"), D("30.00")),
      ("A2", "period", d(2, 1), d(5, 1), 10, D("12.00"), D("120.00"))],
     D("150.00"), D("30.00"), D("180.00")),
    ("INV-2027-00005", B, d(2, 10), d(3, 12), "USD",
     [("B2", "period", d(2, 10), d(3, 10), 1, D("200.00"), D("200.00"))],
     D("200.00"), D("20.00"), D("220.00")),
    ("INV-2027-00006", A, d(3, 1), d(3, 15), "EUR",
     [("A1", "period", d(3, 1), d(4, 1), 1, D("30.00"), D("30.00"))],
     D("30.00"), D("6.00"), D("36.00")),
    # Mar 2: 10 -> 15 seats; days left Mar 2 to May 1 = 30 + 30 = 60 of 89:
    # (15 - 10) x 12.00 x 60 / 89 = 3600 / 89 = 40.449... = 40.45; tax 8.09
    ("INV-2027-00007", A, d(3, 2), d(3, 16), "EUR",
     [("A2", "adjustment", None, None, None, None, D("40.45"))],
     D("40.45"), D("8.09"), D("48.54")),
    ("INV-2027-00008", B, d(3, 3), d(4, 2), "USD",
     [("B3", "period", d(3, 3), d(4, 3), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00009", B, d(3, 10), d(4, 9), "USD",
     [("B2", "period", d(3, 10), d(4, 10), 1, D("200.00"), D("200.00"))],
     D("200.00"), D("20.00"), D("220.00")),
    ("INV-2027-00010", A, d(4, 1), d(4, 15), "EUR",
     [("A1", "period", d(4, 1), d(5, 1), 1, D("30.00"), D("30.00"))],
     D("30.00"), D("6.00"), D("36.00")),
    ("INV-2027-00011", B, d(4, 3), d(5, 3), "USD",
     [("B3", "period", d(4, 3), d(5, 3), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00012", B, d(4, 10), d(5, 10), "USD",
     [("B2", "period", d(4, 10), d(5, 10), 1, D("200.00"), D("200.00"))],
     D("200.00"), D("20.00"), D("220.00")),
    # Apr 11: upgrade 30.00 -> 45.00 with 20 of April's 30 days left:
    # (45 - 30) x 20 / 30 = 10.00
    ("INV-2027-00013", A, d(4, 11), d(4, 25), "EUR",
     [("A1", "adjustment", None, None, None, None, D("10.00"))],
     D("10.00"), D("2.00"), D("12.00")),
    # May 1: A1 at 45.00 and A2's second quarter at 15 x 12.00 = 180.00 (May 1 to Aug 1)
    ("INV-2027-00014", A, d(5, 1), d(5, 15), "EUR",
     [("A1", "period", d(5, 1), d(6, 1), 1, D("45.00"), D("45.00")),
      ("A2", "period", d(5, 1), d(8, 1), 15, D("12.00"), D("180.00"))],
     D("225.00"), D("45.00"), D("270.00")),
    ("INV-2027-00015", B, d(5, 3), d(6, 2), "USD",
     [("B3", "period", d(5, 3), d(6, 3), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00016", B, d(5, 10), d(6, 9), "USD",
     [("B2", "period", d(5, 10), d(6, 10), 1, D("200.00"), D("200.00"))],
     D("200.00"), D("20.00"), D("220.00")),
    ("INV-2027-00017", A, d(6, 1), d(6, 15), "EUR",
     [("A1", "period", d(6, 1), d(7, 1), 1, D("45.00"), D("45.00"))],
     D("45.00"), D("9.00"), D("54.00")),
    # Jun 3: issued before the suspension, so its end is Jul 3 as known then
    ("INV-2027-00018", B, d(6, 3), d(7, 3), "USD",
     [("B3", "period", d(6, 3), d(7, 3), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    # Jun 10: B2's sixth and last month (the term ends Jul 10; nothing to credit)
    ("INV-2027-00019", B, d(6, 10), d(7, 10), "USD",
     [("B2", "period", d(6, 10), d(7, 10), 1, D("200.00"), D("200.00"))],
     D("200.00"), D("20.00"), D("220.00")),
    ("INV-2027-00020", A, d(7, 1), d(7, 15), "EUR",
     [("A1", "period", d(7, 1), d(8, 1), 1, D("45.00"), D("45.00"))],
     D("45.00"), D("9.00"), D("54.00")),
    # Jul 13: nominally Jul 3, 10 suspended days later; 31 days long (Jul 3 to Aug 3 nominal)
    ("INV-2027-00021", B, d(7, 13), d(8, 12), "USD",
     [("B3", "period", d(7, 13), d(8, 13), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00022", A, d(8, 1), d(8, 15), "EUR",
     [("A1", "period", d(8, 1), d(9, 1), 1, D("45.00"), D("45.00")),
      ("A2", "period", d(8, 1), d(11, 1), 15, D("12.00"), D("180.00"))],
     D("225.00"), D("45.00"), D("270.00")),
    ("INV-2027-00023", B, d(8, 13), d(9, 12), "USD",
     [("B3", "period", d(8, 13), d(9, 13), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00024", A, d(9, 1), d(9, 15), "EUR",
     [("A1", "period", d(9, 1), d(10, 1), 1, D("45.00"), D("45.00"))],
     D("45.00"), D("9.00"), D("54.00")),
    ("INV-2027-00025", B, d(9, 13), d(10, 13), "USD",
     [("B3", "period", d(9, 13), d(10, 13), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    # Sep 15: B1 cancelled now. Served Jan 15 to Sep 14: 17 + 28 + 31 + 30 + 31 + 30 + 31 + 31
    # + 14 = 243 of 365 days; credit 1200.00 x (365 - 243) / 365 = 1200 x 122 / 365
    # = 401.095... = 401.10; tax 10 % = 40.11
    ("CN-2027-00001", B, d(9, 15), None, "USD",
     [("B1", "credit", None, None, None, None, D("-401.10"))],
     D("-401.10"), D("-40.11"), D("-441.21")),
    ("INV-2027-00026", A, d(10, 1), d(10, 15), "EUR",
     [("A1", "period", d(10, 1), d(11, 1), 1, D("45.00"), D("45.00"))],
     D("45.00"), D("9.00"), D("54.00")),
    ("INV-2027-00027", B, d(10, 13), d(11, 12), "USD",
     [("B3", "period", d(10, 13), d(11, 13), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00028", A, d(11, 1), d(11, 15), "EUR",
     [("A1", "period", d(11, 1), d(12, 1), 1, D("45.00"), D("45.00")),
      ("A2", "period", d(11, 1), d(2, 1, 2028), 15, D("12.00"), D("180.00"))],
     D("225.00"), D("45.00"), D("270.00")),
    ("INV-2027-00029", B, d(11, 13), d(12, 13), "USD",
     [("B3", "period", d(11, 13), d(12, 13), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
    ("INV-2027-00030", A, d(12, 1), d(12, 15), "EUR",
     [("A1", "period", d(12, 1), d(1, 1, 2028), 1, D("45.00"), D("45.00"))],
     D("45.00"), D("9.00"), D("54.00")),
    ("INV-2027-00031", B, d(12, 13), d(1, 12, 2028), "USD",
     [("B3", "period", d(12, 13), d(1, 13, 2028), 1, D("50.00"), D("50.00"))],
     D("50.00"), D("5.00"), D("55.00")),
]  # fmt: skip

# The year per client (net): Alpine Dental, A1 4 x 30 + 100 + 10 + 8 x 45 = 590.00 and A2 120 +
# 40.45 + 3 x 180 = 700.45: 1,290.45 EUR net, 258.09 tax, 1,548.54 gross. Bay Logistics: B1
# 1,200 - 401.10 = 798.90, B2 6 x 200 = 1,200.00, B3 10 x 50 = 500.00: 2,498.90 USD net,
# 249.89 tax, 2,748.79 gross.
YEAR_TOTALS = {
    A: (D("1290.45"), D("258.09"), D("1548.54")),
    B: (D("2498.90"), D("249.89"), D("2748.79")),
}


def test_the_hand_computed_totals_add_up():
    """The fixture's own arithmetic: its documents add up to its year totals."""
    for client, totals in YEAR_TOTALS.items():
        docs = [e for e in EXPECTED if e[1] == client]
        assert tuple(sum(e[i] for e in docs) for i in (6, 7, 8)) == totals
        for e in docs:
            assert sum(line[6] for line in e[5]) == e[6] and e[6] + e[7] == e[8]


class Year:
    """The year played through the app: the ids of its clients and services."""

    def __init__(self, company_id: int):
        self.company_id = company_id
        self.clients: dict[str, int] = {}
        self.services: dict[str, int] = {}


def _service(year, key, client, name, cycle, price, term_months=12, setup="0", quantity=1):
    sid = lc.provision(
        year.company_id,
        lc.NewService(
            client_id=year.clients[client],
            name=name,
            service_type="managed",
            price=D(price),
            currency="EUR" if client == A else "USD",
            billing_cycle=cycle,
            term_months=term_months,
            setup_fee=D(setup),
            auto_renew=True,
        ),
        "test",
    ).id
    if quantity != 1:  # seats from the start (a new service has one; the seat action is later)
        db.session.execute(
            ClientService.__table__.update()
            .where(ClientService.__table__.c.id == sid)
            .values(quantity=quantity)
        )
        db.session.commit()
    lc.activate(year.company_id, sid, "test")
    year.services[key] = sid


def _actions(year: Year) -> dict[dt.date, list]:
    c, s = year.company_id, year.services
    M = BillingCycle.MONTHLY  # noqa: N806
    return {
        d(1, 1): [lambda: _service(year, "A1", A, "Managed Backup", M, "30.00", setup="100.00")],
        d(1, 10): [lambda: _service(year, "B2", B, "Helpdesk", M, "200.00", term_months=6)],
        d(1, 15): [lambda: _service(year, "B1", B, "Firewall", BillingCycle.ANNUAL, "1200.00")],
        d(2, 1): [
            lambda: _service(
                year, "A2", A, "Microsoft 365", BillingCycle.QUARTERLY, "12.00", quantity=10
            )
        ],
        d(3, 1): [lambda: lc.cancel(c, s["B2"], "test", reason="in-house", at_term_end=True)],
        d(3, 2): [lambda: lc.change_quantity(c, s["A2"], "test", 15)],
        d(3, 3): [lambda: _service(year, "B3", B, "Monitoring", M, "50.00")],
        d(4, 11): [lambda: lc.change_price(c, s["A1"], "test", D("45.00"), note="upgrade")],
        d(6, 13): [lambda: lc.suspend(c, s["B3"], "test", reason="unpaid")],
        d(6, 23): [lambda: lc.resume(c, s["B3"], "test")],
        d(9, 15): [lambda: lc.cancel(c, s["B1"], "test", reason="replaced")],
    }


def play_year(company_id: int) -> Year:
    company = db.session.get(Company, company_id)
    company.name, company.address = "Summit IT", "1 Harbour Road\nGalway"
    company.tax_rate = D("20")
    db.session.commit()
    year = Year(company_id)
    year.clients[A] = make_client(company_id, A, "billing@alpine.example")
    year.clients[B] = make_client(company_id, B, "ap@bay.example")
    bay = db.session.get(Client, year.clients[B])
    bay.address, bay.tax_rate, bay.payment_terms_days = "9 Dock St\nBoston MA", D("10"), 30
    db.session.commit()
    actions = _actions(year)
    day = d(1, 1)
    with time_machine.travel(dt.datetime.combine(day, dt.time(0, 30), dt.UTC), tick=False) as t:
        while day.year == 2027:
            t.move_to(dt.datetime.combine(day, dt.time(0, 30), dt.UTC))
            cancellations.cancel_due_services()  # the scheduler's sweep, before the day
            t.move_to(dt.datetime.combine(day, dt.time(10), dt.UTC))
            for action in actions.get(day, []):
                action()
            t.move_to(dt.datetime.combine(day, dt.time(22), dt.UTC))
            run_bill_run(company_id, day, "scheduler")
            db.session.rollback()
            day += dt.timedelta(days=1)
    return year


@pytest.fixture
def year(company):
    return play_year(company)


def documents(company_id: int) -> list[Invoice]:
    return db.session.scalars(
        select(Invoice).where(Invoice.company_id == company_id).order_by(Invoice.id)
    ).all()


def as_expected(year: Year, doc: Invoice) -> tuple:
    names = {v: k for k, v in year.services.items()}
    clients = {v: k for k, v in year.clients.items()}
    lines = []
    for line in sorted(doc.lines, key=lambda x: (names[x.service_id], x.kind)):
        if line.kind == "period":
            lines.append(
                (
                    names[line.service_id],
                    line.kind,
                    line.period_start,
                    line.period_end,
                    line.quantity,
                    line.unit_price,
                    line.amount,
                )
            )
        else:
            lines.append((names[line.service_id], line.kind, None, None, None, None, line.amount))
    return (
        doc.number,
        clients[doc.client_id],
        doc.issue_date,
        doc.due_date,
        doc.currency,
        lines,
        doc.net_total,
        doc.tax_total,
        doc.total,
    )


def test_a_year_of_bill_runs_issues_exactly_the_hand_computed_documents(year):
    got = [as_expected(year, doc) for doc in documents(year.company_id)]
    for expected, actual in zip(EXPECTED, got, strict=False):
        assert actual == expected
    assert len(got) == len(EXPECTED)
    for doc in documents(year.company_id):
        assert doc.kind == ("credit_note" if doc.number.startswith("CN-") else "invoice")
        assert doc.tax_rate == (D("20") if doc.client_id == year.clients[A] else D("10"))
        assert doc.status == "issued"


# --- The same year through the pages, the PDF and the exports ------------------------------


def _by_number(year: Year) -> dict[str, Invoice]:
    return {doc.number: doc for doc in documents(year.company_id)}


def _numbers(client: str) -> list[str]:
    return [e[0] for e in EXPECTED if e[1] == client]


def test_the_pages_list_each_clients_documents_with_the_years_totals(year, as_role):
    viewer = as_role(UserRole.ADMIN)
    for client, other, currency in ((A, B, "EUR"), (B, A, "USD")):
        response = viewer.get(f"/invoices?client={year.clients[client]}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        # 14 and 18 documents: one page each (25 a page)
        assert all(number in html for number in _numbers(client))
        assert not any(number in html for number in _numbers(other))
        totals = re.search(rf'<tr data-currency="{currency}">(.*?)</tr>', html, re.S).group(1)
        net, tax, gross = YEAR_TOTALS[client]
        assert [f"{net:,.2f}", f"{tax:,.2f}", f"{gross:,.2f}"] == re.findall(
            r'<td class="num">([-\d,.]+)', totals
        )[:3]
    found = _by_number(year)
    seats = viewer.get(f"/invoices/{found['INV-2027-00007'].id}").get_data(as_text=True)
    for text in ("Alpine Dental", "Summit IT", "40.45", "8.09 EUR", "48.54 EUR", "20.00%"):
        assert text in seats
    credit = viewer.get(f"/invoices/{found['CN-2027-00001'].id}").get_data(as_text=True)
    for text in ("Bay Logistics", "9 Dock St", "-401.10", "-40.11 USD", "-441.21 USD", "10.00%"):
        assert text in credit


def _pdf_text(viewer, invoice_id: int) -> str:
    response = viewer.get(f"/invoices/{invoice_id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pages = PdfReader(io.BytesIO(response.get_data())).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def test_the_pdfs_carry_the_parties_periods_tax_and_totals(year, as_role):
    viewer = as_role(UserRole.ADMIN)
    found = _by_number(year)
    text = _pdf_text(viewer, found["INV-2027-00021"].id)
    # The period after the suspension: Jul 13 to Aug 12 (the line's end is exclusive).
    for part in ("INV-2027-00021", "Summit IT", "Galway", "Bay Logistics", "Boston MA"):
        assert part in text
    for part in ("2027-07-13 - 2027-08-12", "Monitoring", "50.00", "5.00", "55.00 USD"):
        assert part in text
    text = _pdf_text(viewer, found["INV-2027-00001"].id)
    for part in ("2027-01-01 - 2027-01-31", "100.00", "130.00", "26.00", "156.00 EUR"):
        assert part in text
    text = _pdf_text(viewer, found["CN-2027-00001"].id)
    for part in ("CN-2027-00001", "Bay Logistics", "401.10", "40.11", "441.21"):
        assert part in text


def _csv_rows(viewer, url: str) -> list[dict]:
    response = viewer.get(url)
    assert response.status_code == 200
    text = response.get_data(as_text=True).removeprefix("\ufeff")  # the BOM of every CSV here
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_exports_carry_every_document_with_its_amounts(year, as_role):
    viewer = as_role(UserRole.ADMIN)
    expected = {e[0]: e for e in EXPECTED}
    # Xero: one row per line of every invoice and credit note.
    rows = _csv_rows(viewer, "/invoices/xero.csv")
    assert len(rows) == sum(len(e[5]) for e in EXPECTED)
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["*InvoiceNumber"]].append(row)
    assert set(grouped) == set(expected)
    for number, lines in grouped.items():
        _n, client, issued, due, currency, _lines, net, tax, _total = expected[number]
        assert {(r["*ContactName"], r["Currency"]) for r in lines} == {(client, currency)}
        assert {r["*InvoiceDate"] for r in lines} == {issued.strftime("%d/%m/%Y")}
        assert abs(sum(D(r["*Quantity"]) * D(r["*UnitAmount"]) for r in lines)) == abs(net)
        assert abs(sum(D(r["TaxAmount"]) for r in lines)) == abs(tax)
        if due:
            assert {r["*DueDate"] for r in lines} == {due.strftime("%d/%m/%Y")}
    # QuickBooks Online: invoices only (its credit memos are imported apart).
    rows = _csv_rows(viewer, "/invoices/quickbooks.csv")
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["*InvoiceNo"]].append(row)
    assert set(grouped) == {n for n in expected if n.startswith("INV-")}
    for number, lines in grouped.items():
        _n, client, issued, due, _c, _lines, net, _tax, _total = expected[number]
        assert {(r["*Customer"], r["*InvoiceDate"], r["*DueDate"]) for r in lines} == {
            (client, issued.strftime("%m/%d/%Y"), due.strftime("%m/%d/%Y"))
        }
        assert sum(D(r["*ItemAmount"]) for r in lines) == net
    # UBL 2.1: valid, and its totals are the document's (a credit note's as positive amounts).
    schemas = {
        name: etree.XMLSchema(etree.parse(str(XSD / f"UBL-{name}-2.1.xsd")))
        for name in ("Invoice", "CreditNote")
    }
    found = _by_number(year)
    for number, name in (("INV-2027-00007", "Invoice"), ("CN-2027-00001", "CreditNote")):
        response = viewer.get(f"/invoices/{found[number].id}.xml")
        assert response.status_code == 200
        tree = etree.fromstring(response.get_data())
        assert schemas[name].validate(tree), schemas[name].error_log
        _n, client, issued, *_rest, net, tax, total = expected[number]

        def text(path, tree=tree):
            return tree.findtext(path, namespaces=UBL)

        assert (text("cbc:ID"), text("cbc:IssueDate")) == (number, issued.isoformat())
        assert (
            text("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName")
            == client
        )
        assert [
            D(text(f"cac:LegalMonetaryTotal/cbc:{field}"))
            for field in ("TaxExclusiveAmount", "TaxInclusiveAmount", "PayableAmount")
        ] == [abs(net), abs(total), abs(total)]
        assert D(text("cac:TaxTotal/cbc:TaxAmount")) == abs(tax)
