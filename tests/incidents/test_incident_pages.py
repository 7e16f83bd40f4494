"""Incidents on the pages: the list with SLA clocks, recording one, acknowledging, resolving."""

import datetime as dt
import re
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from tests.support.factories import make_client, make_service
from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents import actions as incidents
from webapp.incidents import recording
from webapp.incidents.checks import IncidentRefused
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import Severity, UserRole
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert

R = UserRole


@pytest.fixture
def tech(as_role):
    return as_role(R.TECHNICIAN, "tess@msp.example")


def running(company, name="Managed Backup", client=None, response=60, resolution=600):
    """An active service on a 24x7 policy with these targets (minutes)."""
    service_id = make_service(company, client, name=name)
    lc.activate(company, service_id, "t")
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(
            sla_around_the_clock=True,
            sla_response_minutes=response,
            sla_resolution_minutes=resolution,
        )
    )
    db.session.commit()
    return service_id


def opened(company, service_id, minutes_ago, title="Backups failing", severity="high", **kw):
    incident, _ = recording.record(
        company,
        recording.NewIncident(
            service_id,
            title,
            Severity(severity),
            opened_at=utcnow() - dt.timedelta(minutes=minutes_ago),
            **kw,
        ),
        "test",
    )
    return incident.id


def count_incidents():
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Incident))


def rows(html):
    return re.findall(r'<tr id="incident-(\d+)"', html)


def test_open_incidents_first_most_severe_first_each_with_its_sla_clocks(tech, company):
    service_id = running(company)
    due = opened(company, service_id, 20, "Slow backups", "low")
    breached = opened(company, service_id, 90, "Backups failing", "critical")
    done = opened(company, service_id, 30, "Disk full", "critical")
    incidents.acknowledge(company, done, "t", at=utcnow() - dt.timedelta(minutes=18))
    incidents.resolve(company, done, "t")

    html = tech.get("/incidents").get_data(as_text=True)
    assert rows(html) == [str(breached), str(due)]  # open only, the critical one first
    assert re.search(r"response due in (39|40) min", html)
    assert "response breached" in html
    assert '<span class="badge badge-critical">critical</span>' in html
    assert "Managed Backup" in html and "Acme Dental" in html

    everything = tech.get("/incidents?state=all").get_data(as_text=True)
    assert rows(everything) == [str(breached), str(due), str(done)]
    assert "answered in 12 min" in everything and "resolved in 30 min" in everything


def test_filters_by_state_severity_and_search(tech, company):
    acme = running(company, "Backup", make_client(company, "Acme Dental"))
    blue = running(company, "Firewall", make_client(company, "Bluebird Logistics"))
    a = opened(company, acme, 5, "Acme trouble", "low")
    b = opened(company, blue, 5, "Bluebird trouble", "high")
    incidents.resolve(company, b, "t")

    assert rows(tech.get("/incidents?state=resolved").get_data(as_text=True)) == [str(b)]
    assert rows(tech.get("/incidents?state=all&severity=low").get_data(as_text=True)) == [str(a)]
    assert rows(tech.get("/incidents?state=all&q=blue").get_data(as_text=True)) == [str(b)]
    assert rows(tech.get("/incidents?state=all&q=firewall").get_data(as_text=True)) == [str(b)]
    assert rows(tech.get(f"/incidents?state=all&service={acme}").get_data(as_text=True)) == [str(a)]
    # Nonsense in the query string falls back to the defaults rather than failing.
    assert rows(tech.get("/incidents?state=bogus&severity=huge").get_data(as_text=True)) == [str(a)]


def test_empty_states_say_what_to_do(tech, as_role, company):
    html = tech.get("/incidents").get_data(as_text=True)
    assert "No open incidents." in html and "record an incident" in html
    assert "record an incident" not in as_role(R.VIEWER).get("/incidents").get_data(as_text=True)
    assert "No incidents match." in tech.get("/incidents?q=nothing").get_data(as_text=True)


def test_the_table_reloads_as_its_own_block(tech, company):
    opened(company, running(company), 5)
    html = tech.htmx_get("/incidents?state=all", "incidents_table").get_data(as_text=True)
    assert html.lstrip().startswith('<div id="incidents_table"') and "<html" not in html


def test_another_companys_service_filter_is_a_404(tech, company, other_company):
    assert tech.get(f"/incidents?service={make_service(other_company)}").status_code == 404


def test_the_form_offers_running_services_and_starts_now_in_local_time(tech, company):
    db.session.get(Company, company).timezone = "America/New_York"
    db.session.commit()
    active = running(company, "Backup")
    pending = make_service(company, name="Not yet live")
    html = tech.get("/incidents/new").get_data(as_text=True)
    assert f'<option value="{active}">' in html and f'value="{pending}"' not in html
    value = re.search(
        r'name="opened_at" required type="datetime-local" value="([^"]+)"', html
    ).group(1)
    local_now = dt.datetime.now(ZoneInfo("America/New_York"))
    shown = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M")
    assert abs(shown - local_now.replace(tzinfo=None, second=0, microsecond=0)) <= dt.timedelta(
        minutes=1
    )
    assert "America/New_York" in html

    preselected = tech.get(f"/incidents/new?service_id={active}").get_data(as_text=True)
    assert f'<option selected value="{active}">' in preselected
    notice = tech.get(f"/incidents/new?service_id={pending}").get_data(as_text=True)
    assert "Not yet live is pending: incidents are recorded on active or suspended" in notice


def test_another_companys_service_in_the_link_is_a_404(tech, company, other_company):
    theirs = make_service(other_company)
    assert tech.get(f"/incidents/new?service_id={theirs}").status_code == 404


def test_errors_show_beside_their_fields_and_nothing_is_recorded(tech, company, other_company):
    theirs = make_service(other_company)
    lc.activate(other_company, theirs, "t")
    response = tech.post(
        "/incidents/new",
        {"service_id": str(theirs), "title": " ", "severity": "high", "opened_at": "yesterday"},
        target="incident_form",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="incident_form"')
    assert "Choose one of the active or suspended services." in html
    assert 'id="title-error"' in html and "Say in a few words what is wrong." in html
    assert "Enter a date and time such as" in html
    assert "nothing was saved" in html
    assert count_incidents() == 0


def test_an_incident_opened_in_the_future_is_refused_in_place(tech, company):
    service_id = running(company)
    later = (utcnow() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")  # company is UTC
    response = tech.post(
        "/incidents/new",
        {"service_id": service_id, "title": "Outage", "severity": "high", "opened_at": later},
    )
    assert response.status_code == 422
    assert 'id="opened_at-error"' in response.get_data(as_text=True)
    assert "cannot be opened in the future" in response.get_data(as_text=True)
    assert " in UTC now." in response.get_data(as_text=True)  # the company's clock, to compare
    assert count_incidents() == 0


def test_a_time_the_clocks_skipped_is_refused(tech, company):
    db.session.get(Company, company).timezone = "Europe/London"
    db.session.commit()
    service_id = running(company)
    response = tech.post(
        "/incidents/new",
        {
            "service_id": service_id,
            "title": "Outage",
            "severity": "high",
            "opened_at": "2026-03-29T01:30",  # British Summer Time began at 01:00
        },
    )
    assert response.status_code == 422
    assert "did not happen in Europe/London" in response.get_data(as_text=True)
    assert count_incidents() == 0


def test_recording_stores_utc_and_makes_the_technician_the_assignee(tech, company):
    db.session.get(Company, company).timezone = "Europe/London"
    db.session.commit()
    service_id = running(company)
    response = tech.post(
        "/incidents/new",
        {
            "service_id": service_id,
            "title": "  Backups failing  ",
            "severity": "critical",
            "opened_at": "2026-07-01T10:00",  # BST: 09:00 UTC
            "description": "Since the storage upgrade.",
        },
        target="incident_form",
    )
    assert response.status_code == 200
    db.session.rollback()
    incident = db.session.scalars(select(Incident)).one()
    assert response.headers["HX-Redirect"] == f"/incidents/{incident.id}"  # it lands on it
    technician = db.session.scalars(select(User).filter_by(email="tess@msp.example")).one()
    assert incident.opened_at == dt.datetime(2026, 7, 1, 9, 0)
    assert (incident.title, incident.severity, incident.source) == (
        "Backups failing",
        Severity.CRITICAL,
        "ui",
    )
    assert incident.assignee_id == technician.id
    assert incident.recorded_by == f"user:{technician.id} tess@msp.example"
    assert incident.description == "Since the storage upgrade."
    html = tech.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert f"Incident #{incident.id} recorded: Backups failing." in html
    assert "2026-07-01 10:00" in html  # shown in the company's time again


def test_recording_without_htmx_lands_on_the_incident_too(tech, company):
    service_id = running(company)
    opened_at = (utcnow() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    form = {"service_id": service_id, "title": "VPN down", "severity": "high"}
    response = tech.post("/incidents/new", form | {"opened_at": opened_at}, htmx=False)
    db.session.rollback()
    incident = db.session.scalars(select(Incident)).one()
    assert response.status_code == 303
    assert response.headers["Location"] == f"/incidents/{incident.id}"
    html = tech.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Incident #{incident.id} recorded: VPN down." in html
    assert "<h1>VPN down</h1>" in html


def test_an_incident_past_its_target_raises_an_sla_alert(tech, company, work):
    service_id = running(company, response=60)
    two_hours_ago = (utcnow() - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    tech.post(
        "/incidents/new",
        {
            "service_id": service_id,
            "title": "Outage",
            "severity": "high",
            "opened_at": two_hours_ago,
        },
        htmx=False,
    )
    work()
    alert = db.session.scalars(select(SlaAlert)).one()
    assert alert.kind == "response" and alert.incident_id is not None
    assert "Outage" in tech.get("/alerts").get_data(as_text=True)


def test_acknowledging_from_the_list_swaps_the_table_and_records_who(tech, as_role, company):
    service_id = running(company)
    incident_id = opened(company, service_id, 5)  # recorded by a monitoring tool: no assignee
    response = tech.post(
        f"/incidents/{incident_id}/acknowledge?state=all", target="incidents_table"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="incidents_table"')
    assert f"Incident #{incident_id} acknowledged." in html  # the flash, out of band
    assert re.search(r"answered in \d+ min", html)
    assert 'data-incident-action="acknowledge"' not in html
    db.session.rollback()
    incident = db.session.get(Incident, incident_id)
    technician = db.session.scalars(select(User).filter_by(email="tess@msp.example")).one()
    assert incident.acknowledged_by == f"user:{technician.id} tess@msp.example"
    assert incident.assignee_id == technician.id
    first = incident.acknowledged_at

    again = as_role(R.ADMIN).post(f"/incidents/{incident_id}/acknowledge", target="incidents_table")
    assert f"Incident #{incident_id} was already acknowledged." in again.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Incident, incident_id).acknowledged_at == first  # the first stands


def test_resolving_from_the_incident_page_swaps_its_block(tech, company):
    incident_id = opened(company, running(company), 5)
    response = tech.post(f"/incidents/{incident_id}/resolve", target="incident_main")
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="incident_main"')
    assert f"Incident #{incident_id} resolved." in html and "resolved in" in html
    assert "data-incident-action" not in html  # nothing left to do
    db.session.rollback()
    incident = db.session.get(Incident, incident_id)
    assert incident.resolved_at is not None and incident.next_check_at is None
    again = tech.post(f"/incidents/{incident_id}/acknowledge", target="incident_main")
    assert "was already resolved" in again.get_data(as_text=True)


def test_without_javascript_a_button_posts_and_comes_back(tech, company):
    incident_id = opened(company, running(company), 5)
    response = tech.post(
        f"/incidents/{incident_id}/acknowledge",
        {"next": "/incidents?state=all"},
        htmx=False,
    )
    assert response.status_code == 303 and response.headers["Location"] == "/incidents?state=all"
    response = tech.post(
        f"/incidents/{incident_id}/resolve", {"next": "https://elsewhere.example/"}, htmx=False
    )
    assert response.headers["Location"] == f"/incidents/{incident_id}"  # never off-site


def test_the_incident_page_shows_times_people_and_alerts(tech, company, work):
    service_id = running(company, response=60)
    incident_id = opened(company, service_id, 90, "Backups failing", description="All of them")
    work()
    incidents.acknowledge(company, incident_id, "user:9 night@msp.example")
    html = tech.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "<h1>Backups failing</h1>" in html and "All of them" in html
    assert "by night@msp.example" in html
    assert "response target breached" in html  # the alert it raised
    assert "response breached, answered in 1 h 30 min" in html


def test_another_companys_incident_is_a_404_and_stays_as_it_was(tech, company, other_company):
    theirs = make_service(other_company)
    lc.activate(other_company, theirs, "t")
    incident_id = opened(other_company, theirs, 5)
    assert tech.get(f"/incidents/{incident_id}").status_code == 404
    assert tech.post(f"/incidents/{incident_id}/acknowledge").status_code == 404
    assert tech.post(f"/incidents/{incident_id}/resolve").status_code == 404
    db.session.rollback()
    incident = db.session.get(Incident, incident_id)
    assert incident.acknowledged_at is None and incident.resolved_at is None
    assert "Backups failing" not in tech.get("/incidents?state=all").get_data(as_text=True)


def test_a_button_without_the_csrf_token_is_refused(tech, company):
    incident_id = opened(company, running(company), 5)
    response = tech.client.post(
        f"/incidents/{incident_id}/acknowledge", headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    db.session.rollback()
    assert db.session.get(Incident, incident_id).acknowledged_at is None


def test_a_refused_change_is_a_409_shown_in_place(tech, company, monkeypatch):
    incident_id = opened(company, running(company), 5)

    def refuse(*args, **kwargs):
        raise IncidentRefused("It cannot be answered before it opened.")

    monkeypatch.setattr(incidents, "acknowledge", refuse)
    response = tech.post(f"/incidents/{incident_id}/acknowledge", target="incidents_table")
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flash"
    assert "It cannot be answered before it opened." in response.get_data(as_text=True)


def test_open_pages_hear_about_an_acknowledgement(tech, company):
    incident_id = opened(company, running(company), 5)
    first = tech.get("/live?stamp=none").get_data(as_text=True)
    stamp = unquote_plus(re.search(r"stamp=([^\"&]+)", first).group(1).replace("&#43;", "+"))
    assert tech.get("/live", query_string={"stamp": stamp}).status_code == 204
    incidents.acknowledge(company, incident_id, "someone else")  # records no event
    assert tech.get("/live", query_string={"stamp": stamp}).status_code == 200


@pytest.mark.parametrize("role", [R.VIEWER, R.ACCOUNT_MANAGER])
def test_roles_that_do_not_handle_incidents_see_no_buttons(as_role, company, role):
    opened(company, running(company), 5)
    me = as_role(role)
    for url in ("/incidents", "/incidents/1", "/"):
        html = me.get(url).get_data(as_text=True)
        assert "data-incident-action" not in html and "/incidents/new" not in html
    html = as_role(R.TECHNICIAN).get("/incidents").get_data(as_text=True)
    assert 'data-incident-action="acknowledge"' in html and "/incidents/new" in html


def test_alerts_filter_by_at_risk_and_link_to_their_incident(tech, company, work):
    service_id = running(company, response=100, resolution=100_000)
    incident_id = opened(company, service_id, 90, "Slow")  # 90 of 100 minutes: past 80 %
    work()
    html = tech.get("/alerts?kind=at_risk").get_data(as_text=True)
    assert "response target at risk" in html
    assert f'href="/incidents/{incident_id}">incident #{incident_id}</a>' in html
    assert '<option value="at_risk" selected>At risk</option>' in html
    assert "No open alerts" in tech.get("/alerts?kind=response").get_data(as_text=True)


def test_escalated_alerts_say_when(tech, company, work):
    service_id = running(company)
    opened(company, service_id, 90)
    work()
    escalated = utcnow().replace(hour=14, minute=5, second=0, microsecond=0)
    db.session.execute(update(SlaAlert).values(escalated_at=escalated))
    db.session.commit()
    html = tech.get("/alerts").get_data(as_text=True)
    assert "Escalated 14:05: nobody acknowledged it in time" in html
