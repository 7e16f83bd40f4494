"""An unknown host's alerts are each kept and each recorded once routed: several alerts on one
host are distinct (by source and key; a keyless one is its own), one that ended before routing
is recorded as a resolved incident, and two technicians routing the same row at once record
its incidents once."""

import contextlib
import datetime as dt
import threading
import time

from sqlalchemy import select

from tests.api.test_api import _counts, post
from tests.assets import test_routing as routing_tests
from tests.assets.test_routing import alert, incidents, notify
from tests.support.factories import run_at_once
from webapp.assets import actions as assets
from webapp.assets import unrouted
from webapp.assets.actions import AssetFields
from webapp.assets.models import AssetIdentifier, UnroutedAlert
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import actions as incidents_actions
from webapp.incidents import recording
from webapp.lifecycle.statuses import UserRole

# The routing tests' API client, token and asset web1 (covered by Backup, which receives).
client, token, web = routing_tests.client, routing_tests.token, routing_tests.web


def _row() -> UnroutedAlert:
    db.session.rollback()
    return db.session.scalars(select(UnroutedAlert)).one()


def test_every_alert_on_an_unknown_host_is_kept_and_recorded_on_routing(
    client, company, token, web, as_role
):
    for key, name in (("a1", "DiskFull"), ("b1", "NodeDown"), ("c1", "HighLoad")):
        notify(client, token, alert(key, alertname=name, instance="new-host:9100"))
    notify(client, token, alert("a1", alertname="DiskFull", instance="new-host:9100"))  # repeat
    ended = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    resolved = notify(client, token, alert("b1", "resolved", ends=ended, instance="new-host"))
    assert _counts(resolved) == {"resolved": 1}
    # Two keyless alerts through the API about the same host: each one of its own.
    for title in ("Backup failed", "Backup failed"):
        body = {"title": title, "severity": "high", "labels": {"hostname": "NEW-HOST"}}
        assert post(client, "/incidents", body, token).status_code == 202

    row = _row()
    assert (row.host, row.count, row.resolved_at) == ("new-host", 6, None)
    assert row.labels == {"hostname": "NEW-HOST"}  # the latest
    kept = unrouted.alerts_of(row)
    assert [(a["external_key"], a["count"], a["resolved_at"] is None) for a in kept] == [
        ("a1", 2, True),
        ("b1", 1, False),
        ("c1", 1, True),
        (None, 1, True),
        (None, 1, True),
    ]

    page = as_role(UserRole.TECHNICIAN).get(f"/assets/unrouted/{row.id}").get_data(as_text=True)
    assert 'id="kept-alerts"' in page and page.count("<tr><td>") == 5 and "HighLoad" in page

    routed, incident_id = unrouted.route(company, row.id, web["asset"], "tech")
    recorded = incidents()
    assert [(i.external_key, i.title, i.resolved_at) for i in recorded] == [
        ("a1", "DiskFull", None),
        ("b1", "NodeDown", ended),
        ("c1", "HighLoad", None),
        (None, "Backup failed", None),
        (None, "Backup failed", None),
    ]
    assert {(i.service_id, i.asset_id) for i in recorded} == {(web["backup"], web["asset"])}
    assert incident_id == recorded[-1].id == routed.incident_id


def test_an_alert_resolved_before_routing_is_recorded_as_resolved(client, company, token, web):
    starts = utcnow().replace(microsecond=0) - dt.timedelta(minutes=30)
    ended = starts + dt.timedelta(minutes=20)
    notify(client, token, alert("r9", instance="gone-host:9100"))
    notify(client, token, alert("r9", "resolved", ends=ended, instance="gone-host"))
    row = _row()
    assert row.resolved_at == ended

    routed, incident_id = unrouted.route(company, row.id, web["asset"], "tech")
    assert incident_id is None  # nothing still firing
    (incident,) = incidents()
    assert (incident.external_key, incident.resolved_at, incident.resolved_by) == (
        "r9",
        ended,
        "tech",
    )
    assert incident.opened_at < ended and routed.incident_id == incident.id
    assert (incident.service_id, incident.asset_id) == (web["backup"], web["asset"])


def test_two_routings_at_once_record_the_incidents_once(app, company, web, monkeypatch):
    body = {"title": "Disk full", "severity": "high", "labels": {"hostname": "race-host"}}
    new = recording.NewIncident(service_id=0, title=body["title"], severity="high", source="api")
    (row,) = unrouted.keep(company, [unrouted.Held("race-host", "hostname", body["labels"], new)])
    row_id, asset_id = row.id, web["asset"]
    db.session.rollback()

    # Both routings reach the recording before either writes, if nothing keeps them apart:
    # each waits (a while at most) for the other there.
    meet = threading.Barrier(2)
    times = recording._times

    def waiting_times(*args):
        # Broken: the other is kept out (as it should be), and this one goes on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=3)
        return times(*args)

    monkeypatch.setattr(recording, "_times", waiting_times)

    def routing():
        unrouted.route(company, row_id, asset_id, "tech")

    errors = run_at_once(app, routing, routing)
    assert len(errors) == 1 and "routed already" in errors[0], errors
    db.session.rollback()
    (incident,) = incidents()
    assert (incident.title, incident.asset_id) == ("Disk full", web["asset"])
    row = db.session.get(UnroutedAlert, row_id)
    assert (row.incident_id, row.asset_id) == (incident.id, web["asset"])
    identifiers = db.session.scalars(
        select(AssetIdentifier.value).filter_by(asset_id=web["asset"], value="race-host")
    ).all()
    assert identifiers == ["race-host"]


def test_an_alert_resolved_while_it_is_being_routed_resolves_its_incident(
    app, client, company, token, web, monkeypatch
):
    notify(client, token, alert("r1", instance="web9:9100"))
    row_id = _row().id

    # The routing has recorded the incident and holds the row, not committed yet, when the
    # resolved alert comes: it finds no open incident, and waits for the row.
    recorded, resolving, go = threading.Event(), threading.Event(), threading.Event()
    record_within, resolve = recording.record_within, unrouted.resolve

    def held_recording(*args):
        outcomes = record_within(*args)
        recorded.set()
        go.wait(timeout=30)
        return outcomes

    def noticed_resolve(*args):
        resolving.set()
        return resolve(*args)

    monkeypatch.setattr(recording, "record_within", held_recording)
    monkeypatch.setattr(unrouted, "resolve", noticed_resolve)
    answers = []

    def routing():
        unrouted.route(company, row_id, web["asset"], "tech")

    def resolved():
        assert recorded.wait(timeout=30)
        answers.append(notify(client, token, alert("r1", "resolved", instance="web9:9100")))

    def release():
        resolving.wait(timeout=30)
        time.sleep(1)  # the resolved alert waits for the row (or for SQLite's write lock)
        go.set()

    errors = run_at_once(app, routing, resolved, release)
    assert errors == []
    assert _counts(answers[0]) == {"resolved": 1}
    db.session.rollback()
    (incident,) = incidents()
    assert incident.external_key == "r1" and incident.resolved_at is not None


def _identify_web9(company, web) -> None:
    """web9 becomes an identifier of web1 (its page edited), after web9's alerts were kept."""
    fields = AssetFields(
        client_id=web["client"],
        name="web1",
        identifiers=(("instance", "web1:9100"), ("hostname", "web9")),
    )
    assets.update_asset(company, web["asset"], fields, "tech")


def test_an_alert_of_a_host_identified_meanwhile_is_recorded_once(client, company, token, web):
    notify(client, token, alert("f1", instance="web9:9100"))
    _identify_web9(company, web)
    assert _counts(notify(client, token, alert("f1", instance="web9:9100"))) == {"opened": 1}
    answer = notify(client, token, alert("f1", "resolved", instance="web9:9100"))
    assert _counts(answer) == {"resolved": 1}
    row = _row()
    # The kept copy ended with it: the row is not listed as firing any more.
    assert row.resolved_at is not None
    assert [a["resolved_at"] is not None for a in unrouted.alerts_of(row)] == [True]

    routed, incident_id = unrouted.route(company, row.id, web["asset"], "tech")
    (incident,) = incidents()  # the one the repeat opened, not a second one
    assert (incident.external_key, incident.resolved_at is not None) == ("f1", True)
    assert incident_id is None and routed.incident_id == incident.id


def test_routing_does_not_record_again_an_alert_whose_incident_ended(client, company, token, web):
    # The kept copy still fires (its end reached the incident only, as before this was fixed).
    notify(client, token, alert("f2", instance="web9:9100"))
    _identify_web9(company, web)
    notify(client, token, alert("f2", instance="web9:9100"))
    ended = utcnow().replace(microsecond=0) - dt.timedelta(minutes=1)
    assert incidents_actions.resolve_by_key(company, "alertmanager", "f2", "am", at=ended)
    row = _row()
    assert row.resolved_at is None

    routed, incident_id = unrouted.route(company, row.id, web["asset"], "tech")
    (incident,) = incidents()
    assert (incident.external_key, incident.resolved_at) == ("f2", ended)
    assert incident_id is None and routed.incident_id == incident.id
    # The kept copy is shown as ended when its incident did.
    assert routed.resolved_at == ended


def test_a_late_copy_of_a_kept_alert_that_ended_does_not_reopen_it(client, company, token, web):
    notify(client, token, alert("p1", instance="web9:9100"))
    notify(client, token, alert("p1", "resolved", instance="web9:9100"))
    # An Alertmanager cluster peer's firing copy, sent before the end but arriving after it.
    late = notify(client, token, alert("p1", instance="web9:9100"))
    assert _counts(late) == {"already_resolved": 1}
    row = _row()
    assert row.resolved_at is not None and len(unrouted.alerts_of(row)) == 1
    # The same alert firing again later (a new start) is a new one: kept.
    again = alert("p1", instance="web9:9100")
    again["startsAt"] = again["startsAt"].replace(
        again["startsAt"][:19], (utcnow() - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert _counts(notify(client, token, again)) == {"unrouted": 1}
    row = _row()
    assert row.resolved_at is None
    assert [a["resolved_at"] is None for a in unrouted.alerts_of(row)] == [False, True]

    unrouted.route(company, row.id, web["asset"], "tech")
    assert [(i.external_key, i.resolved_at is None) for i in incidents()] == [
        ("p1", False),
        ("p1", True),
    ]
