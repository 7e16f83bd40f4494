"""Who is told what (DESIGN.md, "Who receives what"): lifecycle notices go to the client's
primary contacts, price changes to its billing contacts, incident notices to its technical
contacts where the company turns that on; a notice with nobody to go to is kept and shown."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update

from tests.support.factories import (
    active_service,
    at_risk,
    breach,
    make_client,
    make_service,
    make_user,
)
from tests.support.sessions import add_user
from webapp.accounts.models import User
from webapp.clients.models import Contact
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents import recording
from webapp.lifecycle.statuses import UserRole
from webapp.notifications import listeners
from webapp.notifications.models import Notification
from webapp.notifications.sending import send_for_events
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService


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
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
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
    assert send_for_events([notice.event_id]) == ([], True)
    db.session.rollback()
    assert db.session.get(Notification, notice.id).status == "no_recipient"
    assert smtp.messages == []

    html = as_role(UserRole.ADMIN).get("/operations").get_data(as_text=True)
    panel = html[html.index('id="unrouted_notifications"') :]
    assert "Backup is now active" in panel
    assert "Nobody to tell: client Lonely Ltd has no primary contact with an email" in panel
    assert f'href="/clients/{client_id}">Lonely Ltd</a>' in panel
    assert "No failed notifications." in html  # it is not a failure to send again


def test_a_client_left_untold_is_recorded_even_when_the_manager_is_told(company, work):
    # It used to be dropped: the manager heard of it, so nothing said the client had not.
    client_id = make_client(company, name="Lonely Ltd", email=None)
    manager = make_user(company, "am@msp.example")
    lc.activate(company, make_service(company, client_id, manager_id=manager), "test")
    work()
    rows = db.session.execute(
        select(Notification.recipient, Notification.status, Notification.error).order_by(
            Notification.recipient
        )
    ).all()
    assert rows == [
        (
            "",
            "no_recipient",
            "The client was not told: client Lonely Ltd has no primary contact with an email.",
        ),
        ("am@msp.example", "queued", None),
    ]


def test_incident_notices_to_a_technical_contact_are_recorded_when_nobody_has_that_role(
    company, work
):
    db.session.get(Company, company).incident_notices_to_clients = True
    client_id = make_client(company, name="Lonely Ltd", email=None)
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
    breach(company, active_service(company, client_id))
    work()
    rows = db.session.execute(
        select(Notification.recipient, Notification.error).filter_by(listener="notify.sla_breached")
    ).all()
    assert sorted(rows) == [
        ("", "The client was not told: client Lonely Ltd has no technical contact with an email."),
        ("tech@msp.example", None),
    ]


def _deactivated(user_id):
    db.session.get(User, user_id).active = False
    db.session.commit()


def test_deactivated_and_never_signed_in_people_are_told_nothing(company, work):
    client_id = make_client(company, name="Acme Dental", email="it@acme.example")
    gone_manager = make_user(company, "gone@msp.example")
    _deactivated(gone_manager)
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
    _deactivated(add_user(company, UserRole.TECHNICIAN, "left@msp.example"))
    make_user(company, "invited@msp.example", UserRole.TECHNICIAN)  # no password yet
    service = active_service(company, client_id, manager_id=gone_manager)
    breach(company, service)
    work()
    assert _told("notify.activated") == ["it@acme.example"]
    # The deactivated manager is missing: the breach goes to the technician who can answer it.
    assert _told("notify.sla_breached") == ["tech@msp.example"]


def _assigned_breach(company, assignee) -> None:
    """A breached incident on a new service, assigned to `assignee`, its notices not yet sent."""
    service = active_service(company, make_client(company, name=f"Client of {assignee}"))
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service)
        .values(sla_around_the_clock=True, sla_response_minutes=60)
    )
    db.session.commit()
    opened = utcnow() - dt.timedelta(minutes=90)
    new = recording.NewIncident(service, "Mail down", "high", opened, assignee_id=assignee)
    recording.record(company, new, "test")


def test_an_incident_goes_to_its_assignee_unless_they_were_deactivated_since(company, work):
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
    kept = add_user(company, UserRole.TECHNICIAN, "kept@msp.example")
    gone = add_user(company, UserRole.TECHNICIAN, "gone@msp.example")
    _assigned_breach(company, kept)
    _assigned_breach(company, gone)
    _deactivated(gone)
    work()
    # The deactivated assignee is missing, so the team hears of it, as of an unassigned one.
    assert _told("notify.sla_breached") == [
        "kept@msp.example",
        "kept@msp.example",
        "tech@msp.example",
    ]


def test_escalations_skip_a_deactivated_manager(company, work):
    gone = make_user(company, "gone@msp.example")
    _deactivated(gone)
    service = active_service(company, manager_id=gone)
    event = DomainEvent(
        company_id=company,
        service_id=service,
        type="ServiceAlertEscalated",
        payload={"alert_id": 1, "waited_minutes": 30},
        actor="test",
    )
    db.session.add(event)
    db.session.flush()
    listeners.escalated(event)
    notice = db.session.scalars(select(Notification).filter_by(listener="notify.escalated")).one()
    assert (notice.recipient, notice.status) == ("", "no_recipient")
    assert "there is no escalation address and no account manager" in notice.error


def test_the_manager_hears_of_an_incident_at_risk_and_contacts_get_a_neutral_text(company, work):
    db.session.get(Company, company).incident_notices_to_clients = True
    manager = make_user(company, "am@msp.example")
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
    client_id = make_client(company, name="Acme Dental", email="it@acme.example")
    at_risk(company, active_service(company, client_id, manager_id=manager))
    work()
    bodies = dict(
        db.session.execute(
            select(Notification.recipient, Notification.body).filter_by(
                listener="notify.sla_at_risk"
            )
        ).all()
    )
    assert sorted(bodies) == ["am@msp.example", "it@acme.example", "tech@msp.example"]
    assert "Answer it before the target is breached." in bodies["tech@msp.example"]
    assert bodies["am@msp.example"] == bodies["tech@msp.example"]
    assert "Answer it" not in bodies["it@acme.example"]
    assert "the team is working on it" in bodies["it@acme.example"]


def test_a_resumed_service_is_told_to_the_primary_contacts_and_the_manager(company, work):
    client_id = _client_with_one_contact_per_role(company)
    manager = make_user(company, "am@msp.example")
    service = active_service(company, client_id, manager_id=manager)
    lc.suspend(company, service, "test", reason="unpaid")
    lc.resume(company, service, "test")
    work()
    assert _told("notify.resumed") == ["am@msp.example", "pat@acme.example"]
    subject = db.session.scalars(select(Notification.subject).filter_by(listener="notify.resumed"))
    assert set(subject) == {"Managed Backup has been resumed"}
