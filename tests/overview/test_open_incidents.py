"""The overview's open incidents panel (issue 14): the most severe open incidents with their
service, client and SLA state, and a live stamp that changes with every incident change."""

import datetime as dt

import time_machine

from tests.support.factories import make_client, make_service
from webapp.incidents import actions as incident_actions
from webapp.incidents import recording
from webapp.lifecycle.statuses import UserRole as R
from webapp.overview.queries import change_stamp
from webapp.services import actions as lc

START = dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)


def _panel(html: str) -> str:
    start = html.index('id="open-incidents"')
    return html[start : html.index("</section>", start)]


def _record(company, service_id, title, severity):
    incident, _ = recording.record(
        company, recording.NewIncident(service_id, title, severity), "test"
    )
    return incident.id


def test_the_panel_lists_open_incidents_most_severe_first_with_service_and_client(as_role, company):
    with time_machine.travel(START, tick=False):
        backup = make_service(company, make_client(company, "Acme Dental"), name="Backup")
        firewall = make_service(
            company, make_client(company, "Baker Law", email=None), name="Firewall"
        )
        for service_id in (backup, firewall):
            lc.activate(company, service_id, "test")
        _record(company, backup, "Backup job failed", "medium")
        _record(company, firewall, "VPN down", "critical")
        done = _record(company, backup, "Disk nearly full", "low")
        incident_actions.resolve(company, done, "test")
        panel = _panel(as_role(R.VIEWER).get("/").get_data(as_text=True))
    assert "2 open" in panel
    assert panel.index("VPN down") < panel.index("Backup job failed")
    assert "Disk nearly full" not in panel  # resolved
    assert "Firewall" in panel and "Baker Law" in panel
    assert 'class="sla"' in panel  # each with its SLA clocks
    assert 'href="/incidents"' in panel


def test_with_none_open_the_panel_says_so(as_role, company):
    panel = _panel(as_role(R.VIEWER).get("/").get_data(as_text=True))
    assert "No open incidents." in panel


def test_the_live_stamp_changes_when_an_incident_is_recorded_acknowledged_or_resolved(
    as_role, company
):
    with time_machine.travel(START, tick=False) as clock:
        service_id = make_service(company)
        lc.activate(company, service_id, "test")
        viewer = as_role(R.VIEWER)
        stamps = [change_stamp(company)]

        def step(change):
            clock.shift(dt.timedelta(seconds=1))
            change()
            stamps.append(change_stamp(company))

        incident = []
        step(lambda: incident.append(_record(company, service_id, "Mail flow stopped", "high")))
        step(lambda: incident_actions.acknowledge(company, incident[0], "test"))
        step(lambda: incident_actions.resolve(company, incident[0], "test"))
        # A page drawn before the incident is told to refresh its panels.
        polled = viewer.get(f"/live?stamp={stamps[0]}")
        unchanged = viewer.get(f"/live?stamp={stamps[-1]}")
    assert len(set(stamps)) == 4
    assert polled.status_code == 200 and polled.headers["HX-Trigger"] == "data-changed"
    assert unchanged.status_code == 204
