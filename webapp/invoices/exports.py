"""Invoices for accounting systems: the CSV files Xero and QuickBooks Online import as sales
invoices, and one UBL 2.1 document per invoice or credit note with the EN 16931 core fields.

Lines and amounts. Stored amounts are signed (DESIGN.md, "Invoicing"): a credit note's are
negative. Each export writes a line as quantity x unit price only where that product is the
line's amount to the cent (period, setup and one-time lines); an adjustment or credit line is
a share of a period, so it is written as quantity 1 at its amount (its description says how
it was worked out). So every format's line total is the stored line amount and the sum of the
lines the stored net total.

Xero (CSV). The columns and their order are those of Xero's own sales invoice template,
SalesInvoiceTemplate.csv, the file its Import screen offers for download: 29 columns, the nine
required ones starred. Found verbatim as that file in the public repositories
Philipotieno/Invoice-API and TakundaMabukwa/motion-live, and checked against other projects
that import into Xero (a test in one of them pins the same 29 names "copied verbatim from the
header row of Xero's SalesInvoiceTemplate.csv"). Dates are DD/MM/YYYY, as guides to the
import quote Xero's help (a US organisation passes MM/DD/YYYY: `date_format`). Xero's help for
the import (Xero Central, "Import invoices"; quoted from memory, its page was not at hand to
re-read) says a document whose total is below zero is imported as a credit note, and an
invoice there may not total below zero: so credit notes go in the same file with their
stored, negative amounts (quantity positive, unit amount negative); their DueDate,
required by the template, is their date, and their Reference is the number of the invoice
they void. TaxAmount holds each line's part of the document's tax (below), so the tax Xero
books is the tax on our document, to the cent. AccountCode and TaxType name things in the
Xero organisation's own settings, so the caller passes them (defaults: Xero's default sales
account 200; the tax rate names of Xero's default tax rates).

QuickBooks Online (CSV). The columns and order of the sample file of QuickBooks Online's
"Import invoices" tool (starred: mandatory), as projects that feed it write them (e.g.
DispatcherWeb's InvoiceListCsvExporter). The invoice import makes invoices only; an invoice
cannot total below zero there, and QuickBooks documents credit notes as a tool and file of
their own ("Import credit notes"). So credit notes are left out of this file, and an invoice's
negative lines (adjustments, credits) stay on it as negative amounts of a service line,
which QuickBooks accepts.

UBL 2.1 with the EN 16931 core fields (CustomizationID urn:cen.eu:en16931:2017). An invoice is
an Invoice of type 380; a credit note a CreditNote of type 381, with its amounts made positive
(UBL's CreditNote carries positive amounts) and a BillingReference to the invoice it voids. A
line of the other sign than its document (an adjustment credit on an invoice) keeps a negative
LineExtensionAmount, which EN 16931 allows; its price stays positive, as BR-27 requires, and
the sign goes on the quantity, so quantity x price is still the line amount.
Tax is one VAT breakdown per document (one rate per document): category S with the rate, or
Z (zero rated) at 0 %. E (exempt) and O (not subject to VAT) would each need an exemption
reason (BR-E-10, BR-O-10) that nothing here records; Z needs none. The parties' country codes (BT-40,
BT-55; BR-09, BR-11 make them mandatory) and VAT identifiers (BT-31, BT-48; BR-S-02, BR-Z-02)
come from the company's and the client's settings as they were at issue: a document issued
while they were blank lacks them, and passes the UBL schemas but not a full EN 16931
(schematron) check.
"""

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from sqlalchemy import select

from webapp.database import chunked
from webapp.exports import BOM, CHUNK, cell
from webapp.extensions import db
from webapp.invoices.models import Invoice, InvoiceLine
from webapp.lifecycle.invoicing import cents

DAY = dt.timedelta(days=1)
ZERO = Decimal("0.00")
BATCH = CHUNK  # documents per credited-invoice look-up

# --- Lines as the exports write them -----------------------------------------------------


@dataclass(frozen=True)
class _Line:
    quantity: int  # positive; the sign is on the unit amount
    unit_amount: Decimal
    amount: Decimal  # = quantity x unit_amount, signed as stored
    tax: Decimal  # this line's part of the document's tax, signed as stored


def _priced(line: InvoiceLine) -> tuple[int, Decimal]:
    """(quantity >= 0, signed unit amount) whose product is the line's amount."""
    amount = Decimal(line.amount)
    quantity, unit = abs(line.quantity), abs(Decimal(line.unit_price))
    if quantity and quantity * unit == abs(amount):
        return quantity, unit if amount >= 0 else -unit
    return 1, amount


def _lines(invoice: Invoice) -> list[_Line]:
    """The document's lines with the tax spread over them: each line's tax is the change its
    amount makes to the rounded tax of the running net, so the parts add up to the document's
    tax exactly and each is within a cent of its own share."""
    rate = Decimal(invoice.tax_rate) / 100
    out, running, taxed = [], ZERO, ZERO
    for line in invoice.lines:
        quantity, unit = _priced(line)
        running += Decimal(line.amount)
        tax = cents(running * rate) - taxed
        taxed += tax
        out.append(_Line(quantity, unit, Decimal(line.amount), tax))
    return out


def _credited(invoices: Sequence[Invoice]) -> dict[int, tuple[str, dt.date]]:
    """The number and date of each invoice a credit note in `invoices` voids, by its id; the
    ids go in chunks, as a database takes only so many bound values in one statement."""
    wanted = {(i.company_id, i.credits_invoice_id) for i in invoices if i.credits_invoice_id}
    companies = {company for company, _ in wanted}
    found = {}
    for ids in chunked(sorted({invoice_id for _, invoice_id in wanted})):
        rows = db.session.execute(
            select(Invoice.id, Invoice.company_id, Invoice.number, Invoice.issue_date).where(
                Invoice.company_id.in_(companies), Invoice.id.in_(ids)
            )
        )
        found |= {r.id: (r.number, r.issue_date) for r in rows if (r.company_id, r.id) in wanted}
    return found


def _batches(invoices: Iterable[Invoice]) -> Iterator[list[Invoice]]:
    """`invoices` BATCH at a time: a download's documents arrive as a stream, and each batch
    looks up the invoices its credit notes void in one go."""
    invoices = iter(invoices)
    while batch := list(islice(invoices, BATCH)):
        yield batch


def _address_lines(address: str | None) -> list[str]:
    return [part.strip() for part in (address or "").splitlines() if part.strip()]


def _csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """The house's CSV cells (webapp.exports.cell: one line, no formula, numbers as numbers)
    after a UTF-8 byte order mark, as every download here."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


def _rate_text(rate: Decimal) -> str:
    return f"{Decimal(rate).normalize():f}%"


# --- Xero ----------------------------------------------------------------------------------

XERO_COLUMNS = [
    "*ContactName",
    "EmailAddress",
    "POAddressLine1",
    "POAddressLine2",
    "POAddressLine3",
    "POAddressLine4",
    "POCity",
    "PORegion",
    "POPostalCode",
    "POCountry",
    "*InvoiceNumber",
    "Reference",
    "*InvoiceDate",
    "*DueDate",
    "Total",
    "InventoryItemCode",
    "*Description",
    "*Quantity",
    "*UnitAmount",
    "Discount",
    "*AccountCode",
    "*TaxType",
    "TaxAmount",
    "TrackingName1",
    "TrackingOption1",
    "TrackingName2",
    "TrackingOption2",
    "Currency",
    "BrandingTheme",
]


def xero_tax_type(rate: Decimal) -> str:
    """The name of the Xero tax rate for `rate`: Xero's default rates' names ("Tax on Sales",
    "Tax Exempt"); an organisation with others passes its own `tax_type` to xero_csv."""
    return "Tax on Sales" if rate else "Tax Exempt"


def xero_rows(
    invoices: Iterable[Invoice],
    *,
    account_code: str = "200",
    tax_type: Callable[[Decimal], str] = xero_tax_type,
    date_format: str = "%d/%m/%Y",
) -> Iterator[list]:
    """The rows (under XERO_COLUMNS) of Xero's sales invoice import file, one per line of each
    invoice and credit note, as `invoices` arrive."""
    for batch in _batches(invoices):
        credited = _credited(batch)
        for invoice in batch:
            client = invoice.parties.get("client", {})
            address = _address_lines(client.get("address"))
            # Four address lines: anything past the fourth joins the fourth.
            address = address[:3] + [", ".join(address[3:])] if len(address) > 4 else address
            address += [""] * (4 - len(address))
            day = invoice.issue_date.strftime(date_format)
            due = (invoice.due_date or invoice.issue_date).strftime(date_format)
            reference = credited.get(invoice.credits_invoice_id, ("",))[0]
            for line, priced in zip(invoice.lines, _lines(invoice), strict=True):
                yield [
                    client.get("name", ""),
                    "",
                    *address,
                    "",
                    "",
                    "",
                    "",
                    invoice.number,
                    reference,
                    day,
                    due,
                    None,  # Total: Xero adds the lines up
                    "",
                    line.description,
                    priced.quantity,
                    priced.unit_amount,
                    None,
                    account_code,
                    tax_type(Decimal(invoice.tax_rate)),
                    priced.tax,
                    "",
                    "",
                    "",
                    "",
                    invoice.currency,
                    "",
                ]


def xero_csv(invoices: Iterable[Invoice], **options) -> str:
    """Xero's sales invoice import file as one text (xero_rows' options)."""
    return _csv(XERO_COLUMNS, xero_rows(invoices, **options))


# --- QuickBooks Online ---------------------------------------------------------------------

QUICKBOOKS_COLUMNS = [
    "*InvoiceNo",
    "*Customer",
    "*InvoiceDate",
    "*DueDate",
    "Terms",
    "Location",
    "Memo",
    "Item(Product/Service)",
    "ItemDescription",
    "ItemQuantity",
    "ItemRate",
    "*ItemAmount",
    "Taxable",
    "TaxRate",
    "Service Date",
]


def quickbooks_rows(
    invoices: Iterable[Invoice],
    *,
    item: str = "Services",
    date_format: str = "%m/%d/%Y",
) -> Iterator[list]:
    """The rows (under QUICKBOOKS_COLUMNS) of QuickBooks Online's invoice import file, one per
    line of each invoice, as `invoices` arrive; credit notes are left out (they have an import
    of their own there)."""
    for invoice in invoices:
        if invoice.is_credit_note:
            continue
        rate = Decimal(invoice.tax_rate)
        for line, priced in zip(invoice.lines, _lines(invoice), strict=True):
            yield [
                invoice.number,
                invoice.parties.get("client", {}).get("name", ""),
                invoice.issue_date.strftime(date_format),
                invoice.due_date.strftime(date_format),
                "",  # Terms: a name from the company's QuickBooks list; the due date says it
                "",
                invoice.note or "",
                item,
                line.description,
                priced.quantity,
                priced.unit_amount,
                priced.amount,
                "Y" if rate else "N",
                _rate_text(rate) if rate else "",
                line.period_start.strftime(date_format) if line.period_start else "",
            ]


def quickbooks_csv(invoices: Iterable[Invoice], **options) -> str:
    """QuickBooks Online's invoice import file as one text (quickbooks_rows' options)."""
    return _csv(QUICKBOOKS_COLUMNS, quickbooks_rows(invoices, **options))


# --- UBL 2.1 -------------------------------------------------------------------------------

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EN16931 = "urn:cen.eu:en16931:2017"
UNIT = "C62"  # UN/ECE recommendation 20: "one", a unit of count


# Characters XML 1.0 cannot hold (ElementTree would write them, and no parser would read the
# document back): text stored before one-line names were enforced may have some.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS_CAC}}}{name}")


def _cbc(parent: ET.Element, name: str, text, **attributes) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS_CBC}}}{name}", attributes)
    if isinstance(text, Decimal):
        text = format(text, "f")
    elif isinstance(text, dt.date):
        text = text.isoformat()
    element.text = _NOT_XML.sub(" ", str(text))
    return element


def _party(parent: ET.Element, role: str, party: Mapping) -> None:
    """AccountingSupplierParty or AccountingCustomerParty: name and postal address."""
    holder = _cac(_cac(parent, role), "Party")
    name = party.get("name") or ""
    _cbc(_cac(holder, "PartyName"), "Name", name)
    address = _cac(holder, "PostalAddress")
    lines = _address_lines(party.get("address"))
    if lines:
        _cbc(address, "StreetName", lines[0])
    if len(lines) > 1:
        _cbc(address, "AdditionalStreetName", lines[1])
    if len(lines) > 2:
        _cbc(_cac(address, "AddressLine"), "Line", ", ".join(lines[2:]))
    if party.get("country"):  # BT-40 / BT-55
        _cbc(_cac(address, "Country"), "IdentificationCode", party["country"])
    if party.get("vat_id"):  # BT-31 / BT-48
        scheme = _cac(holder, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", party["vat_id"])
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    _cbc(_cac(holder, "PartyLegalEntity"), "RegistrationName", name)


def _tax_category(parent: ET.Element, name: str, rate: Decimal) -> None:
    category = _cac(parent, name)
    _cbc(category, "ID", "S" if rate else "Z")
    _cbc(category, "Percent", rate)
    _cbc(_cac(category, "TaxScheme"), "ID", "VAT")


def ubl_xml(invoice: Invoice) -> bytes:
    """The invoice as a UBL 2.1 Invoice, or the credit note as a UBL 2.1 CreditNote."""
    credit = invoice.is_credit_note
    sign = -1 if credit else 1
    currency = {"currencyID": invoice.currency}
    rate = Decimal(invoice.tax_rate)
    money = {
        name: cents(Decimal(getattr(invoice, name)) * sign)
        for name in ("net_total", "tax_total", "total")
    }

    namespace = NS_CREDIT_NOTE if credit else NS_INVOICE
    root = ET.Element(f"{{{namespace}}}{'CreditNote' if credit else 'Invoice'}")
    _cbc(root, "CustomizationID", EN16931)
    _cbc(root, "ID", invoice.number)
    _cbc(root, "IssueDate", invoice.issue_date)
    if credit:
        _cbc(root, "CreditNoteTypeCode", "381")
    else:
        _cbc(root, "DueDate", invoice.due_date)
        _cbc(root, "InvoiceTypeCode", "380")
    if invoice.note:
        _cbc(root, "Note", invoice.note)
    _cbc(root, "DocumentCurrencyCode", invoice.currency)
    voided = _credited([invoice]).get(invoice.credits_invoice_id)
    if voided:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", voided[0])
        _cbc(reference, "IssueDate", voided[1])
    _party(root, "AccountingSupplierParty", invoice.parties.get("company", {}))
    _party(root, "AccountingCustomerParty", invoice.parties.get("client", {}))
    if invoice.due_date:
        terms = _cac(root, "PaymentTerms")
        _cbc(terms, "Note", f"Payment due by {invoice.due_date.isoformat()}")

    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", money["tax_total"], **currency)
    subtotal = _cac(tax_total, "TaxSubtotal")
    _cbc(subtotal, "TaxableAmount", money["net_total"], **currency)
    _cbc(subtotal, "TaxAmount", money["tax_total"], **currency)
    _tax_category(subtotal, "TaxCategory", rate)

    totals = _cac(root, "LegalMonetaryTotal")
    _cbc(totals, "LineExtensionAmount", money["net_total"], **currency)
    _cbc(totals, "TaxExclusiveAmount", money["net_total"], **currency)
    _cbc(totals, "TaxInclusiveAmount", money["total"], **currency)
    _cbc(totals, "PayableAmount", money["total"], **currency)

    for number, (line, priced) in enumerate(zip(invoice.lines, _lines(invoice), strict=True), 1):
        amount = priced.amount * sign
        row = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(row, "ID", number)
        # The price stays positive (BR-27): a line against its document's sign carries the
        # sign on its quantity.
        quantity = priced.quantity if amount >= 0 else -priced.quantity
        _cbc(row, "CreditedQuantity" if credit else "InvoicedQuantity", quantity, unitCode=UNIT)
        _cbc(row, "LineExtensionAmount", amount, **currency)
        if line.period_start and line.period_end:
            period = _cac(row, "InvoicePeriod")
            _cbc(period, "StartDate", line.period_start)
            _cbc(period, "EndDate", line.period_end - DAY)  # period_end is exclusive
        item = _cac(row, "Item")
        _cbc(item, "Name", line.description)
        _tax_category(item, "ClassifiedTaxCategory", rate)
        _cbc(_cac(row, "Price"), "PriceAmount", abs(priced.unit_amount), **currency)

    # The document's namespace as the default one, as UBL instances are written. ElementTree
    # takes prefixes from its (process-wide) registry only: tostring's default_namespace
    # refuses UBL's unqualified attributes (currencyID). Were another thread to register
    # the other document's namespace meanwhile, this one would get a generated prefix:
    # another spelling of the same XML.
    ET.register_namespace("cac", NS_CAC)
    ET.register_namespace("cbc", NS_CBC)
    ET.register_namespace("", namespace)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
