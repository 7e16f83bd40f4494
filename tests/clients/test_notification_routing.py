"""Who is told what (DESIGN.md, "Who receives what"): lifecycle notices go to the client's
primary contacts, price changes to its billing contacts, incident notices to its technical
contacts where the company turns that on; a notice with nobody to go to is kept and shown."""

from decimal import Decimal

from sqlalchemy import select

from tests.support.factories import active_service, breach, make_client, make_service, make_user
from webapp.clients.models import Contact
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification
from webapp.notifications.sending import send_for_event
from webapp.services import actions as lc


def _client_with_one_contact_per_role(company_id) -> int:
    client_id = make_client(company_id, name="Acme Dental", email=None)
    for name, role in (("Pat", "primary"), ("Bill", "billing"), ("Tess", "technical")):
        db.session.add(
            Contact(
                company_id=company_id,
                client_id=client_id,
                name=name,
                email=f"{name.lower()}@acme.example",
                **{f"is_{role}": True},
            )
        )
    # A contact with every role but no email reaches nobody, and is no error.
    db.session.add(
        Contact(company_id=company_id, client_id=client_id, name="No Mail", is_primary=True)
    )
    db.session.commit()
    return client_id


def _told(listener) -> list[str]:
    db.session.rollback()
    return sorted(
        db.session.scalars(select(Notification.recipient).filter_by(listener=listener)).all()
    )


def test_an_activation_goes_to_the_primary_contacts_and_the_manager_only(company, work):
    client_id = _client_with_one_contact_per_role(company)
    manager = make_user(company, "am@msp.example")
    lc.activate(company, make_service(company, client_id, manager_id=manager), "test")
    work()
    assert _told("notify.activated") == ["am@msp.example", "pat@acme.example"]


def test_a_price_change_goes_to_the_billing_contacts_and_the_manager(company, work):
    client_id = _client_with_one_contact_per_role(company)
    manager = make_user(company, "am@msp.example")
    service = active_service(company, client_id, manager_id=manager, price="100.00")
    lc.change_price(company, service, "test", Decimal("120.00"), note="two more seats")
    work()
    assert _told("notify.price_changed") == ["am@msp.example", "bill@acme.example"]
    notice = db.session.scalars(select(Notification).filter_by(recipient="bill@acme.example")).one()
    assert notice.subject == "New price for Managed Backup: 120.00 USD"
    assert "costs 120.00 USD per cycle (monthly billing); it was 100.00 USD" in notice.body


def test_incidents_reach_technical_contacts_only_when_the_company_says_so(company, work):
    client_id = _client_with_one_contact_per_role(company)
    make_user(company, "tech@msp.example", UserRole.TECHNICIAN)
    first = active_service(company, client_id, name="First")
    breach(company, first)
    work()
    assert "tess@acme.example" not in _told("notify.sla_breached")
    assert _told("notify.sla_breached") == ["tech@msp.example"]

    db.session.get(Company, company).incident_notices_to_clients = True
    db.session.commit()
    second = active_service(company, client_id, name="Second")
    breach(company, second)
    work()
    told = db.session.scalars(
        select(Notification.recipient).filter_by(listener="notify.sla_breached", service_id=second)
    ).all()
    assert sorted(told) == ["tech@msp.example", "tess@acme.example"]
    assert "pat@acme.example" not in _told("notify.sla_breached")


def test_the_setting_is_a_checkbox_on_the_settings_page(as_role, company):
    admin = as_role(UserRole.ADMIN)
    page = admin.get("/settings").get_data(as_text=True)
    assert 'name="incident_notices_to_clients"' in page
    data = {
        "timezone": "UTC",
        "days-0-is_open": "y",
        "days-0-opens": "09:00",
        "days-0-closes": "17:00",
        "escalate_after_minutes": "30",
        "reminder_days": "30",
        "incident_notices_to_clients": "y",
    }
    assert admin.post("/settings", data, htmx=False).status_code == 303
    db.session.rollback()
    assert db.session.get(Company, company).incident_notices_to_clients is True
    page = admin.get("/settings").get_data(as_text=True)
    assert 'checked id="incident_notices_to_clients"' in page
    data.pop("incident_notices_to_clients")
    admin.post("/settings", data, htmx=False)
    db.session.rollback()
    assert db.session.get(Company, company).incident_notices_to_clients is False


def test_a_notice_with_nobody_to_tell_is_kept_and_shown_on_operations(as_role, company, work, smtp):
    client_id = make_client(company, name="Lonely Ltd", email=None)
    db.session.add(
        Contact(
            company_id=company,
            client_id=client_id,
            name="Bill",
            email="b@l.example",
            is_billing=True,
        )
    )
    db.session.commit()
    service = make_service(company, client_id, name="Backup")
    lc.activate(company, service, "test")
    work()

    notice = db.session.scalars(select(Notification)).one()
    assert (notice.channel, notice.recipient, notice.status) == ("none", "", "no_recipient")
    assert notice.listener == "notify.activated" and notice.service_id == service
    assert notice.error == (
        "Nobody to tell: client Lonely Ltd has no primary contact with an email, "
        "the service has no account manager and no webhook is set up."
    )
    # The sender never sends it, however often it is asked to.
    assert send_for_event(notice.event_id) == []
    db.session.rollback()
    assert db.session.get(Notification, notice.id).status == "no_recipient"
    assert smtp.messages == []

    html = as_role(UserRole.ADMIN).get("/operations").get_data(as_text=True)
    panel = html[html.index('id="unrouted_notifications"') :]
    assert "Backup is now active" in panel
    assert "Nobody to tell: client Lonely Ltd has no primary contact with an email" in panel
    assert f'href="/clients/{client_id}">Lonely Ltd</a>' in panel
    assert "No failed notifications." in html  # it is not a failure to send again


def test_a_manager_alone_is_someone_to_tell(company, work):
    client_id = make_client(company, name="Lonely Ltd", email=None)
    manager = make_user(company, "am@msp.example")
    lc.activate(company, make_service(company, client_id, manager_id=manager), "test")
    work()
    assert db.session.execute(select(Notification.recipient, Notification.status)).all() == [
        ("am@msp.example", "queued")
    ]
