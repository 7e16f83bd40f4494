"""What each kind of import reads: its columns, the names other tools give them, and its template.

A file's header is matched to the columns by name, whatever the case, spaces or punctuation
("Business Name", "business_name" and "BUSINESS-NAME" are one name), so an export from another
tool can be imported as it is. The aliases are the names those tools write:

- ITFlow's client export (and its import template): Client Name, Location Address, City,
  State, Postal Code, Country, Primary Contact Name, Contact Phone, Contact Mobile, Contact
  Email, Payment Terms; its contact export and template: Name / Full Name, Email / Email
  Address, Phone / Office Phone, Mobile / Mobile Phone; its recurring invoice export:
  Recurring Number, Scope, Amount, Frequency (Monthly, Yearly), Date Created, Client.
- Syncro's customer CSV: id, business_name, firstname, lastname, address, address_2, city,
  state, zip, notes; its contact CSV: customer_id, contact_id, name, email, phone, mobile,
  notification_billing. Its import screens label them "Business Name", "First Name",
  "Last Name", "Email", "Phone".

Columns a tool exports that mean something else here are not aliased: ITFlow's "Tax ID" is a
registration number, not a rate, and Syncro's tax_rate_id is an id of its own.
"""

import csv
import io
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    field: str  # the key a row's value is read into
    header: str  # its name in our template
    example: str  # the template's example value
    hint: str  # what the page says about it
    aliases: tuple[str, ...] = ()  # other tools' names for it
    in_template: bool = True  # False: recognised in a file, not offered in the template
    lines: bool = False  # may hold line breaks (notes, an address); else one line (webapp.text)


@dataclass(frozen=True)
class Kind:
    name: str  # clients, contacts, services, assets
    label: str
    columns: tuple[Column, ...]
    # Each group names columns of which at least one must be in the file.
    required: tuple[tuple[str, ...], ...]
    matching: str  # how a row finds the record it updates, for the page

    def column(self, field: str) -> Column:
        return next(c for c in self.columns if c.field == field)


def normalise(header: str) -> str:
    """A header's name for matching: letters and digits only, case-folded."""
    return re.sub(r"[\W_]+", "", header.casefold())


_NAME_PARTS = (
    Column(
        "first_name",
        "First Name",
        "",
        "With Last Name, the name when there is no Name column (or it is empty).",
        ("firstname", "first", "given name"),
        in_template=False,
    ),
    Column(
        "last_name",
        "Last Name",
        "",
        "See First Name.",
        ("lastname", "last", "surname", "family name"),
        in_template=False,
    ),
)

_ADDRESS_PARTS = tuple(
    Column(field, header, "", "Added to the address, after a comma.", aliases, in_template=False)
    for field, header, aliases in (
        ("address_2", "Address 2", ("address line 2", "address2")),
        ("city", "City", ("town",)),
        ("state", "State", ("county", "province", "region")),
        ("postal_code", "Postal Code", ("zip", "zip code", "postcode")),
        ("country", "Country", ()),  # a name as typed; Country Code is the client's
    )
)

CLIENTS = Kind(
    "clients",
    "Clients",
    (
        Column(
            "name",
            "Name",
            "Acme Dental",
            "Required. A client with this name is updated, unless the file has external ids.",
            (
                "client name",
                "client",
                "business name",
                "company",
                "company name",
                "customer",
                "customer name",
                "organization",
                "organisation",
            ),
        ),
        *_NAME_PARTS,
        Column(
            "external_id",
            "External ID",
            "ACME-001",
            "Its id in the tool it comes from: rows match clients by it when present.",
            ("id", "client id", "customer id", "account number"),
        ),
        Column(
            "address",
            "Address",
            "1 High Street, Springfield",
            "One line; City, State, Postal Code and Country columns are added to it.",
            ("location address", "address 1", "address line 1", "street"),
            lines=True,  # the client's page keeps an address of several lines
        ),
        *_ADDRESS_PARTS,
        Column(
            "payment_terms_days",
            "Payment Terms (days)",
            "30",
            "Days from invoice to due date, 0 to 365; empty: the company's default.",
            ("payment terms", "net terms", "terms"),
        ),
        Column(
            "tax_rate",
            "Tax Rate (%)",
            "20",
            "A percentage from 0 to 100; empty: the company's rate.",
            ("tax rate", "vat rate", "tax percent"),
        ),
        Column(
            "country_code",  # read into the client's country
            "Country Code",
            "GB",
            "The client's country on invoices: an ISO 3166-1 code such as GB, DE or US.",
            ("iso country", "country iso", "country iso code"),
        ),
        Column(
            "vat_id",
            "VAT Number",
            "GB123456789",
            "On invoices, with its country prefix; letters, digits, spaces and . - / only.",
            ("vat id", "vat", "vat no", "vat registration number"),
        ),
        Column("notes", "Notes", "", "Free text.", ("note", "comments"), lines=True),
    ),
    (("name", "first_name", "last_name"),),
    "by External ID when the file has that column, else by name (ignoring case)",
)

_CLIENT_REFERENCE = (
    Column(
        "client",
        "Client",
        "Acme Dental",
        "The client's name (ignoring case), or leave it empty and give Client External ID.",
        (
            "client name",
            "business name",
            "company",
            "company name",
            "customer",
            "customer name",
            "organization",
            "organisation",
        ),
    ),
    Column(
        "client_external_id",
        "Client External ID",
        "ACME-001",
        "The client's external id; used before the name when both are given.",
        ("client id", "customer id", "organization id", "account number"),
    ),
)

CONTACTS = Kind(
    "contacts",
    "Contacts",
    (
        *_CLIENT_REFERENCE,
        Column(
            "name",
            "Name",
            "Jane Doe",
            "Required (or First Name and Last Name).",
            ("full name", "contact name", "primary contact name", "contact"),
        ),
        *_NAME_PARTS,
        Column(
            "email",
            "Email",
            "jane@acme.example",
            "Rows without an external id match the client's contact with this email, else "
            "the one with this name.",
            ("email address", "contact email", "e-mail", "mail"),
        ),
        Column(
            "phone",
            "Phone",
            "+1 555 0100",
            "Any text.",
            ("office phone", "contact phone", "phone number", "telephone", "work phone"),
        ),
        Column(
            "mobile",
            "Mobile",
            "",
            "Used as the phone when Phone is empty.",
            ("mobile phone", "contact mobile", "cell", "cell phone"),
            in_template=False,
        ),
        Column(
            "roles",
            "Roles",
            "primary;billing",
            "Any of primary (lifecycle notices), billing (invoices and price changes) and "
            "technical (incident notices), separated by ; or ,",
            ("role", "contact roles"),
        ),
        Column(
            "billing_flag",
            "Billing Contact",
            "",
            "yes/no: adds the billing role.",
            ("notification billing", "billing", "is billing"),
            in_template=False,
        ),
        Column(
            "external_id",
            "External ID",
            "C-1001",
            "Its id in the tool it comes from: rows match contacts by it when present.",
            # Not "id": Syncro's customer export (imported as contacts, one per customer) has
            # the customer's id there.
            ("contact id",),
        ),
    ),
    (("client", "client_external_id"), ("name", "first_name", "last_name")),
    "by External ID when present, else by email (or name) among the client's contacts",
)

SERVICES = Kind(
    "services",
    "Services",
    (
        *_CLIENT_REFERENCE,
        Column(
            "name",
            "Name",
            "Managed Backup",
            "Required. Without external ids, the client's service with this name is updated.",
            ("service", "service name", "scope", "product", "plan"),
        ),
        Column(
            "service_type",
            "Type",
            "backup",
            "Any word, such as backup, monitoring, m365, firewall; empty: other.",
            ("service type", "category", "kind"),
        ),
        Column(
            "status",
            "Status",
            "active",
            "pending, active or suspended: the status it has now; empty: active.",
            ("service status",),
        ),
        Column(
            "start_date",
            "Start Date",
            "2025-01-01",
            "Required, as YYYY-MM-DD. A term that has ended is rolled on by whole terms.",
            ("start", "started", "date created", "created", "start date utc"),
        ),
        Column(
            "term_months",
            "Term (months)",
            "12",
            "1 to 120; empty: 12.",
            ("term", "term months", "contract months", "contract length"),
        ),
        Column(
            "price",
            "Price",
            "12.50",
            "Required: per unit and billing cycle, such as 149.00.",
            ("unit price", "price per unit", "amount", "rate"),
        ),
        Column(
            "quantity",
            "Quantity",
            "10",
            "Units billed (seats, devices), a whole number; empty: 1.",
            ("qty", "seats", "units", "licenses", "licences"),
        ),
        Column(
            "currency",
            "Currency",
            "USD",
            "A three-letter code; empty: the company's currency.",
            ("currency code",),
        ),
        Column(
            "billing_cycle",
            "Billing Cycle",
            "monthly",
            "weekly, monthly, quarterly, semi-annual, annual (yearly) or one-time; empty: monthly.",
            ("cycle", "frequency", "billing frequency", "billing period", "interval"),
        ),
        Column(
            "next_bill_date",
            "Next Bill Date",
            "",  # any date would be out of range one day: the example takes the default
            "YYYY-MM-DD, for active and suspended services: billing carries on from it. At most "
            "one billing cycle before or after today (a year for annual). Empty: the next "
            "anniversary of the start date after today.",
            ("next billing date", "next date", "next invoice date", "next run"),
        ),
        Column(
            "service_level",
            "Service Level",
            "standard",
            "basic, standard, premium or enterprise; empty: standard.",
            ("level", "sla", "sla level"),
        ),
        Column(
            "auto_renew",
            "Auto Renew",
            "yes",
            "yes or no; empty: no.",
            ("autorenew", "auto renewal", "renews automatically"),
        ),
        Column(
            "account_manager_email",
            "Account Manager Email",
            "",
            "The email of an active account manager or admin here; empty: nobody.",
            ("account manager", "manager email", "owner email", "owner"),
        ),
        Column(
            "external_id",
            "External ID",
            "SVC-0001",
            "Its id in the tool it comes from: rows match services by it when present.",
            ("service id", "recurring number", "subscription id", "contract id", "id"),
        ),
    ),
    (("client", "client_external_id"), ("name",), ("start_date",), ("price",)),
    "by External ID when present, else by name among the client's services",
)

_SERVICE_OF_CLIENT = "by External ID, else by name (ignoring case), among its client's services"

ASSETS = Kind(
    "assets",
    "Assets",
    (
        *_CLIENT_REFERENCE,
        Column(
            "name",
            "Name",
            "ACME-DC01",
            "Required: the device's name.",
            ("asset name", "device", "device name", "asset", "system name", "display name"),
        ),
        Column(
            "asset_type",
            "Type",
            "server",
            "server, workstation, network device, cloud tenant, mailbox or other; empty: other.",
            ("asset type", "device type", "kind", "category", "class", "node class"),
        ),
        Column("site", "Site", "Head office", "Any text.", ("location", "site name", "office")),
        Column(
            "operating_system",
            "Operating System",
            "Windows Server 2022",
            "Any text.",
            ("os", "os name", "operating system name", "platform"),
        ),
        Column(
            "status",
            "Status",
            "active",
            "active or retired; empty: active for a new asset, as it is for one that exists. "
            "Retiring changes the seats of services that follow their devices.",
            ("asset status", "device status", "state"),
        ),
        Column(
            "hostname",
            "Hostname",
            "acme-dc01",
            "What monitoring calls it (a hostname or host label). Identifiers are unique in the "
            "company, kept lower case, and added to an asset's own, never removed.",
            ("host name", "host", "dns name", "fqdn", "computer name"),
        ),
        Column(
            "instance",
            "Instance",
            "acme-dc01.acme.local:9182",
            "Prometheus's instance label; its port is dropped.",
            ("prometheus instance", "monitoring instance", "target"),
        ),
        Column(
            "serial",
            "Serial",
            "CZ2345ABC",
            "The serial number or service tag.",
            ("serial number", "serial no", "service tag", "serialnumber"),
        ),
        Column(
            "rmm_id",
            "RMM ID",
            "ninja-10234",
            "The RMM's id of the device (the key PUT /api/v1/assets syncs by).",
            ("rmm", "device id", "agent id", "rmm device id", "asset id"),
        ),
        Column(
            "covered_service",
            "Covered Service",
            "Managed Servers",
            f"A service that covers it from now on, found {_SERVICE_OF_CLIENT}; empty: none "
            "added (an import never uncovers).",
            ("service", "covered by", "service name", "contract"),
        ),
        Column(
            "receiving_service",
            "Receiving Service",
            "",
            "The service that receives its incidents: Covered Service or one that covers it "
            "already; empty: as it is (a new asset's is its Covered Service).",
            ("incidents to", "alerts to", "alert service", "incident service"),
        ),
    ),
    (("client", "client_external_id"), ("name",)),
    "by any identifier (RMM ID, Serial, Hostname, Instance), else by name among the client's "
    "assets",
)

KINDS: dict[str, Kind] = {k.name: k for k in (CLIENTS, CONTACTS, SERVICES, ASSETS)}


@dataclass(frozen=True)
class HeaderMap:
    """Where each column is in a file: {field: index}, and the file's own name for it."""

    index: dict[str, int]
    names: dict[str, str]
    unused: list[str]  # headers that are no column of the kind
    missing: list[str]  # file-level errors: required columns not found

    def has(self, field: str) -> bool:
        return field in self.index


def map_header(kind: Kind, header: list[str]) -> HeaderMap:
    """Match a file's header row to the kind's columns. When two headers mean one column
    ("Phone" and "Office Phone"), the one named first among the column's names wins."""
    at = {}
    for position, name in enumerate(header):
        at.setdefault(normalise(name), position)
    index, names = {}, {}
    for column in kind.columns:
        for candidate in (column.header, column.field, *column.aliases):
            position = at.get(normalise(candidate))
            if position is not None and position not in index.values():
                index[column.field] = position
                names[column.field] = header[position].strip()
                break
    used = set(index.values())
    unused = [name.strip() for i, name in enumerate(header) if i not in used and name.strip()]
    missing = [
        _missing_message(kind, group)
        for group in kind.required
        if not any(field in index for field in group)
    ]
    return HeaderMap(index, names, unused, missing)


def _missing_message(kind: Kind, group: tuple[str, ...]) -> str:
    first = kind.column(group[0])
    also = [kind.column(f).header for f in group[1:]]
    names = ", ".join(f'"{a}"' for a in first.aliases[:4])
    either = f" (or {' or '.join(also)})" if also else ""
    return (
        f'The file has no "{first.header}" column{either}. '
        + (f"It may also be called {names}." if names else "")
    ).strip()


def template_csv(kind: Kind) -> str:
    """The kind's template: its header and one example row, made from the columns above."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    shown = [c for c in kind.columns if c.in_template]
    writer.writerow([c.header for c in shown])
    writer.writerow([c.example for c in shown])
    return out.getvalue()
