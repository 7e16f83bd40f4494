"""Review probes (scratch): 5xx from parameters."""

import pytest

from tests.invoices.test_pages import books, manager  # noqa: F401

BAD = [
    "?page=-1", "?page=99999999999999999999999", "?page=abc", "?client=-5", "?client=99999999999999999999",
    "?client=abc", "?status=%00", "?kind=x", "?from=2026-13-45", "?from=0001-01-01&to=9999-12-31",
    "?to=10000-01-01", "?from=2026-05-01&to=2026-01-01", "?status=overdue&kind=credit_note",
    "?client=1&client=2", "?from=%00",
]


@pytest.mark.parametrize("path", ["/invoices", "/invoices.csv", "/invoices/xero.csv", "/invoices/quickbooks.csv"])
@pytest.mark.parametrize("args", BAD)
def test_no_5xx(manager, books, path, args):  # noqa: F811
    r = manager.get(path + args)
    assert r.status_code < 500, (path + args, r.status_code)
    if path.endswith(".csv"):
        r.get_data()


@pytest.mark.parametrize("path", ["/invoices/0", "/invoices/-1", "/invoices/99999999999999999999999",
    "/invoices/0.pdf", "/invoices/99999999999999999999.xml", "/invoices/9223372036854775808"])
def test_ids(manager, books, path):  # noqa: F811
    assert manager.get(path).status_code == 404


def test_posts(manager, books):  # noqa: F811
    for path in ("/invoices/99999999999999999999/paid", "/invoices/99999999999999999999/void"):
        r = manager.post(path, data={"paid_on": "2026-01-01", "reason": "x"})
        assert r.status_code < 500, (path, r.status_code)
    for data in ({"paid_on": "9999-12-31"}, {"paid_on": "0001-01-01"}, {"paid_on": "x" * 10000},
                 {"paid_on": "2026-01-01", "reference": "\x00"}, {"paid_on": "2026-01-01", "reference": "a\r\nb"}):
        r = manager.post(f"/invoices/{books['issued']}/paid", data=data)
        assert r.status_code < 500, (data, r.status_code)
    for data in ({"reason": "\x00"}, {"reason": "x" * 600}, {"reason": " "}, {"reason": "a\x0bb"}):
        r = manager.post(f"/invoices/{books['issued']}/void", data=data)
        assert r.status_code < 500, (data, r.status_code)
    # paid twice, void after paid
    r = manager.post(f"/invoices/{books['paid']}/void", data={"reason": "x"})
    assert r.status_code < 500
    r = manager.post(f"/invoices/{books['credit']}/paid", data={"paid_on": "2026-01-01"})
    assert r.status_code < 500


def test_price_change_probe(manager, books):  # noqa: F811
    for q in ("", "?status=zzz", "?client=-1", "?page=-3", "?q=%00"):
        r = manager.get("/services/price-change" + q)
        assert r.status_code < 500, (q, r.status_code)
    datas = [
        {"by": "percent", "change": "NaN"}, {"by": "percent", "change": "Infinity"},
        {"by": "percent", "change": "1e999999"}, {"by": "zzz", "change": "5"},
        {"by": "amount", "change": "-99999999999999999999"},
        {"by": "percent", "change": "5", "step": "apply", "services": "1:1 " * 3000},
        {"by": "percent", "change": "5", "step": "apply", "services": "99999999999:1"},
        {"by": "percent", "change": "5", "step": "apply", "services": "1:99999999999"},
        {"by": "percent", "change": "5", "step": "apply", "services": "\x00"},
        {"by": "percent", "change": "0.001"}, {"by": "percent", "change": "-100", "step": "apply", "services": "1:1"},
    ]
    for data in datas:
        r = manager.post("/services/price-change", data=data)
        assert r.status_code < 500, (data, r.status_code)


def test_settings_probe(as_role, company):
    from webapp.lifecycle.statuses import UserRole
    admin = as_role(UserRole.ADMIN)
    r = admin.get("/settings")
    assert r.status_code == 200
    import re
    for data in [
        {"invoice_prefix": "INV-", "credit_note_prefix": "CN-", "tax_rate": "NaN", "payment_terms_days": "14"},
        {"invoice_prefix": "INV-", "credit_note_prefix": "CN-", "tax_rate": "1e9999", "payment_terms_days": "14"},
        {"invoice_prefix": "INV-", "credit_note_prefix": "CN-", "tax_rate": "20", "payment_terms_days": "99999999999999999999"},
        {"invoice_prefix": "\x00", "credit_note_prefix": "CN-", "tax_rate": "20", "payment_terms_days": "14"},
        {"invoice_prefix": "INV-", "credit_note_prefix": "CN-", "tax_rate": "20", "payment_terms_days": "14", "country": "\x00"},
        {"invoice_prefix": "INV-", "credit_note_prefix": "CN-", "tax_rate": "20", "payment_terms_days": "14", "vat_id": "x" * 1000},
    ]:
        for url in ("/settings/invoicing", "/settings"):
            r = admin.post(url, data={**data, "form": "invoicing"})
            assert r.status_code < 500, (url, data, r.status_code)


def test_pdf_hostile(company):
    from tests.invoices.test_pdf import flat
    from tests.support.documents import issue, line
    from tests.support.factories import make_client
    from webapp.clients.models import Client
    from webapp.extensions import db
    from webapp.invoices.pdf import render_pdf
    from webapp.invoices.models import Invoice

    acme = make_client(company)
    client = db.session.get(Client, acme)
    client.name = "X" * 200
    client.address = ("Y" * 600 + "\n") * 10
    db.session.commit()
    doc = issue(company, acme, [line("Z" * 300, "5.00"), line("\u202eevil\u202c 🙂 " + "W" * 290, "1.00")])
    inv = doc
    inv.note = "N" * 500
    db.session.commit()
    pdf = render_pdf(inv)
    assert pdf.startswith(b"%PDF")
