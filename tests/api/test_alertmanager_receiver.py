"""Alertmanager's receiver never fails a notification for one alert: a resolved alert whose end
is before its incident's start resolves it at its start, an alert that fails to write rolls
back alone, and one notification opens at most ALERTMANAGER_MAX_ALERTS incidents."""

import datetime as dt

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, update

from tests.api.test_api import (
    _alert,
    _counts,
    alertmanager_payload,
    post,
)
from tests.support.factories import active_service
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import recording
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert
from webapp.sla.sweep import sweep


@pytest.fixture
def service(company):
    service_id = active_service(company)
    # Around the clock, resolution in an hour: at risk (80 %) 48 minutes after the start.
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(sla_around_the_clock=True, sla_response_minutes=600, sla_resolution_minutes=60)
    )
    db.session.commit()
    return service_id


def _incident(key) -> Incident:
    db.session.rollback()
    return db.session.scalars(select(Incident).where(Incident.external_key == key)).one()


def test_a_resolved_alert_ending_before_its_incident_started_resolves_it_at_its_start(
    client, token, service, as_role
):
    """Finding 10: the same alert sent again to Alertmanager with a start 10 minutes back and an
    end 1 minute back; Alertmanager's resolved notification ends before the incident's start.
    It used to be a 422 that Alertmanager gave up on, leaving the incident open and its SLA
    clock running until an at-risk alert mailed the technician."""
    started = utcnow().replace(microsecond=0) - dt.timedelta(seconds=30)
    firing = alertmanager_payload([_alert("firing", "e1e1", service, starts=started)])
    assert _counts(post(client, "/alertmanager", firing, token)) == {"opened": 1}

    moved = started - dt.timedelta(minutes=10)  # Alertmanager keeps the earlier start
    ended = started - dt.timedelta(seconds=30)
    resolved = alertmanager_payload([_alert("resolved", "e1e1", service, starts=moved, ends=ended)])
    answer = post(client, "/alertmanager", resolved, token)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["rejected"] == []
    assert _counts(answer) == {"resolved": 1}

    incident = _incident("e1e1")
    assert incident.opened_at == started
    assert incident.resolved_at == started
    note = (
        f"Resolved at its start: the reported end ({ended:%Y-%m-%d %H:%M:%S} UTC) is before "
        f"the recorded start ({started:%Y-%m-%d %H:%M:%S} UTC)."
    )
    assert incident.description.endswith(note)
    page = as_role(UserRole.TECHNICIAN).get(f"/incidents/{incident.id}")
    assert note in page.get_data(as_text=True)

    # A late copy of the firing notification (with the moved start) does not open it again.
    late = alertmanager_payload([_alert("firing", "e1e1", service, starts=moved)])
    assert _counts(post(client, "/alertmanager", late, token)) == {"already_resolved": 1}
    # And 48 minutes on, nothing is at risk: the incident is resolved.
    sweep(utcnow() + dt.timedelta(minutes=48))
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(SlaAlert)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 1


def test_a_resolved_alert_without_an_end_resolves_its_incident_now(client, token, service):
    post(client, "/alertmanager", alertmanager_payload([_alert("firing", "f2f2", service)]), token)
    before = utcnow()
    resolved = _alert("resolved", "f2f2", service)  # endsAt: Go's zero time, year 1
    assert _counts(post(client, "/alertmanager", alertmanager_payload([resolved]), token)) == {
        "resolved": 1
    }
    incident = _incident("f2f2")
    assert before <= incident.resolved_at <= utcnow()
    assert "Resolved at its start" not in (incident.description or "")


def test_a_notification_whose_every_alert_is_rejected_is_still_a_200_listing_each(client, token):
    """Alertmanager gives up on a 4xx for the whole notification; only a payload that is not a
    notification at all is one (test_api: test_a_payload_that_is_not_a_notification_is_a_422)."""
    # The second names neither a service nor a host (a host would be kept as unrouted).
    no_host = {**_alert("firing", "2222"), "labels": {"alertname": "BackupJobFailed"}}
    payload = alertmanager_payload([_alert("firing", "1111", 999_999), no_host])
    response = post(client, "/alertmanager", payload, token)
    assert response.status_code == 200
    body = response.get_json()
    assert [(r["index"], r["fingerprint"]) for r in body["rejected"]] == [(0, "1111"), (1, "2222")]
    assert "no service 999999" in body["rejected"][0]["error"]
    assert "service_id label" in body["rejected"][1]["error"]
    assert _counts(response) == {}
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 0


def test_a_nul_in_a_routing_label_rejects_that_alert_alone(client, token, service):
    # The notification's hosts are looked up at once before each alert is checked: a NUL
    # (which PostgreSQL refuses in any text) must not fail the others with it.
    bad = _alert("firing", "1111", service)
    bad["labels"]["instance"] = "web\x001:9100"
    response = post(
        client,
        "/alertmanager",
        alertmanager_payload([bad, _alert("firing", "2222", service)]),
        token,
    )
    assert response.status_code == 200, response.get_json()
    assert [r["fingerprint"] for r in response.get_json()["rejected"]] == ["1111"]
    assert _counts(response) == {"opened": 1}


def test_an_alert_that_fails_to_write_rolls_back_alone(client, token, service, monkeypatch):
    """Another transaction opens a key between the batch's look and its insert (forced here by
    a look that finds nothing): that alert's insert breaks the unique index, its savepoint
    rolls back, it is found open, and the alerts around it are recorded in the same commit."""
    post(client, "/alertmanager", alertmanager_payload([_alert("firing", "dup", service)]), token)
    monkeypatch.setattr(recording, "_open_with_keys", lambda company_id, news: {})
    payload = alertmanager_payload(
        [
            _alert("firing", "new1", service),
            _alert("firing", "dup", service),
            _alert("firing", "new2", service),
        ]
    )
    answer = post(client, "/alertmanager", payload, token)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert _counts(answer) == {"opened": 2, "already_open": 1}
    keys = db.session.scalars(select(Incident.external_key).order_by(Incident.id)).all()
    assert keys == ["dup", "new1", "new2"]


def test_a_notification_writes_its_alerts_in_one_savepoint_with_their_breaches(
    client, token, service
):
    """A savepoint and a flush per alert were half of an alert's CPU at 100,000 services: the
    alerts of a notification are written together, one alert alone only when the write fails
    (above). Each incident still gets its SLA marks and their events."""
    statements = []

    def remember(_conn, _cursor, statement, _parameters, _context, _many):
        statements.append(statement)

    long_ago = utcnow().replace(microsecond=0) - dt.timedelta(hours=3)
    payload = alertmanager_payload(
        [_alert("firing", f"k{n}", service, starts=long_ago) for n in range(6)]
    )
    sa_event.listen(db.engine, "before_cursor_execute", remember)
    try:
        answer = post(client, "/alertmanager", payload, token)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", remember)
    assert _counts(answer) == {"opened": 6}
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 1
    db.session.rollback()
    breached = db.session.scalars(
        select(DomainEvent.payload).where(DomainEvent.type == "ServiceSLABreached")
    ).all()
    incidents = db.session.scalars(select(Incident.id).order_by(Incident.id)).all()
    assert len(incidents) == 6
    assert sorted(p["incident_id"] for p in breached) == incidents  # resolution, an hour each


def test_one_notification_opens_at_most_the_cap_and_the_rest_on_its_repeat(
    app, client, company, token, service
):
    """ALERTMANAGER_MAX_ALERTS bounds the incidents (and so the breaches, mails and webhook
    calls) one notification makes. Repeats of open incidents and resolved alerts do not count:
    Alertmanager's next send of the group records the next ones."""
    app.config["ALERTMANAGER_MAX_ALERTS"] = 3
    other = active_service(company, name="Other")
    for key in ("open1", "gone1"):
        post(client, "/alertmanager", alertmanager_payload([_alert("firing", key, other)]), token)
    group = [
        _alert("firing", "open1", other),  # a repeat: not counted
        *(_alert("firing", f"new{n}", service) for n in range(5)),
        _alert("firing", "new0", service),  # twice in one notification: one incident
        _alert("resolved", "gone1", other, ends=utcnow()),  # resolved: never refused
    ]
    first = post(client, "/alertmanager", alertmanager_payload(group), token)
    assert first.status_code == 200
    assert _counts(first) == {"opened": 3, "already_open": 2, "resolved": 1}
    refused = first.get_json()["rejected"]
    assert [(r["index"], r["fingerprint"]) for r in refused] == [(4, "new3"), (5, "new4")]
    assert all("ALERTMANAGER_MAX_ALERTS" in r["error"] for r in refused)
    opened = db.session.scalars(
        select(Incident.external_key).where(Incident.resolved_at.is_(None))
    ).all()
    assert sorted(opened) == ["new0", "new1", "new2", "open1"]

    again = post(client, "/alertmanager", alertmanager_payload(group[:-1]), token)
    assert _counts(again) == {"opened": 2, "already_open": 5}
    assert again.get_json()["rejected"] == []
