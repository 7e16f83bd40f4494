"""One-line text (webapp.text): names with a line break or a control character are refused
where they enter, in every form, with a message in place and nothing written; text of several
lines keeps its line breaks."""

import pytest

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client
from webapp.lifecycle.statuses import UserRole
from webapp.text import ONE_LINE_MESSAGE, is_lines, is_one_line, one_line

R = UserRole

# What the audit sent, and the other characters that end a line or control a terminal.
BREAKS = [
    "svc\r\nBcc: x@y",
    "svc\nx",
    "svc\rx",
    "svc\u2028x",  # line separator
    "svc\u2029x",  # paragraph separator
    "svc\x85x",  # NEL, a C1 control
    "svc\x1b[31mx",  # ESC
    "svc\x0bx",  # vertical tab
    "svc\tx",
    "svc\x7f",
]


@pytest.mark.parametrize("text", BREAKS)
def test_a_line_break_or_control_character_is_not_one_line(text):
    assert not is_one_line(text)
    assert is_one_line(one_line(text))


def test_text_of_several_lines_keeps_breaks_and_tabs_but_no_other_control():
    assert is_lines("1 Main St\r\nSpringfield\tUSA\u2028")
    assert not is_lines("1 Main St\x1b[2J")
    assert not is_lines("a\x85b")


def test_folding_puts_one_space_for_each_run_of_breaks():
    assert one_line("svc\r\nBcc: x@y") == "svc Bcc: x@y"
    assert one_line("a \u2028\u2029 b\x00") == "a b "
    assert one_line("Café – 10 % off, 株式会社 😀") == "Café – 10 % off, 株式会社 😀"


def provision(client_id, name):
    return {
        "client_id": str(client_id),
        "name": name,
        "service_type": "backup",
        "price": "120.00",
        "currency": "USD",
        "billing_cycle": "monthly",
        "term_months": "12",
        "service_level": "standard",
    }


@pytest.mark.parametrize("name", BREAKS)
def test_a_service_name_with_a_line_break_is_refused_in_place(as_role, company, name):
    client_id = make_client(company)
    manager = as_role(R.ACCOUNT_MANAGER)
    before = snapshot()
    response = manager.post("/services/new", data=provision(client_id, name), htmx=False)
    assert response.status_code == 422
    assert f'id="name-error">{ONE_LINE_MESSAGE}</p>' in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()


@pytest.mark.parametrize(
    ("role", "url", "data", "field"),
    [
        (R.ACCOUNT_MANAGER, "/clients/new", {"name": "Acme\r\nBcc: x@y"}, "name"),
        (
            R.ACCOUNT_MANAGER,
            "/clients/new",
            {"name": "Acme", "external_id": "A\u2028"},
            "external_id",
        ),
        (
            R.ACCOUNT_MANAGER,
            "/clients/{client}/contacts",
            {"contact-new-name": "Pat\u2029", "contact-new-email": "pat@acme.example"},
            "contact-new-name",
        ),
        (
            R.ADMIN,
            "/settings/people/invite",
            {"name": "Sam\x85Bcc", "email": "sam@msp.example", "role": "viewer"},
            "name",
        ),
    ],
)
def test_client_contact_and_person_names_are_refused_too(as_role, company, role, url, data, field):
    client_id = make_client(company, name="Existing")
    session = as_role(role)
    before = snapshot()
    response = session.post(url.format(client=client_id), data)
    assert response.status_code == 422
    assert f'id="{field}-error">{ONE_LINE_MESSAGE}' in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()


def test_an_address_keeps_its_lines_and_notes_refuse_other_controls(as_role, company):
    manager = as_role(R.ACCOUNT_MANAGER)
    before = snapshot()
    refused = manager.post("/clients/new", {"name": "Acme", "notes": "hi\x1b[2J"}, htmx=False)
    assert refused.status_code == 422
    assert 'id="notes-error">This cannot contain control characters' in refused.get_data(
        as_text=True
    )
    assert changed_tables(before, snapshot()) == set()
    saved = manager.post("/clients/new", {"name": "Acme", "address": "1 Main St\r\nSpringfield"})
    assert saved.status_code == 200 and saved.headers["HX-Redirect"].startswith("/clients/")
