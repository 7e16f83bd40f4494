"""/clients/ID: the client's details, services, open incidents, renewals, revenue and recent
activity; and its name, wherever it is shown, links there."""

import datetime as dt

import pytest
from sqlalchemy import update

from tests.support.factories import active_service, breach, make_client, make_service
from webapp.clock import today
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.services import actions as lc
from webapp.services.models import ClientService


def section(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</section>", start)]


def test_the_page_gathers_everything_about_the_client(as_role, company, work):
    client_id = make_client(company, name="Acme Dental")
    soon = active_service(company, client_id, name="Backup", price="100.00")
    active_service(company, client_id, name="Firewall", price="300.00", currency="EUR")
    make_service(company, client_id, name="Monitoring")  # pending
    ended = active_service(company, client_id, name="Old seats")
    lc.cancel(company, ended, "test", reason="moved")
    breach(company, soon)
    work()
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == soon)
        .values(term_end=today() + dt.timedelta(days=20))
    )
    db.session.commit()
    other = make_client(company, name="Other", email=None)
    active_service(company, other, name="Not theirs")

    html = as_role(UserRole.VIEWER).get(f"/clients/{client_id}").get_data(as_text=True)
    services = section(html, "client_services")
    assert [name in services for name in ("Backup", "Firewall", "Monitoring", "Old seats")] == [
        True
    ] * 4
    assert "Not theirs" not in html
    assert services.index("Monitoring") < services.index("Backup") < services.index("Old seats")
    assert f'href="/services/{soon}"' in services and "100.00 USD" in services

    revenue = section(html, "client_revenue")
    assert "100.00 USD" in revenue and "300.00 EUR" in revenue
    renewals = section(html, "client_renewals")
    assert "Backup" in renewals and "Firewall" not in renewals
    assert (today() + dt.timedelta(days=20)).isoformat() in renewals
    incidents = section(html, "client_incidents")
    assert "response breach" in incidents and "on Backup" in incidents
    activity = section(html, "client_activity")
    assert "cancelled" in activity and "SLA breached" in activity and "moved" in activity
    assert "Acme Dental" in section(html, "client_contacts") or "Office Manager" in html


def test_the_live_panel_alone_for_htmx(as_role, company):
    client_id = make_client(company, name="Acme")
    response = as_role(UserRole.VIEWER).client.get(
        f"/clients/{client_id}", headers={"HX-Request": "true", "HX-Target": "client_live"}
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="client_live"') and "<html" not in html


def test_activity_is_the_newest_twenty_of_the_client_and_its_services(as_role, company):
    client_id = make_client(company, name="Acme")
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    for n in range(16):
        manager.post(f"/clients/{client_id}/edit", {"name": "Acme", "notes": f"note {n}"})
    for n in range(6):
        make_service(company, client_id, name=f"Service {n}")
    activity = section(
        manager.get(f"/clients/{client_id}").get_data(as_text=True), "client_activity"
    )
    assert activity.count("<tr><td>") == 20
    # 22 events: the two oldest edits ("— → note 0", "note 0 → note 1") are left out.
    assert "Service 0" in activity and "note 15" in activity and "note 0" not in activity


@pytest.mark.parametrize(
    "url",
    [
        "/services",
        "/services/{service}",
        "/incidents",
        "/incidents/{incident}",
        "/renewals?days=180",
        "/alerts",
        "/reports",
        "/",
    ],
)
def test_the_client_name_links_to_its_page_everywhere(as_role, company, work, url):
    client_id = make_client(company, name="Acme Dental")
    service = active_service(company, client_id)
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service)
        .values(term_end=today() + dt.timedelta(days=20), health_score=30)
    )
    db.session.commit()
    incident = breach(company, service)
    work()
    html = as_role(UserRole.VIEWER).get(url.format(service=service, incident=incident))
    assert f'<a href="/clients/{client_id}">Acme Dental</a>' in html.get_data(as_text=True)
