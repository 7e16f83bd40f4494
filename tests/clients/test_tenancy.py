"""Another company's client and contacts are a 404 on every clients route, and change nothing."""

from sqlalchemy import select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client
from webapp.clients.models import Client, Contact
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole


def test_every_clients_route_with_another_companys_client_is_a_404(
    app, as_role, company, other_company
):
    theirs = make_client(other_company, name="Their Client", email="it@theirs.example")
    their_contact = db.session.scalar(select(Contact.id).filter_by(client_id=theirs))
    mine = make_client(company, name="My Client", email=None)
    admin = as_role(UserRole.ADMIN)
    before = snapshot()
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("clients.")]
    with_ids = [r for r in routes if "client_id" in r.arguments]
    assert len(with_ids) >= 7
    for rule in with_ids:
        for client_id in (theirs, mine):
            if client_id == mine and "contact_id" not in rule.arguments:
                continue  # my client is mine; only their contact under it is foreign
            url = rule.rule.replace("<int:client_id>", str(client_id))
            url = url.replace("<int:contact_id>", str(their_contact))
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                data = {"name": "Hijacked", "contact-new-name": "Hijacked"}
                response = admin.get(url) if method == "GET" else admin.post(url, data)
                assert response.status_code == 404, (method, url, response.status_code)
                assert "Their Client" not in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == set()
    assert db.session.get(Client, theirs).name == "Their Client"
    listed = admin.get("/clients?archived=1&q=Their").get_data(as_text=True)
    assert "Their Client" not in listed and "No clients match." in listed
