"""A client's contacts: added, changed and removed on its page, each with its roles, errors
in the form and nothing written."""

from sqlalchemy import select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client
from webapp.clients.models import Contact
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent


def _events(kind):
    db.session.rollback()
    return db.session.scalars(select(DomainEvent).filter_by(type=kind)).all()


def _new(**fields):
    return {f"contact-new-{k}": v for k, v in fields.items()}


def _edit(contact_id, **fields):
    return {f"contact-{contact_id}-{k}": v for k, v in fields.items()}


def test_several_contacts_with_their_roles(as_role, company):
    client_id = make_client(company, name="Acme", email=None)
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    page = manager.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "No contacts yet." in page and 'id="no_primary"' in page

    response = manager.post(
        f"/clients/{client_id}/contacts",
        _new(name="Pat Primary", email="pat@acme.example", phone="+1 555 0100", is_primary="y"),
        target="client_contacts",
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "data-changed"
    panel = response.get_data(as_text=True)
    assert panel.lstrip().startswith('<section class="panel" id="client_contacts">')
    assert "Pat Primary added." in panel and "+1 555 0100" in panel
    manager.post(
        f"/clients/{client_id}/contacts",
        _new(name="Bill Billing", email="bill@acme.example", is_billing="y", is_technical="y"),
    )
    contacts = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    assert [(c.name, c.roles) for c in contacts] == [
        ("Pat Primary", ["primary"]),
        ("Bill Billing", ["billing", "technical"]),
    ]
    saved = _events("ContactSaved")
    assert [e.payload["roles"] for e in saved] == [["primary"], ["billing", "technical"]]
    assert all(e.service_id is None and e.payload["client_id"] == client_id for e in saved)
    page = manager.get(f"/clients/{client_id}").get_data(as_text=True)
    assert 'id="no_primary"' not in page
    assert "contact saved" in page and "Bill Billing (billing, technical)" in page


def test_a_contact_needs_a_name_and_a_valid_email(as_role, company):
    client_id = make_client(company, name="Acme", email=None)
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    for fields, field, message in (
        ({"name": "", "email": "a@b.example"}, "contact-new-name", "Enter a name."),
        (
            {"name": "Pat", "email": "not an address"},
            "contact-new-email",
            "Enter an email address such as jane@example.com.",
        ),
        ({"name": "Pat\x00"}, "contact-new-name", "Remove the NUL character"),
        ({"name": "Pat", "phone": "5" * 51}, "contact-new-phone", "Field cannot be longer"),
    ):
        response = manager.post(
            f"/clients/{client_id}/contacts", _new(**fields), target="client_contacts"
        )
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert f'id="{field}-error">{message}' in html
        assert '<details open id="add_contact">' in html  # the form stays open with its error
    assert changed_tables(before, snapshot()) == set()
    plain = manager.post(f"/clients/{client_id}/contacts", _new(name=""), htmx=False)
    assert plain.status_code == 422 and "<html" in plain.get_data(as_text=True)


def test_a_contact_is_changed_and_removed(as_role, company):
    client_id = make_client(company, name="Acme", email="it@acme.example")
    contact_id = db.session.scalar(select(Contact.id))
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    page = manager.get(f"/clients/{client_id}").get_data(as_text=True)
    assert f'id="contact-{contact_id}-name"' in page and 'value="Office Manager"' in page

    before = snapshot()
    bad = manager.post(
        f"/clients/{client_id}/contacts/{contact_id}",
        _edit(contact_id, name="Office Manager", email="nope"),
        target="client_contacts",
    )
    assert bad.status_code == 422
    assert f'id="contact-{contact_id}-email-error">Enter an email address' in bad.get_data(
        as_text=True
    )
    assert changed_tables(before, snapshot()) == set()

    response = manager.post(
        f"/clients/{client_id}/contacts/{contact_id}",
        _edit(contact_id, name="Jo Admin", email="jo@acme.example", is_billing="y"),
    )
    assert response.status_code == 200
    db.session.rollback()
    changed = db.session.get(Contact, contact_id)
    assert (changed.name, changed.email, changed.roles) == (
        "Jo Admin",
        "jo@acme.example",
        ["billing"],
    )
    assert _events("ContactSaved")[-1].payload["roles"] == ["billing"]
    # The same again changes nothing and records nothing.
    manager.post(
        f"/clients/{client_id}/contacts/{contact_id}",
        _edit(contact_id, name="Jo Admin", email="jo@acme.example", is_billing="y"),
    )
    assert len(_events("ContactSaved")) == 1

    removed = manager.post(f"/clients/{client_id}/contacts/{contact_id}/remove")
    assert removed.status_code == 200 and "Jo Admin removed." in removed.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalars(select(Contact)).all() == []
    (event,) = _events("ContactRemoved")
    assert event.payload["contact_name"] == "Jo Admin"
    assert manager.post(f"/clients/{client_id}/contacts/{contact_id}/remove").status_code == 404


def test_another_clients_contact_is_not_found_through_this_client(as_role, company):
    mine = make_client(company, name="Mine", email=None)
    other = make_client(company, name="Other", email="it@other.example")
    contact_id = db.session.scalar(select(Contact.id).filter_by(client_id=other))
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    edit = manager.post(f"/clients/{mine}/contacts/{contact_id}", _edit(contact_id, name="X"))
    assert edit.status_code == 404
    assert manager.post(f"/clients/{mine}/contacts/{contact_id}/remove").status_code == 404
    assert changed_tables(before, snapshot()) == set()


def test_viewers_see_contacts_but_cannot_change_them(as_role, company):
    client_id = make_client(company, name="Acme", email="it@acme.example")
    contact_id = db.session.scalar(select(Contact.id))
    viewer = as_role(UserRole.VIEWER)
    page = viewer.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "it@acme.example" in page and "Add contact" not in page and "Remove" not in page
    before = snapshot()
    for url in (
        f"/clients/{client_id}/contacts",
        f"/clients/{client_id}/contacts/{contact_id}",
        f"/clients/{client_id}/contacts/{contact_id}/remove",
    ):
        assert viewer.post(url, _new(name="X")).status_code == 403
    assert changed_tables(before, snapshot()) == set()
