"""A number prefix the other kind of document used before would let a new number repeat one of
theirs (both kinds count from 1), and UNIQUE(company_id, number) would fail every later bill
run: the settings form refuses it in place, and issuing refuses a number taken anyway (a
settings change racing a run) with a message instead of a database error."""

import datetime as dt

import pytest

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client, make_invoice
from webapp.company.models import Company
from webapp.extensions import db
from webapp.invoices.documents import NumberTaken
from webapp.invoices.models import Invoice
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.outbox import unit_of_work

DAY = dt.date(2026, 3, 1)
SETTINGS = {
    "invoice_prefix": "INV-",
    "credit_note_prefix": "CN-",
    "number_with_year": "y",
    "tax_rate": "0",
    "payment_terms_days": "14",
}


@pytest.fixture
def issued(app, company):
    """INV-2026-00001 and CN-2026-00001."""
    customer = make_client(company)
    make_invoice(company, customer, ("100.00",), issue_date=DAY)
    make_invoice(company, customer, ("-40.00",), issue_date=DAY)
    numbers = set(db.session.scalars(db.select(Invoice.number)))
    assert numbers == {"INV-2026-00001", "CN-2026-00001"}
    return customer


def _prefixes(company_id):
    db.session.expire_all()
    row = db.session.get(Company, company_id)
    return row.invoice_prefix, row.credit_note_prefix


@pytest.mark.parametrize(
    ("field", "sent", "taken"),
    [
        ("invoice_prefix", {"invoice_prefix": "CN-", "credit_note_prefix": "CR-"}, "CN-2026-00001"),
        (
            "credit_note_prefix",
            {"invoice_prefix": "BILL-", "credit_note_prefix": "INV-"},
            "INV-2026-00001",
        ),
    ],
)
def test_a_prefix_the_other_kind_used_is_refused_in_place(
    as_role, company, issued, field, sent, taken
):
    admin = as_role(UserRole.ADMIN)
    before = snapshot()
    response = admin.post("/settings/invoicing", {**SETTINGS, **sent}, target="invoicing_form")
    assert response.status_code == 422
    assert f'id="{field}-error">' in response.text
    assert taken in response.text and "nothing was saved" in response.text
    assert changed_tables(before, snapshot()) == set()
    assert _prefixes(company) == ("INV-", "CN-")


@pytest.mark.parametrize("field", ["invoice_prefix", "credit_note_prefix"])
def test_a_prefix_with_a_nul_is_refused_in_place_not_looked_up(as_role, company, issued, field):
    """Its pattern refuses it; looking it up among the numbers as well failed the query on
    PostgreSQL (a 500, found by the form fuzzer)."""
    admin = as_role(UserRole.ADMIN)
    before = snapshot()
    sent = {**SETTINGS, field: "\x00" * 200}
    response = admin.post("/settings/invoicing", sent, target="invoicing_form")
    assert response.status_code == 422
    assert f'id="{field}-error">' in response.text
    assert changed_tables(before, snapshot()) == set()


def test_a_prefix_no_number_of_the_other_kind_can_equal_is_saved(as_role, company, issued):
    """ "CN-2" is followed by "026-00001" in CN-2026-00001, not by a year and a sequence: no
    invoice numbered with it can equal a credit note's number."""
    admin = as_role(UserRole.ADMIN)
    sent = {**SETTINGS, "invoice_prefix": "CN-2", "credit_note_prefix": "CR-"}
    response = admin.post("/settings/invoicing", sent, target="invoicing_form")
    assert response.status_code == 200
    assert _prefixes(company) == ("CN-2", "CR-")


def test_a_number_taken_anyway_is_refused_naming_it_and_the_setting(app, company, issued):
    make_invoice(company, issued, ("-10.00",), issue_date=DAY)  # CN-2026-00002
    # As if the settings changed between the form's check and the run: straight to the row.
    with unit_of_work():
        db.session.get(Company, company).invoice_prefix = "CN-"
    before = snapshot()
    with pytest.raises(NumberTaken) as refused:
        make_invoice(company, issued, ("100.00",), issue_date=DAY)
    message = str(refused.value)
    # The next invoice is the second: CN-2026-00002, a credit note's number.
    assert "CN-2026-00002" in message and "invoice number prefix" in message
    assert changed_tables(before, snapshot()) == set()
