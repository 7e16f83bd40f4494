"""Columns found by name whatever the case, spaces or punctuation; ITFlow's and Syncro's exports
read as they are; the templates made from the column list, and importable in order."""

import pytest

from tests.imports.files import csv_bytes, template
from webapp.clients.models import Client, Contact
from webapp.extensions import db
from webapp.imports.columns import CLIENTS, CONTACTS, KINDS, SERVICES, map_header, normalise
from webapp.imports.committing import commit_import
from webapp.imports.planning import Outcome, plan_import
from webapp.services.models import ClientService


def test_header_names_match_ignoring_case_spaces_and_punctuation():
    header = [" client NAME ", "SERVICE_NAME", "start-date", "Unit Price", "QTY", "Mystery"]
    found = map_header(SERVICES, header)
    assert found.index == {
        "client": 0,
        "name": 1,
        "start_date": 2,
        "price": 3,
        "quantity": 4,
    }
    assert found.names["client"] == "client NAME"
    assert found.unused == ["Mystery"]
    assert found.missing == []
    assert normalise("Payment Terms (days)") == normalise("payment_terms_days")


def test_the_first_of_two_columns_meaning_one_field_wins():
    found = map_header(CONTACTS, ["Office Phone", "Phone", "Client", "Name"])
    assert found.index["phone"] == 1  # "Phone" is the column's own name
    assert found.unused == ["Office Phone"]


def test_no_alias_means_two_columns_of_one_kind():
    for kind in KINDS.values():
        names = [
            n for c in kind.columns for n in {normalise(x) for x in (c.header, c.field, *c.aliases)}
        ]
        assert len(names) == len(set(names)), kind.name


# ITFlow's client export (functions/export.php, 'clients'), as its CSV header writes it.
ITFLOW_CLIENTS = [
    "Client Name", "Industry", "Referral", "Website", "Primary Location Name", "Location Phone",
    "Location Address", "City", "State", "Postal Code", "Country", "Primary Contact Name",
    "Title", "Contact Phone", "Extension", "Contact Mobile", "Contact Email", "Hourly Rate",
    "Currency", "Payment Terms", "Tax ID", "Abbreviation",
]  # fmt: skip
ITFLOW_ROW = [
    "Acme Dental", "Healthcare", "", "acme.example", "HQ", "5550100", "1 High Street",
    "Springfield", "IL", "62701", "USA", "Jane Doe", "Office Manager", "5550101", "", "",
    "jane@acme.example", "95.00", "USD", "30", "US-12-345", "ACME",
]  # fmt: skip


def test_an_itflow_client_export_imports_clients_and_then_their_primary_contacts(company, clock):
    raw = csv_bytes(ITFLOW_CLIENTS, [ITFLOW_ROW])
    clients = plan_import(company, "clients", raw, "Clients.csv")
    assert clients.ok
    assert "Tax ID" in clients.unused_columns  # a registration number, not a rate
    commit_import(company, "clients", raw, "Clients.csv", "test")
    acme = db.session.scalars(select_client("Acme Dental")).one()
    assert acme.address == "1 High Street, Springfield, IL, 62701, USA"
    assert (acme.payment_terms_days, acme.tax_rate) == (30, None)

    contacts = plan_import(company, "contacts", raw, "Clients.csv")
    assert [(r.outcome, r.label) for r in contacts.rows] == [
        (Outcome.CREATE, "Jane Doe (Acme Dental)")
    ]
    commit_import(company, "contacts", raw, "Clients.csv", "test")
    jane = db.session.scalars(db.select(Contact).filter_by(client_id=acme.id)).one()
    assert (jane.email, jane.phone) == ("jane@acme.example", "5550101")


def select_client(name):
    return db.select(Client).filter_by(name=name)


def test_syncro_customer_and_contact_csvs_import_as_they_are(company, clock):
    customers = csv_bytes(
        [
            "id",
            "firstname",
            "lastname",
            "email",
            "address",
            "address_2",
            "city",
            "state",
            "zip",
            "phone",
            "business_name",
            "notes",
            "tax_rate_id",
        ],  # fmt: skip
        [
            [
                "1001",
                "Ann",
                "Owner",
                "info@bravo.example",
                "2 Low Road",
                "Suite 4",
                "Leeds",
                "",
                "LS1",
                "0113",
                "Bravo Legal",
                "VIP",
                "77",
            ],  # fmt: skip
            ["1002", "Sam", "Solo", "sam@home.example", "", "", "", "", "", "", "", "", ""],
        ],
    )
    commit_import(company, "clients", customers, "customers.csv", "test")
    bravo = db.session.scalars(select_client("Bravo Legal")).one()
    assert (bravo.external_id, bravo.address, bravo.notes) == (
        "1001",
        "2 Low Road, Suite 4, Leeds, LS1",
        "VIP",
    )
    # A customer without a business is named after the person.
    assert db.session.scalars(select_client("Sam Solo")).one().external_id == "1002"

    end_users = csv_bytes(
        [
            "customer_id",
            "contact_id",
            "name",
            "title",
            "email",
            "phone",
            "mobile",
            "notification_billing",
        ],  # fmt: skip
        [["1001", "55", "Carol Clerk", "Clerk", "carol@bravo.example", "", "07700", "true"]],
    )
    plan = plan_import(company, "contacts", end_users, "contacts.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE]
    commit_import(company, "contacts", end_users, "contacts.csv", "test")
    carol = db.session.scalars(db.select(Contact).filter_by(external_id="55")).one()
    assert (carol.client_id, carol.phone, carol.roles) == (bravo.id, "07700", ["billing"])


def test_an_itflow_recurring_invoice_export_reads_as_services(company, clock):
    commit_import(company, "clients", csv_bytes(["Name"], [["Acme Dental"]]), "c.csv", "test")
    raw = csv_bytes(
        ["Recurring Number", "Scope", "Amount", "Frequency", "Date Created", "Client"],
        [["RINV-7", "Managed IT", "450.00", "Yearly", "2026-05-04 10:22:33", "Acme Dental"]],
    )
    (row,) = plan_import(company, "services", raw, "Recurring.csv").rows
    assert row.outcome == Outcome.CREATE, row.reason
    assert row.values["billing_cycle"] == "annual"
    assert row.values["start_date"].isoformat() == "2026-05-04"
    assert row.values["external_id"] == "RINV-7"


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_template_is_its_header_and_one_example_row_from_the_column_list(kind):
    lines = template(kind).decode().splitlines()
    shown = [c for c in KINDS[kind].columns if c.in_template]
    assert lines[0].split(",") == [c.header for c in shown]
    assert len(lines) == 2


def test_the_three_templates_import_cleanly_in_order(company, clock):
    for kind in ("clients", "contacts", "services"):
        plan = plan_import(company, kind, template(kind), f"{kind}.csv")
        assert [r.outcome for r in plan.rows] == [Outcome.CREATE], (kind, plan.rows[0].reason)
        commit_import(company, kind, template(kind), f"{kind}.csv", "test")
    service = db.session.scalars(db.select(ClientService)).one()
    assert (service.name, service.quantity, service.external_id) == (
        "Managed Backup",
        10,
        "SVC-0001",
    )
    assert CLIENTS.column("name").example == service.client.name
