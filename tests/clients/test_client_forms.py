"""Creating and editing a client: errors beside their fields with nothing written, the events
that record what changed, and the roles that may."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

FULL = {
    "name": "Acme Dental",
    "external_id": "ITF-17",
    "address": "1 Main St\nSpringfield",
    "payment_terms_days": "30",
    "tax_rate": "20",
    "notes": "Closed Fridays",
}


def events(kind):
    db.session.rollback()
    return db.session.scalars(select(DomainEvent).filter_by(type=kind)).all()


def test_a_new_client_is_saved_with_its_event_and_shown(as_role, company):
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    assert "New client" in manager.get("/clients/new").get_data(as_text=True)
    response = manager.post("/clients/new", FULL)
    client = db.session.scalars(select(Client)).one()
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/clients/{client.id}"
    assert (client.external_id, client.payment_terms_days, client.tax_rate) == (
        "ITF-17",
        30,
        Decimal("20.00"),
    )
    (event,) = events("ClientCreated")
    assert event.service_id is None
    assert event.payload == {
        "service_id": None,
        "client_id": client.id,
        "client_name": "Acme Dental",
    }
    assert event.actor.startswith("user:")

    page = manager.get(f"/clients/{client.id}").get_data(as_text=True)
    assert "Acme Dental added." in page
    assert "ITF-17" in page and "30 days" in page and "20.00%" in page and "Closed Fridays" in page
    assert "client created" in page  # its recent activity

    plain = manager.post("/clients/new", {**FULL, "name": "Beta", "external_id": ""}, htmx=False)
    assert plain.status_code == 303


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter the client&#39;s name."),
        ({"name": "x" * 201}, "name", "Field cannot be longer than 200 characters."),
        ({"tax_rate": "abc"}, "tax_rate", "Enter a percentage such as 99.9"),
        ({"tax_rate": "150"}, "tax_rate", "Enter a rate from 0 to 100."),
        ({"tax_rate": "1.234"}, "tax_rate", "Use at most two decimal places."),
        ({"tax_rate": "NaN"}, "tax_rate", "Enter a percentage such as 99.9"),
        ({"payment_terms_days": "-1"}, "payment_terms_days", "From 0 to 365 days."),
        ({"payment_terms_days": "soon"}, "payment_terms_days", "Not a valid integer value."),
        ({"notes": "a\x00b"}, "notes", "Remove the NUL character"),
        ({"external_id": "e" * 101}, "external_id", "Field cannot be longer than 100"),
    ],
)
def test_bad_input_is_an_error_in_place_and_nothing_is_written(
    as_role, company, change, field, message
):
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    response = manager.post("/clients/new", {**FULL, **change}, htmx=False)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error">{message}' in html
    assert "nothing was saved" in html
    assert changed_tables(before, snapshot()) == set()


def test_a_second_client_of_the_same_name_or_external_id_is_refused_beside_the_field(
    as_role, company
):
    make_client(company, name="Acme Dental")
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    response = manager.post("/clients/new", {**FULL, "name": "ACME dental"}, target="client_form")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="name-error">There is a client named Acme Dental already.' in html
    assert html.lstrip().startswith('<form id="client_form"')  # the form alone, for htmx
    manager.post("/clients/new", {**FULL, "name": "Other"})
    before = snapshot()
    response = manager.post("/clients/new", {**FULL, "name": "Third"}, htmx=False)
    assert 'id="external_id-error">Another client has the external id ITF-17.' in response.get_data(
        as_text=True
    )
    assert changed_tables(before, snapshot()) == set()


def test_editing_records_only_the_fields_that_changed(as_role, company):
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    manager.post("/clients/new", FULL)
    client_id = db.session.scalar(select(Client.id))
    form = manager.get(f"/clients/{client_id}/edit").get_data(as_text=True)
    assert 'value="Acme Dental"' in form and 'value="ITF-17"' in form

    unchanged = manager.post(f"/clients/{client_id}/edit", {**FULL, "tax_rate": "20.00"})
    assert unchanged.status_code == 200
    assert events("ClientUpdated") == []
    assert "Nothing changed." in manager.get(f"/clients/{client_id}").get_data(as_text=True)

    change = {**FULL, "name": "Acme Dental Group", "tax_rate": "", "notes": "Open Fridays"}
    response = manager.post(f"/clients/{client_id}/edit", change, htmx=False)
    assert response.status_code == 303
    (event,) = events("ClientUpdated")
    assert event.payload["changes"] == {
        "name": ["Acme Dental", "Acme Dental Group"],
        "tax_rate": ["20.00", None],
        "notes": ["Closed Fridays", "Open Fridays"],
    }
    client = db.session.get(Client, client_id)
    assert (client.name, client.tax_rate) == ("Acme Dental Group", None)
    page = manager.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "client updated" in page and "name: Acme Dental → Acme Dental Group" in page
    assert "the company&#39;s rate" in page


def test_editing_with_bad_input_keeps_the_client_as_it_was(as_role, company):
    client_id = make_client(company, name="Acme")
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    make_client(company, name="Taken", email=None)
    before = snapshot()
    for data, field in (({"name": ""}, "name"), ({"name": "Taken"}, "name")):
        response = manager.post(f"/clients/{client_id}/edit", data, htmx=False)
        assert response.status_code == 422
        assert f'id="{field}-error">' in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()


@pytest.mark.parametrize("role", [UserRole.VIEWER, UserRole.TECHNICIAN])
def test_viewers_and_technicians_cannot_create_or_edit(as_role, company, role):
    client_id = make_client(company, name="Acme")
    session = as_role(role)
    before = snapshot()
    for url in ("/clients/new", f"/clients/{client_id}/edit"):
        assert session.get(url).status_code == 403
        refused = session.post(url, FULL)
        assert refused.status_code == 403
        assert "Your role cannot manage clients." in refused.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()
    page = session.get(f"/clients/{client_id}").get_data(as_text=True)
    assert f'href="/clients/{client_id}/edit"' not in page
    assert "Archive" not in page and "Add contact" not in page
