"""Each kind of row error, shown with its row, its column (as the file names it) and why; and the
errors that are the whole file's."""

import datetime as dt

import pytest

from tests.imports.files import SERVICE_HEADER, csv_bytes, service_row, services_csv
from tests.support.factories import make_client, make_user
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.imports import committing
from webapp.imports.planning import Outcome, plan_import
from webapp.lifecycle.statuses import UserRole
from webapp.services.models import ClientService

# (what the row has, the column, words of the reason)
SERVICE_ERRORS = [
    ({"Price": "abc"}, "Price", "'abc' is not an amount"),
    ({"Price": "12.505"}, "Price", "more than two decimals"),
    ({"Price": ""}, "Price", "is required"),
    ({"Quantity": "2.5"}, "Quantity", "'2.5' is not a whole number"),
    ({"Quantity": "0"}, "Quantity", "0 is not from 1 to"),
    ({"Status": "cancelled"}, "Status", "only running services are imported"),
    ({"Status": "paused"}, "Status", "'paused' is not a status: use pending, active or suspended"),
    ({"Billing Cycle": "fortnightly"}, "Billing Cycle", "'fortnightly' is not a billing cycle"),
    ({"Currency": "XYZ"}, "Currency", "'XYZ' is not a currency here"),
    ({"Start Date": "15/01/2026"}, "Start Date", "write it as YYYY-MM-DD"),
    ({"Start Date": "2026-02-30"}, "Start Date", "is not a date"),
    ({"Start Date": ""}, "Start Date", "is required, as YYYY-MM-DD"),
    ({"Start Date": "2027-04-01"}, "Start Date", "is after today: an active service has started"),
    ({"Next Bill Date": "01.04.2027"}, "Next Bill Date", "write it as YYYY-MM-DD"),
    ({"Next Bill Date": "2025-12-31"}, "Next Bill Date", "is before the start date"),
    ({"Next Bill Date": "2026-02-01"}, "Next Bill Date", "is more than a month before today"),
    ({"Next Bill Date": "2031-04-01"}, "Next Bill Date", "is more than a month after today"),
    (
        {"Status": "pending", "Next Bill Date": "2027-04-01"},
        "Next Bill Date",
        "a pending service is billed from its activation",
    ),
    ({"Term (months)": "0"}, "Term (months)", "0 is not from 1 to 120"),
    ({"Service Level": "gold"}, "Service Level", "'gold' is not a service level"),
    ({"Auto Renew": "maybe"}, "Auto Renew", "'maybe' is not yes or no"),
    ({"Name": ""}, "Name", "is required"),
    ({"Name": "x" * 201}, "Name", "at most 200"),
    ({"Client": "Nobody Ltd"}, "Client", "no client is named 'Nobody Ltd' (import clients first)"),
    ({"Account Manager Email": "ghost@msp.example"}, "Account Manager Email", "nobody here"),
    ({"Account Manager Email": "tech@msp.example"}, "Account Manager Email", "is a technician"),
    ({"Quantity": "1000", "Price": "99999999.99"}, "Quantity", "is more than"),
]


@pytest.mark.parametrize(("cells", "column", "words"), SERVICE_ERRORS)
def test_each_service_row_error_names_its_row_column_and_reason(
    company, acme, cells, column, words
):
    make_user(company, "tech@msp.example", UserRole.TECHNICIAN)
    raw = services_csv(service_row(name="Fine"), service_row(**cells))
    plan = plan_import(company, "services", raw, "services.csv")
    good, bad = plan.rows
    assert good.outcome == Outcome.CREATE
    assert bad.outcome == Outcome.ERROR
    assert bad.number == 3  # the header is row 1, as a spreadsheet numbers it
    assert [e.column for e in bad.errors] == [column]
    assert words in bad.errors[0].message
    assert bad.messages() == [f"row 3, {column}: {bad.errors[0].message}"]
    assert not plan.ok


@pytest.mark.parametrize(
    ("cycle", "earliest", "latest"),
    [
        ("weekly", "2027-03-03", "2027-03-17"),
        ("monthly", "2027-02-10", "2027-04-10"),
        ("quarterly", "2026-12-10", "2027-06-10"),
        ("semi-annual", "2026-09-10", "2027-09-10"),
        ("annual", "2026-03-10", "2028-03-10"),
    ],
)
def test_a_next_bill_date_is_at_most_one_cycle_from_today(company, acme, cycle, earliest, latest):
    """Today is 2027-03-10: a date one cycle either side of it is taken, a day more is not."""
    day = dt.timedelta(days=1)
    dates = [
        earliest,
        latest,
        str(dt.date.fromisoformat(earliest) - day),
        str(dt.date.fromisoformat(latest) + day),
    ]
    raw = services_csv(
        *[
            service_row(name=f"Service {n}", **{"Billing Cycle": cycle, "Next Bill Date": d})
            for n, d in enumerate(dates)
        ]
    )
    first, last, too_early, too_late = plan_import(company, "services", raw, "s.csv").rows
    assert (first.outcome, last.outcome) == (Outcome.CREATE, Outcome.CREATE)
    assert first.values["next_bill_date"] == dt.date.fromisoformat(earliest)
    for row, side in ((too_early, "before"), (too_late, "after")):
        assert row.outcome == Outcome.ERROR
        assert [e.column for e in row.errors] == ["Next Bill Date"]
        assert f" {side} today: for a" in row.errors[0].message
        assert f"give a date from {earliest} to {latest}" in row.errors[0].message


def test_a_next_bill_date_years_away_says_what_is_allowed(company, acme):
    raw = services_csv(
        service_row(**{"Billing Cycle": "annual", "Next Bill Date": "2030-01-15"}),
    )
    (row,) = plan_import(company, "services", raw, "s.csv").rows
    assert row.messages() == [
        "row 2, Next Bill Date: 2030-01-15 is more than a year after today: for an annual "
        "service give a date from 2026-03-10 to 2028-03-10 (one cycle either side of today), "
        "or leave it empty to bill on the next anniversary of the start date."
    ]
    with pytest.raises(committing.ImportRefused):
        committing.commit_import(company, "services", raw, "s.csv", "test")


def test_a_service_the_file_updates_keeps_its_next_bill_date_unchecked(company, acme, clock):
    """An import does not change a service's next bill date, so an old one in the file (the
    same file imported again a year on) is no reason to refuse the row."""
    first = services_csv(service_row(**{"Next Bill Date": "2027-04-01"}))
    committing.commit_import(company, "services", first, "s.csv", "test")
    clock.move_to(dt.datetime(2028, 3, 10, 9, tzinfo=dt.UTC))
    (row,) = plan_import(company, "services", first, "s.csv").rows
    assert row.outcome == Outcome.UNCHANGED, row.reason


def test_an_unknown_client_external_id_is_that_columns_error(company, acme):
    header = ["Client External ID", "Name", "Start Date", "Price"]
    raw = csv_bytes(
        header,
        [["ACME-001", "Backup", "2026-01-01", "10"], ["NOPE-9", "Backup", "2026-01-01", "10"]],
    )
    plan = plan_import(company, "services", raw, "s.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE, Outcome.ERROR]
    assert plan.rows[1].reason == (
        "Client External ID: no client has the external id 'NOPE-9' (import clients first)."
    )


def test_an_external_id_twice_in_the_file_is_an_error_on_the_later_row(company, acme):
    raw = services_csv(
        service_row(name="One", **{"External ID": "S-1"}),
        service_row(name="Two", **{"External ID": "S-1"}),
    )
    first, second = plan_import(company, "services", raw, "s.csv").rows
    assert first.outcome == Outcome.CREATE
    assert (
        second.reason
        == "External ID: External id 'S-1' is also on row 2: each may be in the file once."
    )


def test_the_same_service_twice_without_external_ids_is_an_error(company, acme):
    raw = services_csv(service_row(), service_row(name="managed backup"))
    rows = plan_import(company, "services", raw, "s.csv").rows
    assert rows[1].outcome == Outcome.ERROR
    assert "is also on row 2" in rows[1].reason


def test_an_archived_client_is_refused_for_its_services_and_contacts(company, acme):
    db.session.get(Client, acme).archived_at = dt.datetime(2027, 1, 1)
    db.session.commit()
    service = plan_import(company, "services", services_csv(service_row()), "s.csv").rows[0]
    assert service.reason == "Client: 'Acme Dental' is archived: restore it on its page first."
    contact = plan_import(
        company, "contacts", csv_bytes(["Client", "Name"], [["Acme Dental", "Jo"]]), "c.csv"
    ).rows[0]
    assert contact.outcome == Outcome.ERROR
    assert "is archived" in contact.reason
    client = plan_import(company, "clients", csv_bytes(["Name"], [["acme dental"]]), "c.csv").rows[
        0
    ]
    assert client.reason == "Name: 'Acme Dental' is archived: restore it on its page first."


def test_a_status_change_on_an_existing_service_is_refused_with_the_way_to_do_it(company, acme):
    committing.commit_import(company, "services", services_csv(service_row()), "s.csv", "test")
    raw = services_csv(service_row(Status="suspended"))
    row = plan_import(company, "services", raw, "s.csv").rows[0]
    assert row.outcome == Outcome.ERROR
    assert row.reason == (
        "Status: it is active here, suspended in the file: status changes go through the "
        "service's actions (activate, suspend, resume, cancel)."
    )


def test_a_price_change_on_an_existing_service_is_refused_and_sent_to_its_page(company, acme):
    committing.commit_import(company, "services", services_csv(service_row()), "s.csv", "test")
    row = plan_import(company, "services", services_csv(service_row(Price="15.00")), "s.csv").rows[
        0
    ]
    assert row.outcome == Outcome.ERROR
    assert row.errors[0].column == "Price"
    assert "change the price on the service's page" in row.errors[0].message


def test_several_errors_in_one_row_are_all_shown(company, acme):
    row = plan_import(
        company, "services", services_csv(service_row(Price="x", Currency="ABC")), "s.csv"
    ).rows[0]
    assert [e.column for e in row.errors] == ["Price", "Currency"]


def test_a_missing_required_column_is_the_files_error_and_no_row_is_planned(company, acme):
    header = [h for h in SERVICE_HEADER if h != "Price"]
    raw = csv_bytes(header, [["Acme Dental", "Backup", *[""] * (len(header) - 2)]])
    plan = plan_import(company, "services", raw, "s.csv")
    assert plan.rows == []
    assert plan.file_errors == [
        'The file has no "Price" column. It may also be called "unit price", '
        '"price per unit", "amount", "rate".'
    ]
    assert not plan.ok


def test_a_contact_file_without_any_client_column_says_which_names_count(company, acme):
    plan = plan_import(
        company, "contacts", csv_bytes(["Name", "Email"], [["Jo", "jo@x.example"]]), "c.csv"
    )
    assert plan.file_errors[0].startswith(
        'The file has no "Client" column (or Client External ID).'
    )


CONTACT_ERRORS = [
    ({"Email": "not-an-email"}, "Email", "'not-an-email' is not an email address"),
    ({"Roles": "primary;boss"}, "Roles", "'boss' is not a role: use primary, billing or technical"),
    ({"Name": ""}, "Name", "is required"),
    ({"Client": "Nobody"}, "Client", "no client is named 'Nobody'"),
]


@pytest.mark.parametrize(("cells", "column", "words"), CONTACT_ERRORS)
def test_each_contact_row_error_names_its_column(company, acme, cells, column, words):
    header = ["Client", "Name", "Email", "Roles"]
    values = {
        "Client": "Acme Dental",
        "Name": "Jo Bloggs",
        "Email": "jo@acme.example",
        "Roles": "billing",
    } | cells
    row = plan_import(
        company, "contacts", csv_bytes(header, [[values[h] for h in header]]), "c.csv"
    ).rows[0]
    assert row.outcome == Outcome.ERROR
    assert [e.column for e in row.errors] == [column]
    assert words in row.errors[0].message


CLIENT_ERRORS = [
    ({"Payment Terms (days)": "thirty"}, "Payment Terms (days)", "'thirty' is not a whole number"),
    ({"Payment Terms (days)": "400"}, "Payment Terms (days)", "400 is not from 0 to 365"),
    ({"Tax Rate (%)": "120"}, "Tax Rate (%)", "is not a percentage from 0 to 100"),
    ({"Name": ""}, "Name", "is required"),
]


@pytest.mark.parametrize(("cells", "column", "words"), CLIENT_ERRORS)
def test_each_client_row_error_names_its_column(company, clock, cells, column, words):
    header = ["Name", "Payment Terms (days)", "Tax Rate (%)"]
    values = {"Name": "Bravo", "Payment Terms (days)": "30", "Tax Rate (%)": "20%"} | cells
    row = plan_import(
        company, "clients", csv_bytes(header, [[values[h] for h in header]]), "c.csv"
    ).rows[0]
    assert row.outcome == Outcome.ERROR
    assert [e.column for e in row.errors] == [column]
    assert words in row.errors[0].message


def test_a_new_client_named_like_one_with_another_external_id_is_refused(company, acme):
    raw = csv_bytes(["Name", "External ID"], [["Acme Dental", "OTHER-7"]])
    row = plan_import(company, "clients", raw, "c.csv").rows[0]
    assert row.reason == (
        "Name: a client named 'Acme Dental' is here already, with the external id 'ACME-001' "
        "(not 'OTHER-7')."
    )


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "The file is empty"),
        (b"Client,Name,Start Date,Price\r\n", "a header but no rows"),
        (b"\xff\xfeC\x00l\x00", "UTF-16"),
        (b"PK\x03\x04rest-of-a-zip", "workbook"),
        (
            b"Client,Name\r\n\x81\x8d\x8f\x90\x9d\r\n",
            "not UTF-8 text (byte 14 is not), nor Windows-1252",
        ),
        (
            b"Client,Name\r\n" + b"x" * 200_000 + b"\r\n",
            "Line 2 cannot be read as CSV: field larger",
        ),
    ],
)
def test_a_file_that_cannot_be_read_says_why_and_plans_no_row(company, acme, raw, words):
    plan = plan_import(company, "services", raw, "s.csv")
    assert not plan.ok
    assert plan.rows == []
    assert words in plan.file_errors[0]


def test_windows_1252_is_read_and_said_and_utf8_with_a_bom_is_plain(company, acme):
    cp1252 = services_csv(service_row(name="Sauvegarde gérée")).decode("utf-8-sig").encode("cp1252")
    plan = plan_import(company, "services", cp1252, "s.csv")
    assert plan.encoding == "Windows-1252"
    assert plan.rows[0].label == "Sauvegarde gérée · Acme Dental"
    bom = services_csv(service_row(name="Sauvegarde gérée"))
    assert bom.startswith(b"\xef\xbb\xbf")
    plan = plan_import(company, "services", bom, "s.csv")
    assert (plan.encoding, plan.rows[0].outcome) == ("UTF-8", Outcome.CREATE)


def test_a_semicolon_separated_file_from_a_european_spreadsheet_is_read(company, acme):
    raw = b"Client;Name;Start Date;Price\r\nAcme Dental;Backup;2026-01-01;10.00\r\n"
    plan = plan_import(company, "services", raw, "s.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE]


def test_a_nul_in_a_cell_is_that_columns_error(company, acme):
    row = plan_import(
        company, "services", services_csv(service_row(name="Back\x00up")), "s.csv"
    ).rows[0]
    assert row.errors[0].column == "Name"
    assert "NUL" in row.errors[0].message


@pytest.mark.parametrize("name", ["Backup\r\nBcc: x@y", "Back\u2028up", "Back\x85up", "Back\tup"])
def test_a_line_break_in_a_name_is_that_columns_error_and_nothing_is_imported(company, acme, name):
    raw = services_csv(service_row(name=name))
    row = plan_import(company, "services", raw, "s.csv").rows[0]
    assert [(e.column, e.message) for e in row.errors] == [
        ("Name", "holds a line break or control character: keep it on one line.")
    ]
    with pytest.raises(committing.ImportRefused):
        committing.commit_import(company, "services", raw, "s.csv", "test")
    assert not db.session.query(ClientService.id).count()


def test_a_clients_notes_and_address_keep_their_lines_but_no_other_control(company, clock):
    header = ["Name", "Address", "Notes"]
    fine = csv_bytes(header, [["Acme", "1 Main St\nSpringfield", "Closed\r\nFridays\tonly"]])
    assert plan_import(company, "clients", fine, "c.csv").ok
    bell = csv_bytes(header, [["Acme", "", "ring\x07"], ["Be\u2029ta", "", ""]])
    first, second = plan_import(company, "clients", bell, "c.csv").rows
    assert [str(e) for e in first.errors] == [
        "Notes: holds a control character (line breaks and tabs are fine)."
    ]
    assert [str(e) for e in second.errors] == [
        "Name: holds a line break or control character: keep it on one line."
    ]


def test_another_companys_clients_are_not_found(company, other_company, acme):
    make_client(other_company, "Their Client")
    row = plan_import(
        company, "services", services_csv(service_row(client="Their Client")), "s.csv"
    ).rows[0]
    assert row.reason == "Client: no client is named 'Their Client' (import clients first)."
