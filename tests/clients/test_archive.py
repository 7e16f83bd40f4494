"""Archiving a client: refused while a service of it runs; afterwards it keeps its history,
leaves the lists and pickers, and can be restored."""

import pytest
from sqlalchemy import select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import active_service, make_client, make_service
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc


def _types():
    db.session.rollback()
    return db.session.scalars(select(DomainEvent.type).order_by(DomainEvent.id)).all()


@pytest.mark.parametrize("status", ["pending", "active", "suspended"])
def test_archiving_is_refused_while_a_service_runs(as_role, company, status):
    client_id = make_client(company, name="Acme")
    service = make_service(company, client_id)
    if status != "pending":
        lc.activate(company, service, "test")
    if status == "suspended":
        lc.suspend(company, service, "test", reason="unpaid")
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    response = manager.post(f"/clients/{client_id}/archive", target="client_main")
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flash"
    assert (
        "Acme cannot be archived: 1 of its services is pending, active or suspended."
        in response.get_data(as_text=True)
    )
    assert changed_tables(before, snapshot()) == set()
    plain = manager.post(f"/clients/{client_id}/archive", htmx=False)
    assert plain.status_code == 409 and "cannot be archived" in plain.get_data(as_text=True)


def test_archived_once_its_services_ended_keeping_its_history(as_role, company):
    client_id = make_client(company, name="Acme")
    service = active_service(company, client_id, name="Old backup")
    lc.cancel(company, service, "test", reason="moved away")
    manager = as_role(UserRole.ACCOUNT_MANAGER)

    response = manager.post(f"/clients/{client_id}/archive", target="client_main")
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "data-changed"
    html = response.get_data(as_text=True)
    assert "Acme archived" in html and 'data-client-action="restore"' in html
    assert db.session.get(Client, client_id).archived
    assert _types()[-1] == "ClientArchived"

    # Its history stays: the page, its service and the service's events.
    page = manager.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "Old backup" in page and "cancelled" in page and "client archived" in page
    assert manager.get(f"/services/{service}").status_code == 200
    # Archiving twice changes nothing.
    again = manager.post(f"/clients/{client_id}/archive", htmx=False)
    assert again.status_code == 303
    assert _types().count("ClientArchived") == 1


def test_an_archived_client_leaves_the_provision_form_and_comes_back_when_restored(
    as_role, company
):
    kept = make_client(company, name="Kept Ltd")
    gone = make_client(company, name="Gone Ltd")
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    assert manager.post(f"/clients/{gone}/archive").status_code == 200

    form = manager.get("/services/new").get_data(as_text=True)
    assert f'<option value="{kept}">Kept Ltd</option>' in form
    assert "Gone Ltd" not in form
    before = snapshot()
    refused = manager.post(
        "/services/new",
        {"client_id": str(gone), "name": "Backup", "price": "10", "term_months": "12"},
        htmx=False,
    )
    assert refused.status_code == 422
    assert 'id="client_id-error">Not a valid choice.' in refused.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()
    with pytest.raises(TransitionRefused, match="Gone Ltd is archived"):
        make_service(company, gone)
    # The lists' filters keep it: its past services are still there to find.
    assert "Gone Ltd" in manager.get("/services").get_data(as_text=True)

    response = manager.post(f"/clients/{gone}/restore", htmx=False)
    assert response.status_code == 303
    assert not db.session.get(Client, gone).archived
    assert _types()[-1] == "ClientRestored"
    assert "Gone Ltd" in manager.get("/services/new").get_data(as_text=True)
    assert "Gone Ltd was not archived." in manager.post(f"/clients/{gone}/restore").get_data(
        as_text=True
    )


def test_only_account_managers_and_admins_archive(as_role, company):
    client_id = make_client(company, name="Acme")
    for role in (UserRole.VIEWER, UserRole.TECHNICIAN):
        response = as_role(role).post(f"/clients/{client_id}/archive")
        assert response.status_code == 403
    assert not db.session.get(Client, client_id).archived
    assert as_role(UserRole.ADMIN).post(f"/clients/{client_id}/archive").status_code == 200
