"""The service page's SLA panel and its edit form, its incidents, and its health trend."""

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from tests.support.factories import make_service
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.incidents import recording
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import ServiceLevel, Severity, UserRole
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert

R = UserRole


@pytest.fixture
def manager(as_role):
    return as_role(R.ACCOUNT_MANAGER)


@pytest.fixture
def service_id(company):
    service_id = make_service(company, service_level=ServiceLevel.STANDARD)
    lc.activate(company, service_id, "t")
    return service_id


def facts(html):
    """The panel's lines as {label: "value [own|default]"}."""
    panel = html[html.index('id="service_sla"') :]
    panel = panel[: panel.index("</dl>")]
    return {
        dt_: re.sub(r"<[^>]+>", " ", dd).split()
        for dt_, dd in re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", panel)
    }


def test_the_panel_shows_the_levels_defaults_in_human_units(manager, service_id):
    lines = facts(manager.get(f"/services/{service_id}").get_data(as_text=True))
    assert " ".join(lines["Response"]) == "within 4 h default"
    assert " ".join(lines["Resolution"]) == "within 24 h default"
    assert " ".join(lines["Availability"]) == "99.5 % default"
    assert " ".join(lines["Warning"]) == "at 80 % of each target default"
    assert " ".join(lines["Clock"]) == "business hours (UTC, Mon–Fri 08:00–18:00) default"


def test_saving_the_services_own_values_and_blank_back_to_default(manager, service_id):
    response = manager.post(
        f"/services/{service_id}/sla",
        {
            "response_minutes": "30",
            "resolution_minutes": "",
            "availability_target": "99.95",
            "warning_percent": "",
            "clock": "24x7",
        },
        target="service_sla",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="panel" id="service_sla"')
    assert "SLA policy saved." in html
    lines = facts(html)
    assert " ".join(lines["Response"]) == "within 30 min own"
    assert " ".join(lines["Resolution"]) == "within 24 h default"
    assert " ".join(lines["Availability"]) == "99.95 % own"
    assert " ".join(lines["Clock"]) == "24x7 own"
    db.session.rollback()
    service = db.session.get(ClientService, service_id)
    assert (service.sla_response_minutes, service.sla_resolution_minutes) == (30, None)
    assert service.sla_around_the_clock is True and service.sla_warning_percent is None

    # The form shows the service's own values; emptying them goes back to the defaults.
    assert 'name="response_minutes" placeholder="240" type="number" value="30"' in html
    manager.post(f"/services/{service_id}/sla", {"clock": ""})
    db.session.rollback()
    service = db.session.get(ClientService, service_id)
    assert service.sla_response_minutes is None and service.sla_around_the_clock is None
    assert service.sla_availability_target is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"response_minutes": "0"}, "response_minutes", "From 1 to 43200 minutes"),
        ({"response_minutes": "soon"}, "response_minutes", "Not a valid integer value."),
        ({"availability_target": "101"}, "availability_target", "From 50 to 100 %."),
        ({"availability_target": "abc"}, "availability_target", "Enter a percentage"),
        ({"availability_target": "99.9999"}, "availability_target", "three decimal places"),
        ({"warning_percent": "100"}, "warning_percent", "From 1 to 99 %."),
        ({"clock": "sometimes"}, "clock", "Not a valid choice."),
        # The level's default response is 240: a resolution of 60 would come first.
        ({"resolution_minutes": "60"}, "resolution_minutes", "cannot be sooner than response"),
    ],
)
def test_errors_show_beside_their_fields_and_nothing_changes(
    manager, service_id, data, field, message
):
    response = manager.post(f"/services/{service_id}/sla", data, target="service_sla")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="panel" id="service_sla"')
    assert f'id="{field}-error"' in html and message in html
    assert "<details open>" in html  # the form stays open where the error is
    db.session.rollback()
    service = db.session.get(ClientService, service_id)
    assert service.sla_response_minutes is None and service.sla_resolution_minutes is None
    assert not db.session.scalars(select(DomainEvent).filter_by(type="ServiceSLAChanged")).all()


def test_a_saved_policy_is_in_the_audit_trail_with_who_changed_it(manager, service_id):
    manager.post(
        f"/services/{service_id}/sla",
        {"response_minutes": "30", "availability_target": "99.5", "clock": "24x7"},
    )
    db.session.rollback()
    changed = db.session.scalars(select(DomainEvent).filter_by(type="ServiceSLAChanged")).one()
    assert changed.actor.endswith("account_manager@msp.example")
    assert changed.payload == {
        "service_id": service_id,
        "response_minutes": 30,
        "resolution_minutes": None,
        "availability_target": "99.5",
        "warning_percent": None,
        "around_the_clock": True,
    }


def test_a_shorter_target_reschedules_open_incidents_in_the_same_save(
    manager, company, service_id, work
):
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(sla_around_the_clock=True, sla_response_minutes=10_000)
    )
    db.session.commit()
    incident, _ = recording.record(
        company,
        recording.NewIncident(
            service_id, "Slow", Severity.LOW, opened_at=utcnow() - dt.timedelta(minutes=90)
        ),
        "t",
    )
    db.session.rollback()
    assert db.session.get(Incident, incident.id).response_breached_at is None

    response = manager.post(
        f"/services/{service_id}/sla",
        {"response_minutes": "60", "resolution_minutes": "100000", "clock": "24x7"},
        target="service_sla",
    )
    assert "1 open incidents follow it now." in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Incident, incident.id).response_breached_at is not None
    event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceSLABreached")
    ).one()
    assert event.enqueued_at is not None  # published after the commit, not left to the relay
    work()
    assert db.session.scalars(select(SlaAlert.kind)).all() == ["response"]


def test_without_javascript_the_save_comes_back_to_the_page(manager, service_id):
    response = manager.post(f"/services/{service_id}/sla", {"warning_percent": "70"}, htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == f"/services/{service_id}"
    assert "SLA policy saved." in manager.get(f"/services/{service_id}").get_data(as_text=True)


def test_the_service_page_lists_its_incidents_and_links_to_record_one(as_role, company, service_id):
    recording.record(
        company, recording.NewIncident(service_id, "Backups failing", Severity.HIGH), "t"
    )
    tech = as_role(R.TECHNICIAN)
    html = tech.get(f"/services/{service_id}").get_data(as_text=True)
    panel = html[html.index('id="service_incidents"') :]
    assert "Backups failing" in panel and "response due in" in panel
    assert f'href="/incidents/new?service_id={service_id}"' in panel
    pending = make_service(company, name="Not live")
    assert (
        "/incidents/new"
        not in tech.get(f"/services/{pending}")
        .get_data(as_text=True)
        .split('id="service_incidents"')[1]
    )
    block = tech.htmx_get(f"/services/{service_id}", "service_activity").get_data(as_text=True)
    assert block.lstrip().startswith('<div id="service_activity"') and "Backups failing" in block


def test_the_health_trend_is_an_svg_line_with_a_text_alternative(manager, company, service_id):
    html = manager.get(f"/services/{service_id}").get_data(as_text=True)
    assert "<polyline" not in html  # nothing to draw yet
    start = dt.datetime(2026, 1, 1, 3)
    for day, score in enumerate([90, 85, 60, 72]):
        db.session.add(
            HealthSnapshot(
                company_id=company,
                service_id=service_id,
                score=score,
                factors=[],
                computed_at=start + dt.timedelta(days=day),
            )
        )
    db.session.commit()
    html = manager.get(f"/services/{service_id}").get_data(as_text=True)
    points = re.search(r'<polyline points="([^"]+)"', html).group(1).split()
    assert len(points) == 4
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[2] == max(ys)  # the lowest score is drawn lowest
    assert 'aria-hidden="true"' in html
    assert "The last 4 health scores went from 90 to 72 (lowest 60, highest 90)." in html
    assert "The first was on 2026-01-01 03:00." in html
