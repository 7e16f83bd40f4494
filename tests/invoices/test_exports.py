"""Accounting exports of issued documents: Xero's and QuickBooks Online's invoice import CSVs,
read back with csv.DictReader under the column names those imports require, and UBL 2.1
documents validated against the official OASIS schemas (vendored in ubl-2.1-xsd/, see its
NOTICE.txt). Documents are issued through the real issuing function; the expected amounts are
worked out by hand below."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from tests.support.factories import make_client
from webapp.clients.models import Client
from webapp.company.models import Company
from webapp.extensions import db
from webapp.invoices import models as im
from webapp.invoices.documents import NewDocument, NewLine, issue_documents, lock_company
from webapp.invoices.exports import (
    QUICKBOOKS_COLUMNS,
    XERO_COLUMNS,
    quickbooks_csv,
    ubl_xml,
    xero_csv,
)
from webapp.pipeline.outbox import unit_of_work

D = dt.date
XSD = Path(__file__).parent / "ubl-2.1-xsd" / "maindoc"
NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
# A comma, quotes, a formula's "=" first, an ampersand and letters outside ASCII.
NAME = '=Ølsen, "Fjord" & Søn'
BOM = "\ufeff"


def line(kind, description, quantity, unit_price, amount, start=None, end=None):
    return NewLine(
        None,
        kind,
        description,
        quantity,
        Decimal(unit_price),
        Decimal(amount),
        period_start=start,
        period_end=end,
    )


# Invoice 1 (EUR, 20 %): three seats for January, the setup fee, a price rise from 100 to 120
# per seat on 17 January (60 x 15/31 = 29.032), and a credit for 10 of 31 days of a 40.00
# add-on stopped on 22 January (40 x 10/31 = 12.903). Net 366.16; tax 73.232 -> 73.23 (the
# lines' own 20 % rounded one by one would make 73.24).
INVOICE_1 = [
    line(
        im.PERIOD,
        "Managed Backup, 2026-01-01 to 2026-01-31",
        3,
        "100.00",
        "300.00",
        D(2026, 1, 1),
        D(2026, 2, 1),
    ),  # fmt: skip
    line(im.SETUP, "Managed Backup, setup fee", 1, "50.03", "50.03"),
    line(
        im.ADJUSTMENT,
        "Managed Backup, change on 2026-01-17",
        3,
        "120.00",
        "29.03",
        D(2026, 1, 17),
        D(2026, 2, 1),
    ),  # fmt: skip
    line(
        im.CREDIT,
        "Add-on, 10 unused days from 2026-01-22 credited",
        1,
        "40.00",
        "-12.90",
        D(2026, 1, 22),
        D(2026, 2, 1),
    ),  # fmt: skip
]
# Invoice 2 (USD, 0 %): February of a monitoring service and a one-time charge.
INVOICE_2 = [
    line(
        im.PERIOD,
        "Monitoring, 2026-02-01 to 2026-02-28",
        1,
        "1234.56",
        "1234.56",
        D(2026, 2, 1),
        D(2026, 3, 1),
    ),  # fmt: skip
    line(im.ONCE, "Onboarding, one-time", 1, "99.99", "99.99", D(2026, 2, 1)),
]
# The credit note voiding invoice 1: each of its lines reversed.
VOID_1 = [
    NewLine(
        None,
        im.VOID_LINE,
        x.description,
        x.quantity,
        x.unit_price,
        -x.amount,
        period_start=x.period_start,
        period_end=x.period_end,
    )  # fmt: skip
    for x in INVOICE_1
]


def issue(company_id, day, *documents) -> list[int]:
    with unit_of_work():
        return issue_documents(lock_company(company_id), list(documents), day, "test")


@pytest.fixture
def documents(app, company, other_company):
    """Invoice 1 and its voiding credit note for a client at the company's 20 %, invoice 2
    for a client at 0 % with 30 days' terms; and another company's invoice."""
    with unit_of_work():
        row = db.session.get(Company, company)
        row.tax_rate, row.address = Decimal("20"), "1 Quay Street\nDublin 2\nIreland"
    nordic = make_client(company, name=NAME, email=None)
    zero = make_client(company, name="Zero Rated Inc", email=None)
    with unit_of_work():
        db.session.get(
            Client, nordic
        ).address = "Storgata 1\nPostboks 22\n0155 Oslo\nNorway\nEurope"
        client = db.session.get(Client, zero)
        client.tax_rate, client.payment_terms_days = Decimal("0"), 30
    first, second = issue(
        company,
        D(2026, 2, 1),
        NewDocument(nordic, "EUR", INVOICE_1),
        NewDocument(zero, "USD", INVOICE_2),
    )
    [credit] = issue(company, D(2026, 2, 5), NewDocument(nordic, "EUR", VOID_1, first))
    [foreign] = issue(
        other_company,
        D(2026, 2, 1),
        NewDocument(make_client(other_company, email=None), "EUR", INVOICE_2),
    )
    return {
        "invoice_1": db.session.get(im.Invoice, first),
        "invoice_2": db.session.get(im.Invoice, second),
        "credit_note": db.session.get(im.Invoice, credit),
        "foreign": foreign,
        "company": company,
        "nordic": nordic,
    }


def test_issued_documents_are_what_the_expectations_assume(documents):
    one, two, credit = documents["invoice_1"], documents["invoice_2"], documents["credit_note"]
    assert (one.number, one.net_total, one.tax_total, one.total, one.due_date) == (
        "INV-2026-00001", Decimal("366.16"), Decimal("73.23"), Decimal("439.39"), D(2026, 2, 15)
    )  # fmt: skip
    assert (two.number, two.net_total, two.tax_total, two.due_date) == (
        "INV-2026-00002", Decimal("1334.55"), Decimal("0.00"), D(2026, 3, 3)
    )  # fmt: skip
    assert (credit.number, credit.kind, credit.total, credit.credits_invoice_id) == (
        "CN-2026-00001", im.CREDIT_NOTE, Decimal("-439.39"), one.id
    )  # fmt: skip


def read(text: str) -> tuple[list[str], list[dict]]:
    assert text.startswith(BOM)  # Excel reads the names as UTF-8
    reader = csv.DictReader(io.StringIO(text[1:], newline=""))
    return reader.fieldnames, list(reader)


# --- Xero --------------------------------------------------------------------------------

XERO_REQUIRED = [
    "*ContactName", "*InvoiceNumber", "*InvoiceDate", "*DueDate", "*Description",
    "*Quantity", "*UnitAmount", "*AccountCode", "*TaxType",
]  # fmt: skip


def test_xero_csv_has_the_template_columns_and_a_row_per_line(documents):
    one, two, credit = documents["invoice_1"], documents["invoice_2"], documents["credit_note"]
    header, rows = read(xero_csv([one, two, credit]))
    assert header == XERO_COLUMNS
    assert len(header) == 29 and [h for h in header if h.startswith("*")] == XERO_REQUIRED
    assert [r["*InvoiceNumber"] for r in rows] == ["INV-2026-00001"] * 4 + [
        "INV-2026-00002"
    ] * 2 + ["CN-2026-00001"] * 4
    assert all(r[name] for r in rows for name in XERO_REQUIRED)

    first = rows[:4]
    # The name as typed, but no formula: the house's quote before "=".
    assert {r["*ContactName"] for r in first} == {"'" + NAME}
    assert [first[0][f"POAddressLine{i}"] for i in (1, 2, 3, 4)] == [
        "Storgata 1", "Postboks 22", "0155 Oslo", "Norway, Europe"
    ]  # fmt: skip
    assert {(r["*InvoiceDate"], r["*DueDate"], r["Currency"]) for r in first} == {
        ("01/02/2026", "15/02/2026", "EUR")
    }
    assert [(r["*Quantity"], r["*UnitAmount"], r["TaxAmount"]) for r in first] == [
        ("3", "100.00", "60.00"),
        ("1", "50.03", "10.01"),
        ("1", "29.03", "5.80"),  # 3 x 120.00 is not the line: quantity 1 at its amount
        ("1", "-12.90", "-2.58"),
    ]
    assert {(r["*AccountCode"], r["*TaxType"]) for r in first} == {("200", "Tax on Sales")}
    assert first[0]["*Description"] == "Managed Backup, 2026-01-01 to 2026-01-31"

    second = rows[4:6]
    assert {(r["*TaxType"], r["Currency"], r["*DueDate"]) for r in second} == {
        ("Tax Exempt", "USD", "03/03/2026")
    }
    assert [(r["*Quantity"], r["*UnitAmount"], r["TaxAmount"]) for r in second] == [
        ("1", "1234.56", "0.00"),
        ("1", "99.99", "0.00"),
    ]

    # A credit note: negative amounts (Xero imports a negative total as a credit note), its
    # own date as due date, and the voided invoice as reference.
    notes = rows[6:]
    assert {(r["*InvoiceDate"], r["*DueDate"], r["Reference"]) for r in notes} == {
        ("05/02/2026", "05/02/2026", "INV-2026-00001")
    }
    assert [(r["*Quantity"], r["*UnitAmount"], r["TaxAmount"]) for r in notes] == [
        ("3", "-100.00", "-60.00"),
        ("1", "-50.03", "-10.01"),
        ("1", "-29.03", "-5.80"),
        ("1", "12.90", "2.58"),
    ]
    # Per document, the lines and their tax add up to the stored totals.
    for document in (one, two, credit):
        mine = [r for r in rows if r["*InvoiceNumber"] == document.number]
        net = sum(Decimal(r["*Quantity"]) * Decimal(r["*UnitAmount"]) for r in mine)
        assert net == document.net_total
        assert sum(Decimal(r["TaxAmount"]) for r in mine) == document.tax_total


def test_xero_csv_takes_the_organisations_codes_and_date_order(documents):
    _, rows = read(
        xero_csv(
            [documents["invoice_1"]],
            account_code="4000",
            tax_type=lambda rate: f"{rate.normalize():f}% (VAT on Income)",
            date_format="%m/%d/%Y",
        )
    )
    assert {(r["*AccountCode"], r["*TaxType"], r["*DueDate"]) for r in rows} == {
        ("4000", "20% (VAT on Income)", "02/15/2026")
    }


def test_a_credit_note_names_only_its_own_companys_invoice(documents):
    """A credit note pointing at another company's invoice id does not reveal its number."""
    with unit_of_work():
        [stray] = issue_documents(
            lock_company(documents["company"]),
            [NewDocument(documents["nordic"], "EUR", VOID_1[:1], documents["foreign"])],
            D(2026, 2, 6),
            "test",
        )
    stray = db.session.get(im.Invoice, stray)
    _, rows = read(xero_csv([stray]))
    assert rows[0]["Reference"] == ""
    assert b"BillingReference" not in ubl_xml(stray)


# --- QuickBooks Online -------------------------------------------------------------------


def test_quickbooks_csv_has_the_import_columns_and_leaves_credit_notes_out(documents):
    one, two, credit = documents["invoice_1"], documents["invoice_2"], documents["credit_note"]
    header, rows = read(quickbooks_csv([one, credit, two]))
    assert header == QUICKBOOKS_COLUMNS
    assert [h for h in header if h.startswith("*")] == [
        "*InvoiceNo", "*Customer", "*InvoiceDate", "*DueDate", "*ItemAmount"
    ]  # fmt: skip
    for name in ("Item(Product/Service)", "ItemDescription", "ItemQuantity", "ItemRate",
                 "Taxable", "TaxRate", "Service Date"):  # fmt: skip
        assert name in header
    assert [r["*InvoiceNo"] for r in rows] == ["INV-2026-00001"] * 4 + ["INV-2026-00002"] * 2

    first = rows[:4]
    assert {r["*Customer"] for r in first} == {"'" + NAME}
    assert {(r["*InvoiceDate"], r["*DueDate"], r["Taxable"], r["TaxRate"]) for r in first} == {
        ("02/01/2026", "02/15/2026", "Y", "20%")
    }
    assert [
        (r["ItemQuantity"], r["ItemRate"], r["*ItemAmount"], r["Service Date"]) for r in first
    ] == [
        ("3", "100.00", "300.00", "01/01/2026"),
        ("1", "50.03", "50.03", ""),
        ("1", "29.03", "29.03", "01/17/2026"),
        ("1", "-12.90", "-12.90", "01/22/2026"),
    ]
    assert sum(Decimal(r["*ItemAmount"]) for r in first) == one.net_total
    assert {(r["Taxable"], r["TaxRate"]) for r in rows[4:]} == {("N", "")}
    assert [r["*ItemAmount"] for r in rows[4:]] == ["1234.56", "99.99"]


# --- UBL 2.1 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas():
    return {
        name: etree.XMLSchema(etree.parse(str(XSD / f"UBL-{name}-2.1.xsd")))
        for name in ("Invoice", "CreditNote")
    }


def valid(schemas, document: bytes, name: str):
    tree = etree.fromstring(document)
    schema = schemas[name]
    assert schema.validate(tree), schema.error_log
    return tree


def text(node, path) -> str:
    return node.findtext(path, namespaces=NS)


def amount(node, path) -> Decimal:
    return Decimal(text(node, path))


def lines_of(tree, tag):
    line_tag = "cac:InvoiceLine" if tag == "InvoicedQuantity" else "cac:CreditNoteLine"
    return [
        {
            "quantity": Decimal(text(x, f"cbc:{tag}")),
            "unit": x.find(f"cbc:{tag}", NS).get("unitCode"),
            "amount": amount(x, "cbc:LineExtensionAmount"),
            "price": amount(x, "cac:Price/cbc:PriceAmount"),
            "period": (
                text(x, "cac:InvoicePeriod/cbc:StartDate"),
                text(x, "cac:InvoicePeriod/cbc:EndDate"),
            ),  # fmt: skip
            "name": text(x, "cac:Item/cbc:Name"),
            "tax": (
                text(x, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
                text(x, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"),
            ),  # fmt: skip
        }
        for x in tree.findall(line_tag, NS)
    ]


def assert_totals(tree, net, tax, total, currency):
    assert amount(tree, "cac:TaxTotal/cbc:TaxAmount") == tax
    assert amount(tree, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount") == net
    assert amount(tree, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount") == tax
    for name, value in (("LineExtensionAmount", net), ("TaxExclusiveAmount", net),
                        ("TaxInclusiveAmount", total), ("PayableAmount", total)):  # fmt: skip
        assert amount(tree, f"cac:LegalMonetaryTotal/cbc:{name}") == value
    assert {x.get("currencyID") for x in tree.iter() if x.get("currencyID")} == {currency}


def test_ubl_invoice_validates_and_carries_the_stored_amounts(documents, schemas):
    one = documents["invoice_1"]
    tree = valid(schemas, ubl_xml(one), "Invoice")
    assert tree.tag == f"{{{NS['inv']}}}Invoice"
    assert text(tree, "cbc:CustomizationID") == "urn:cen.eu:en16931:2017"
    assert (text(tree, "cbc:ID"), text(tree, "cbc:IssueDate"), text(tree, "cbc:DueDate")) == (
        "INV-2026-00001", "2026-02-01", "2026-02-15"
    )  # fmt: skip
    assert (text(tree, "cbc:InvoiceTypeCode"), text(tree, "cbc:DocumentCurrencyCode")) == (
        "380", "EUR"
    )  # fmt: skip
    supplier = tree.find("cac:AccountingSupplierParty/cac:Party", NS)
    assert text(supplier, "cac:PartyLegalEntity/cbc:RegistrationName") == "Test MSP"
    assert [text(supplier, f"cac:PostalAddress/{p}") for p in (
        "cbc:StreetName", "cbc:AdditionalStreetName", "cac:AddressLine/cbc:Line"
    )] == ["1 Quay Street", "Dublin 2", "Ireland"]  # fmt: skip
    customer = tree.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert text(customer, "cac:PartyName/cbc:Name") == NAME  # XML needs no formula guard
    assert text(customer, "cac:PostalAddress/cac:AddressLine/cbc:Line") == (
        "0155 Oslo, Norway, Europe"
    )
    category = tree.find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
    assert (text(category, "cbc:ID"), Decimal(text(category, "cbc:Percent"))) == ("S", 20)
    assert text(category, "cac:TaxScheme/cbc:ID") == "VAT"
    assert_totals(tree, Decimal("366.16"), Decimal("73.23"), Decimal("439.39"), "EUR")

    lines = lines_of(tree, "InvoicedQuantity")
    assert [(x["quantity"], x["amount"], x["price"]) for x in lines] == [
        (3, Decimal("300.00"), Decimal("100.00")),
        (1, Decimal("50.03"), Decimal("50.03")),
        (1, Decimal("29.03"), Decimal("29.03")),
        (-1, Decimal("-12.90"), Decimal("12.90")),  # BR-27: the price is never negative
    ]
    assert [x["period"] for x in lines] == [
        ("2026-01-01", "2026-01-31"),  # period_end is exclusive: the day before
        (None, None),
        ("2026-01-17", "2026-01-31"),
        ("2026-01-22", "2026-01-31"),
    ]
    assert {x["unit"] for x in lines} == {"C62"}
    assert {(x["tax"][0], Decimal(x["tax"][1])) for x in lines} == {("S", 20)}
    assert lines[1]["name"] == "Managed Backup, setup fee"
    assert all(x["quantity"] * x["price"] == x["amount"] for x in lines)
    assert sum(x["amount"] for x in lines) == one.net_total


def test_ubl_zero_rate_invoice_in_usd_is_zero_rated(documents, schemas):
    two = documents["invoice_2"]
    tree = valid(schemas, ubl_xml(two), "Invoice")
    category = tree.find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
    assert (text(category, "cbc:ID"), Decimal(text(category, "cbc:Percent"))) == ("Z", 0)
    assert_totals(tree, Decimal("1334.55"), Decimal("0.00"), Decimal("1334.55"), "USD")
    lines = lines_of(tree, "InvoicedQuantity")
    assert [x["period"] for x in lines] == [("2026-02-01", "2026-02-28"), (None, None)]
    assert {x["tax"][0] for x in lines} == {"Z"}
    assert text(tree, "cbc:DueDate") == "2026-03-03"


def test_ubl_credit_note_validates_with_positive_amounts_and_its_invoice(documents, schemas):
    credit = documents["credit_note"]
    tree = valid(schemas, ubl_xml(credit), "CreditNote")
    assert tree.tag == f"{{{NS['cn']}}}CreditNote"
    assert text(tree, "cbc:CreditNoteTypeCode") == "381"
    assert tree.find("cbc:DueDate", NS) is None
    reference = tree.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    assert (text(reference, "cbc:ID"), text(reference, "cbc:IssueDate")) == (
        "INV-2026-00001", "2026-02-01"
    )  # fmt: skip
    # Stored negative (-366.16, -73.23, -439.39), shown as the amounts credited.
    assert_totals(tree, Decimal("366.16"), Decimal("73.23"), Decimal("439.39"), "EUR")
    lines = lines_of(tree, "CreditedQuantity")
    assert [(x["quantity"], x["amount"], x["price"]) for x in lines] == [
        (3, Decimal("300.00"), Decimal("100.00")),
        (1, Decimal("50.03"), Decimal("50.03")),
        (1, Decimal("29.03"), Decimal("29.03")),
        (-1, Decimal("-12.90"), Decimal("12.90")),  # reverses the invoice's credit
    ]
    assert sum(x["amount"] for x in lines) == -credit.net_total


def test_every_issued_document_validates(documents, schemas):
    for key in ("invoice_1", "invoice_2", "credit_note"):
        document = documents[key]
        valid(schemas, ubl_xml(document), "CreditNote" if document.is_credit_note else "Invoice")


def test_ubl_leaves_out_characters_xml_cannot_hold(documents, schemas):
    """Text stored before names were kept to one line may hold control characters."""
    one = documents["invoice_1"]
    one.parties = {**one.parties, "client": {"name": "Acme\x0bDental\x00", "address": ""}}
    tree = valid(schemas, ubl_xml(one), "Invoice")
    db.session.rollback()
    customer = tree.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert text(customer, "cac:PartyName/cbc:Name") == "Acme Dental "


def test_ubl_carries_both_parties_country_and_vat_id_as_at_issue(app, company, schemas):
    with unit_of_work():
        row = db.session.get(Company, company)
        row.country, row.vat_id = "IE", "IE6388047V"
    client_id = make_client(company, name="Fjord AS", email=None)
    with unit_of_work():
        client = db.session.get(Client, client_id)
        client.country, client.vat_id = "NO", "NO923609016MVA"
    [invoice_id] = issue(company, D(2026, 2, 1), NewDocument(client_id, "EUR", INVOICE_2))
    with unit_of_work():
        db.session.get(Client, client_id).vat_id = "changed later"
    tree = valid(schemas, ubl_xml(db.session.get(im.Invoice, invoice_id)), "Invoice")
    for role, country, vat_id in (
        ("AccountingSupplierParty", "IE", "IE6388047V"),
        ("AccountingCustomerParty", "NO", "NO923609016MVA"),
    ):
        party = tree.find(f"cac:{role}/cac:Party", NS)
        assert text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") == country
        assert text(party, "cac:PartyTaxScheme/cbc:CompanyID") == vat_id
        assert text(party, "cac:PartyTaxScheme/cac:TaxScheme/cbc:ID") == "VAT"
