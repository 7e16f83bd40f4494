"""The company's country and VAT number (EN 16931's seller BT-40 and BT-31) and each client's
(the buyer's BT-55 and BT-48): entered on the settings and client forms, refused in place when
they are not a country of the list or not a VAT number's characters, and carried into the UBL
of the invoices issued after."""

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_invoice
from webapp.clients.models import Client
from webapp.company.models import Company
from webapp.countries import COUNTRIES, country_code, vat_id
from webapp.extensions import db
from webapp.invoices.exports import ubl_xml
from webapp.invoices.models import Invoice
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

R = UserRole

SETTINGS = {
    "invoice_prefix": "INV-",
    "credit_note_prefix": "CN-",
    "number_with_year": "y",
    "tax_rate": "0",
    "payment_terms_days": "14",
}

CLIENT = {"name": "Fjord Shipping", "payment_terms_days": "", "tax_rate": ""}

UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def company_row(company_id):
    db.session.rollback()
    return db.session.get(Company, company_id)


def test_the_country_list_is_iso_alpha_2_codes_with_names():
    assert len(COUNTRIES) == 249
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRIES)
    assert (COUNTRIES["GB"], COUNTRIES["DE"], COUNTRIES["BO"]) == (
        "United Kingdom",
        "Germany",
        "Bolivia",
    )
    assert country_code(" ie ") == "IE"
    for bad in ("UK", "EU", "GBR", "XX"):  # UK is GB's VAT prefix habit, not a code
        with pytest.raises(ValueError):
            country_code(bad)


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        (" gb 123 4567 89 ", "GB 123 4567 89"),
        ("che-123.456.789 mwst", "CHE-123.456.789 MWST"),
        ("EL/094014201", "EL/094014201"),
        ("  ", None),
    ],
)
def test_a_vat_number_is_kept_stripped_and_upper_cased(typed, kept):
    assert vat_id(typed) == kept


@pytest.mark.parametrize("typed", ["GB#123", "-GB123", "DE 1ß", "GB\u00a0123", "G" * 41])
def test_a_vat_number_of_other_characters_is_refused(typed):
    with pytest.raises(ValueError, match="Letters, digits, spaces"):
        vat_id(typed)


def test_settings_save_the_country_and_vat_number_and_show_them(as_role, company):
    admin = as_role(R.ADMIN)
    html = admin.get("/settings").get_data(as_text=True)
    assert '<option value="">Not given</option>' in html
    assert '<option value="IE">Ireland</option>' in html
    assert "else on from one year to the next" in html  # numbers without the year run on

    sent = {**SETTINGS, "country": "IE", "vat_id": " ie 6388047v "}
    response = admin.post("/settings/invoicing", sent, target="invoicing_form")
    assert response.status_code == 200
    row = company_row(company)
    assert (row.country, row.vat_id) == ("IE", "IE 6388047V")
    html = admin.get("/settings").get_data(as_text=True)
    assert '<option selected value="IE">Ireland</option>' in html
    assert 'value="IE 6388047V"' in html

    admin.post("/settings/invoicing", {**SETTINGS, "country": "", "vat_id": ""})
    row = company_row(company)
    assert (row.country, row.vat_id) == (None, None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("country", "UK", "Choose a country from the list"),
        ("country", "Ireland", "Choose a country from the list"),
        ("vat_id", "IE#6388047V", "Letters, digits, spaces and . - / only"),
        ("vat_id", "IE" + "1" * 39, "at most 40 characters"),
        ("vat_id", "IE63\n88047V", "Letters, digits, spaces and . - / only"),
    ],
)
def test_bad_seller_country_or_vat_number_is_refused_beside_its_field(
    as_role, company, field, value, message
):
    admin = as_role(R.ADMIN)
    before = snapshot()
    sent = {**SETTINGS, "country": "IE", "vat_id": "IE6388047V", field: value}
    response = admin.post("/settings/invoicing", sent, target="invoicing_form")
    assert response.status_code == 422
    assert f'id="{field}-error">' in response.text and message in response.text
    assert "nothing was saved" in response.text
    if field == "vat_id" and "\n" not in value:
        assert f'value="{value}"' in response.text  # kept as typed, to be put right
    assert changed_tables(before, snapshot()) == set()
    row = company_row(company)
    assert (row.country, row.vat_id) == (None, None)


def test_a_client_keeps_its_country_and_vat_number_and_its_page_shows_them(as_role, company):
    manager = as_role(R.ACCOUNT_MANAGER)
    response = manager.post("/clients/new", {**CLIENT, "country": "no", "vat_id": "no923609016mva"})
    assert response.status_code == 200
    client = db.session.scalars(select(Client)).one()
    assert (client.country, client.vat_id) == ("NO", "NO923609016MVA")
    page = manager.get(f"/clients/{client.id}").get_data(as_text=True)
    assert "<dt>Country</dt><dd>Norway (NO)</dd>" in page
    assert "<dt>VAT number</dt><dd>NO923609016MVA</dd>" in page
    form = manager.get(f"/clients/{client.id}/edit").get_data(as_text=True)
    assert '<option selected value="NO">Norway</option>' in form

    manager.post(f"/clients/{client.id}/edit", {**CLIENT, "country": "SE", "vat_id": ""})
    db.session.rollback()
    event = db.session.scalars(select(DomainEvent).filter_by(type="ClientUpdated")).one()
    assert event.payload["changes"] == {"country": ["NO", "SE"], "vat_id": ["NO923609016MVA", None]}
    page = manager.get(f"/clients/{client.id}").get_data(as_text=True)
    assert "<dt>Country</dt><dd>Sweden (SE)</dd>" in page
    assert "<dt>VAT number</dt><dd>—</dd>" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("country", "XX", "Choose a country from the list"),
        ("country", "Norway", "Choose a country from the list"),
        ("vat_id", "NO 923 609 016 MVA (main)", "Letters, digits, spaces and . - / only"),
        ("vat_id", "é" * 3, "Letters, digits, spaces and . - / only"),
    ],
)
def test_bad_client_country_or_vat_number_is_an_error_in_place_and_nothing_is_written(
    as_role, company, field, value, message
):
    manager = as_role(R.ACCOUNT_MANAGER)
    before = snapshot()
    sent = {**CLIENT, "country": "NO", "vat_id": "NO923609016MVA", field: value}
    response = manager.post("/clients/new", sent, htmx=False)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error">{message}' in html and "nothing was saved" in html
    assert changed_tables(before, snapshot()) == set()


def test_what_the_forms_saved_is_in_the_ubl_of_the_next_invoice(as_role, company):
    as_role(R.ADMIN).post(
        "/settings/invoicing", {**SETTINGS, "country": "IE", "vat_id": "ie6388047v"}
    )
    as_role(R.ACCOUNT_MANAGER).post(
        "/clients/new", {**CLIENT, "country": "NO", "vat_id": "NO923609016MVA"}
    )
    db.session.rollback()
    client_id = db.session.scalar(select(Client.id))
    invoice_id = make_invoice(company, client_id)
    tree = ET.fromstring(ubl_xml(db.session.get(Invoice, invoice_id)))
    for role, country, vat in (
        ("AccountingSupplierParty", "IE", "IE6388047V"),
        ("AccountingCustomerParty", "NO", "NO923609016MVA"),
    ):
        party = tree.find(f"cac:{role}/cac:Party", UBL)
        found = party.find("cac:PostalAddress/cac:Country/cbc:IdentificationCode", UBL)
        assert found.text == country
        assert party.find("cac:PartyTaxScheme/cbc:CompanyID", UBL).text == vat
