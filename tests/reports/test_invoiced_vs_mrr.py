"""Invoiced revenue per month beside the ledger's MRR, on the reports fixture (conftest.msp,
whose MRR test_revenue_reports.py pins): documents issued through the real issuing function in
EUR and USD over February to April 2027, with every line kind, a 20% tax rate that must not
count, a void, a credit note, and another company's invoice that must not either."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import update

from tests.reports.test_reports_page import cells
from tests.support.factories import make_client
from tests.support.sessions import Session, add_user
from webapp.company.models import Company
from webapp.extensions import db
from webapp.invoices import models as im
from webapp.invoices.documents import (
    NewDocument,
    NewLine,
    cents,
    issue_documents,
    lock_company,
)
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.outbox import unit_of_work
from webapp.reports.invoiced import invoiced_months
from webapp.reports.revenue import months_between, mrr_months

D = dt.date

FEB, MAR, APR = D(2027, 2, 1), D(2027, 3, 1), D(2027, 4, 1)

TODAY = D(2027, 4, 2)


def line(service_id, kind, amount, key=None):
    amount = Decimal(amount)
    return NewLine(service_id, kind, f"{kind} line", 1, abs(amount), amount, billing_key=key)


def issue(company_id, client_id, currency, day, *lines, voids=None) -> int:
    """One document through the real issuing function, as the bill run and voiding do."""
    with unit_of_work():
        company = lock_company(company_id)
        [doc] = issue_documents(
            company,
            [NewDocument(client_id, currency, list(lines), credits_invoice_id=voids)],
            day,
            "test",
        )
        if voids is not None:
            db.session.execute(
                update(im.Invoice)
                .where(im.Invoice.id == voids)
                .values(status=im.VOID, voided_by_id=doc)
            )
    return doc


@pytest.fixture
def billed(msp, other_company):
    """The fixture MSP's invoices; S1-S6 as in conftest (S1 and S2 Acme EUR, the rest
    Bluebird USD)."""
    cid, acme, bluebird = msp["company"], msp["acme"], msp["bluebird"]
    with unit_of_work():
        db.session.get(Company, cid).tax_rate = Decimal("20")
    s1, s2, s3, s4, s6 = (msp[k] for k in ("S1", "S2", "S3", "S4", "S6"))
    # EUR, Acme
    issue(cid, acme, "EUR", D(2027, 2, 10),
          line(s1, im.PERIOD, "450.00", "period:a"), line(s1, im.SETUP, "200.00", "setup"))  # fmt: skip
    issue(cid, acme, "EUR", D(2027, 2, 15),
          line(s2, im.PERIOD, "720.00", "period:a"), line(s1, im.ADJUSTMENT, "25.21", "event:1"))  # fmt: skip
    issue(cid, acme, "EUR", D(2027, 3, 10),
          line(s1, im.PERIOD, "450.00", "period:b"), line(s2, im.ONCE, "150.00", "once"))  # fmt: skip
    wrong = issue(cid, acme, "EUR", D(2027, 3, 20), line(s1, im.ONCE, "99.00", "once"))
    issue(cid, acme, "EUR", D(2027, 3, 25), line(s1, im.VOID_LINE, "-99.00"), voids=wrong)
    # USD, Bluebird
    issue(cid, bluebird, "USD", D(2027, 2, 8), line(s6, im.PERIOD, "600.00", "period:a"))
    issue(cid, bluebird, "USD", D(2027, 2, 22), line(s3, im.CREDIT, "-2080.00", "event:2"))
    issue(cid, bluebird, "USD", D(2027, 3, 5),
          line(s4, im.PERIOD, "100.00", "period:a"), line(s4, im.ADJUSTMENT, "-12.34", "event:3"))  # fmt: skip
    issue(cid, bluebird, "USD", D(2027, 4, 1), line(s4, im.PERIOD, "100.00", "period:b"))
    # Another company's invoice in the same months and currency.
    stranger = make_client(other_company, "Stranger")
    db.session.commit()
    issue(other_company, stranger, "EUR", D(2027, 3, 5), line(None, im.ONCE, "5000.00"))
    return msp


# month, mrr, invoiced, difference, periods, periods - mrr, setup, once, adjustments, credits, voids
EXPECTED = {
    "EUR": [
        ("Feb 2027", "690.00", "1395.21", "705.21", "1170.00", "480.00", "200.00", "0.00", "25.21", "0.00", "0.00"),
        ("Mar 2027", "690.00", "600.00", "-90.00", "450.00", "-240.00", "0.00", "249.00", "0.00", "0.00", "-99.00"),
        ("Apr 2027", "690.00", "0.00", "-690.00", "0.00", "-690.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ],
    "USD": [
        ("Feb 2027", "152.00", "-1480.00", "-1632.00", "600.00", "448.00", "0.00", "0.00", "0.00", "-2080.00", "0.00"),
        ("Mar 2027", "200.00", "87.66", "-112.34", "100.00", "-100.00", "0.00", "0.00", "-12.34", "0.00", "0.00"),
        ("Apr 2027", "200.00", "100.00", "-100.00", "100.00", "-100.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ],
}  # fmt: skip


def figures(m) -> tuple:
    values = (m.mrr, m.invoiced, m.difference, m.periods, m.timing, m.setup, m.once,
              m.adjustments, m.credits, m.voids)  # fmt: skip
    return (f"{m.month:%b %Y}", *(f"{v:.2f}" for v in values))


def report(company_id, first=FEB, last=APR, client_id=None, today=TODAY):
    mrr = mrr_months(company_id, first, last, client_id, today)
    return invoiced_months(company_id, months_between(first, last), mrr, client_id)


def test_invoiced_per_month_and_kind_beside_the_ledger_mrr(billed):
    result = report(billed["company"])
    assert list(result) == ["EUR", "USD"]
    for currency, months in result.items():
        assert [figures(m) for m in months] == EXPECTED[currency]


def test_the_kinds_explain_the_whole_difference(billed):
    for months in report(billed["company"]).values():
        for m in months:
            assert m.timing + m.setup + m.once + m.adjustments + m.credits + m.voids == (
                m.difference
            )
            assert m.mrr + m.difference == m.invoiced


def test_the_net_is_counted_not_the_tax_and_the_mrr_is_the_closing_figure(billed):
    invoices = db.session.query(im.Invoice).filter_by(company_id=billed["company"]).all()
    assert all(i.tax_total == cents(i.net_total / 5) and i.tax_total for i in invoices)
    mrr = mrr_months(billed["company"], FEB, APR, today=TODAY)
    eur = report(billed["company"])["EUR"]
    assert [m.mrr for m in eur] == [m.closing for m in mrr["EUR"]]


def test_a_client_filter_counts_that_clients_invoices_only(billed):
    result = report(billed["company"], client_id=billed["acme"])
    assert [figures(m) for m in result["EUR"]] == EXPECTED["EUR"]
    # Acme's weekly USD service (S5) was billing in February; none of Bluebird's USD counts.
    assert [(m.mrr, m.invoiced) for m in result["USD"]] == [
        (Decimal("52.00"), Decimal(0)),
        (Decimal(0), Decimal(0)),
        (Decimal(0), Decimal(0)),
    ]


def test_another_companys_invoices_are_not_counted(billed, other_company):
    assert report(billed["company"])["EUR"][1].invoiced == Decimal("600.00")
    theirs = report(other_company)
    assert list(theirs) == ["EUR"]
    assert [m.invoiced for m in theirs["EUR"]] == [Decimal(0), Decimal("5000.00"), Decimal(0)]
    assert [m.once for m in theirs["EUR"]] == [Decimal(0), Decimal("5000.00"), Decimal(0)]


def test_a_company_without_invoices_shows_mrr_against_nothing(msp):
    usd = report(msp["company"])["USD"]
    assert [(m.mrr, m.invoiced, m.difference) for m in usd] == [
        (Decimal("152.00"), Decimal(0), Decimal("-152.00")),
        (Decimal("200.00"), Decimal(0), Decimal("-200.00")),
        (Decimal("200.00"), Decimal(0), Decimal("-200.00")),
    ]


@pytest.fixture
def viewer(app, billed):
    add_user(billed["company"], UserRole.VIEWER, "v@fixture.example")
    return Session(app.test_client(), "v@fixture.example")


def test_the_page_shows_the_table_and_the_csv_has_it(viewer):
    html = viewer.get("/reports?from=2027-02&to=2027-04").get_data(as_text=True)
    assert "Invoiced vs MRR" in html
    rows = cells(html, "report_invoiced")
    assert rows == [[m, *(f"{Decimal(v):,.2f}" for v in values)] for m, *values in EXPECTED["EUR"]]
    part = html[html.index('id="report_invoiced"') :]
    assert 'id="invoiced-USD-title"' in part and "<polyline" in part  # a chart per currency
    usd_table = part[part.index("USD") :]
    assert "-1,480.00" in usd_table and "-2,080.00" in usd_table
    assert "sum of the columns after it" in part  # how to read it

    csv_url = re.search(r'href="([^"]*invoiced-vs-mrr\.csv[^"]*)"', html).group(1)
    response = viewer.get(csv_url.replace("&amp;", "&"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert table[0][:5] == ["month", "currency", "mrr_at_month_end", "invoiced_net", "difference"]
    assert table[1:] == [
        [f"{month[4:]}-{m:02d}", currency, *values]
        for currency in ("EUR", "USD")
        for (month, *values), m in zip(EXPECTED[currency], (2, 3, 4), strict=True)
    ]


def test_months_follow_the_companys_time_zone(viewer, billed):
    """23:30 UTC on 30 April is already 1 May in London (BST): May is this month, and the
    documents dated 30 April and 1 May fall on either side of the month's boundary."""
    cid, acme = billed["company"], billed["acme"]
    with time_machine.travel(dt.datetime(2027, 4, 30, 23, 30, tzinfo=dt.UTC), tick=False):
        issue(cid, acme, "EUR", D(2027, 4, 30), line(billed["S1"], im.PERIOD, "450.00", "p:c"))
        issue(cid, acme, "EUR", D(2027, 5, 1), line(billed["S2"], im.ONCE, "30.00", "o:b"))
        html = viewer.get("/reports").get_data(as_text=True)
    eur = cells(html, "report_invoiced")
    assert [r[0] for r in eur[-2:]] == ["Apr 2027", "May 2027"]
    assert eur[-2][2] == "450.00" and eur[-2][4] == "450.00"
    assert eur[-1][2] == "30.00" and eur[-1][7] == "30.00"
