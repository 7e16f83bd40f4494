"""Alerts find their service by host: the incidents API and Alertmanager's receiver route by the
company's labels, in order, to the asset's receiving service (unless a service_id or
service_type label says otherwise); a host no asset has is kept as unrouted, counted, resolved,
and routed by a technician, after which the next alert goes straight through."""

import datetime as dt

import pytest
from sqlalchemy import select

from tests.api.test_api import _alert, _counts, alertmanager_payload, post
from tests.support.factories import active_service, make_client
from webapp.accounts import api_tokens
from webapp.assets import actions as assets
from webapp.assets.models import Asset, AssetIdentifier, UnroutedAlert
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import UserRole
from webapp.services import actions as lc
from webapp.services.models import ClientService


@pytest.fixture
def client(app):
    from tests.api.conftest import SnapshotFreeClient

    app.test_client_class = SnapshotFreeClient
    return app.test_client()


@pytest.fixture
def token(company):
    return api_tokens.create(company, "prometheus", "test")[1]


def make_asset(company, name, *identifiers, client_id=None, services=()):
    client_id = client_id or make_client(company, name=f"Client of {name}", email=None)
    fields = assets.AssetFields(client_id=client_id, name=name, identifiers=tuple(identifiers))
    asset = assets.create_asset(company, fields, "test")
    for service_id in services:
        assets.cover(company, service_id, asset.id, "test")
    return asset.id


@pytest.fixture
def web(company):
    """web1 (instance web1:9100) of Acme, covered by Backup (receiving) and Monitoring."""
    acme = make_client(company, name="Acme", email=None)
    backup = active_service(company, acme, name="Backup")
    monitoring = active_service(company, acme, name="Monitoring")
    db.session.get(ClientService, monitoring).service_type = "monitoring"
    db.session.commit()
    asset = make_asset(
        company, "web1", ("instance", "web1:9100"), client_id=acme, services=(backup, monitoring)
    )
    return {"asset": asset, "backup": backup, "monitoring": monitoring, "client": acme}


def alert(fingerprint, status="firing", ends=None, **labels):
    raw = _alert(status, fingerprint, ends=ends)
    raw["labels"] = {"alertname": "NodeDown", "severity": "critical", **labels}
    return raw


def notify(client, token, *alerts):
    response = post(client, "/alertmanager", alertmanager_payload(list(alerts)), token)
    assert response.status_code == 200, response.get_json()
    return response


def incidents():
    return db.session.scalars(select(Incident).order_by(Incident.id)).all()


def test_an_alert_with_only_an_instance_opens_on_the_assets_receiving_service(
    client, company, token, web
):
    # Another case and a port: the instance is folded as the identifier was.
    answer = notify(client, token, alert("a1", instance="WEB1:9100"))
    assert _counts(answer) == {"opened": 1}
    (incident,) = incidents()
    assert (incident.service_id, incident.asset_id) == (web["backup"], web["asset"])
    assert db.session.get(Asset, web["asset"]).last_seen_at is not None

    resolved = notify(
        client, token, alert("a1", "resolved", ends=dt.datetime(2026, 3, 2), instance="web1:9100")
    )
    assert _counts(resolved) == {"resolved": 1}


def test_labels_are_tried_in_the_companys_order(client, company, token, web):
    other = make_asset(company, "db1", ("hostname", "db1"), services=())
    # hostname comes after instance: the instance's asset wins.
    notify(client, token, alert("o1", instance="web1:9100", hostname="db1"))
    assert incidents()[0].asset_id == web["asset"]
    # The company puts hostname first: db1 is found (it has no service: kept, not lost).
    db.session.get(Company, company).routing_labels = "hostname,instance"
    db.session.commit()
    answer = notify(client, token, alert("o2", instance="web1:9100", hostname="DB1"))
    assert _counts(answer) == {"unrouted": 1}
    assert db.session.scalars(select(UnroutedAlert.host)).all() == ["db1"]
    assert db.session.get(Asset, other) is not None
    # A label left out of the list is not looked at.
    db.session.get(Company, company).routing_labels = "hostname"
    db.session.commit()
    answer = notify(client, token, alert("o3", instance="web1:9100"))
    assert "service_id label" in answer.get_json()["rejected"][0]["error"]


def test_service_id_and_service_type_labels_choose_the_service(client, company, token, web):
    elsewhere = active_service(company, name="Elsewhere")
    notify(
        client,
        token,
        alert("s1", instance="web1:9100", service_type="Monitoring"),
        alert("s2", instance="web1:9100", service_id=str(web["monitoring"])),
        alert("s4", instance="web1:9100", service_id=str(elsewhere)),
    )
    by_key = {i.external_key: i for i in incidents()}
    assert (by_key["s1"].service_id, by_key["s1"].asset_id) == (web["monitoring"], web["asset"])
    assert (by_key["s2"].service_id, by_key["s2"].asset_id) == (web["monitoring"], web["asset"])
    # Another client's service, named outright: its incident, but not about Acme's asset (the
    # asset's page would list another client's incident).
    assert (by_key["s4"].service_id, by_key["s4"].asset_id) == (elsewhere, None)
    # No m365 service covers web1: kept as unrouted (not lost, not sent to another service).
    answer = notify(client, token, alert("s3", instance="web1:9100", service_type="m365"))
    assert _counts(answer) == {"unrouted": 1}
    assert db.session.scalars(select(UnroutedAlert.host)).all() == ["web1"]


def test_another_companys_identifier_is_never_matched(client, company, other_company, token):
    their_client = make_client(other_company, name="Theirs", email=None)
    theirs = active_service(other_company, their_client, name="Theirs")
    kw = {"client_id": their_client, "services": (theirs,)}
    make_asset(other_company, "web1", ("instance", "web1"), **kw)
    own_id = make_asset(other_company, "byid", **kw)
    answer = notify(
        client, token, alert("t1", instance="web1:9100"), alert("t2", asset_id=str(own_id))
    )
    assert _counts(answer) == {"unrouted": 2}
    assert incidents() == []
    hosts = db.session.scalars(
        select(UnroutedAlert.host).where(UnroutedAlert.company_id == company)
    )
    assert sorted(hosts) == [str(own_id), "web1"]


def test_an_unknown_host_is_kept_counted_and_resolved(client, company, token, web):
    first = notify(client, token, alert("u1", instance="new-host:9100"))
    assert _counts(first) == {"unrouted": 1}
    notify(client, token, alert("u1", instance="NEW-HOST:9100"))
    (row,) = db.session.scalars(select(UnroutedAlert)).all()
    assert (row.host, row.count, row.resolved_at, row.routed_at) == ("new-host", 2, None, None)
    assert row.labels["instance"] == "NEW-HOST:9100"
    assert row.alert["host_label"] == "instance"
    assert [(a["external_key"], a["count"]) for a in row.alert["alerts"]] == [("u1", 2)]
    # Another alert's resolution is not this one's.
    other = notify(
        client, token, alert("zz", "resolved", ends=dt.datetime(2026, 3, 2), instance="new-host")
    )
    assert _counts(other) == {"not_open": 1}
    done = notify(
        client,
        token,
        alert("u1", "resolved", ends=dt.datetime(2026, 3, 2), instance="new-host:9100"),
    )
    assert _counts(done) == {"resolved": 1}
    db.session.refresh(row)
    assert row.resolved_at is not None and row.routed_at is None
    assert incidents() == []


def test_routing_records_the_incident_and_remembers_the_host(client, company, token, web, as_role):
    notify(client, token, alert("r1", instance="web2:9100"))
    row = db.session.scalars(select(UnroutedAlert)).one()
    technician = as_role(UserRole.TECHNICIAN)
    page = technician.get("/assets/unrouted")
    assert page.status_code == 200 and "web2" in page.get_data(as_text=True)
    assert "1 alert with an unknown host" in technician.get("/").get_data(as_text=True)
    listed = technician.get("/assets").get_data(as_text=True)
    assert "1 alert with an unknown host" in listed and 'href="/assets/unrouted"' in listed

    routed = technician.post(f"/assets/unrouted/{row.id}/route", data={"asset_id": web["asset"]})
    assert routed.status_code == 200, routed.get_data(as_text=True)
    (incident,) = incidents()
    assert (incident.service_id, incident.asset_id, incident.external_key) == (
        web["backup"],
        web["asset"],
        "r1",
    )
    db.session.rollback()
    row = db.session.get(UnroutedAlert, row.id)
    assert (row.asset_id, row.incident_id) == (web["asset"], incident.id)
    assert row.routed_by.endswith("technician@msp.example")
    values = db.session.scalars(select(AssetIdentifier.value).filter_by(asset_id=web["asset"]))
    assert "web2" in set(values)
    assert "alert with an unknown host" not in technician.get("/").get_data(as_text=True)
    assert "alert with an unknown host" not in technician.get("/assets").get_data(as_text=True)

    # The next alert about web2 goes straight through; its resolution resolves it.
    answer = notify(client, token, alert("r2", instance="web2:9100"))
    assert _counts(answer) == {"opened": 1}
    assert incidents()[-1].asset_id == web["asset"]
    assert _counts(
        notify(
            client, token, alert("r1", "resolved", ends=dt.datetime(2026, 3, 2), instance="web2")
        )
    ) == {"resolved": 1}


def test_routing_to_a_new_asset_covers_it_and_records_a_resolved_alert_as_resolved(
    client, company, token, as_role
):
    acme = make_client(company, name="Acme", email=None)
    backup = active_service(company, acme, name="Backup")
    notify(client, token, alert("n1", hostname="Printer7"))
    notify(
        client, token, alert("n1", "resolved", ends=dt.datetime(2026, 3, 2), hostname="printer7")
    )
    row = db.session.scalars(select(UnroutedAlert)).one()
    admin = as_role(UserRole.ADMIN)
    data = {"client_id": acme, "name": "Printer 7", "kind": "other", "service_id": backup}
    assert admin.post(f"/assets/unrouted/{row.id}/new-asset", data=data).status_code == 200
    db.session.rollback()
    asset = db.session.scalars(select(Asset).filter_by(name="Printer 7")).one()
    assert asset.service_id == backup and [i.value for i in asset.identifiers] == ["printer7"]
    # It had resolved: recorded as a resolved incident, so health and SLA see it.
    (resolved,) = incidents()
    assert (resolved.external_key, resolved.service_id) == ("n1", backup)
    assert resolved.resolved_at is not None
    answer = notify(client, token, alert("n2", hostname="PRINTER7"))
    assert _counts(answer) == {"opened": 1}
    assert (incidents()[-1].service_id, incidents()[-1].asset_id) == (backup, asset.id)


def test_routing_is_refused_in_place_and_changes_nothing(client, company, token, web, as_role):
    bare = make_asset(company, "bare")  # no service receives its incidents
    notify(client, token, alert("x1", instance="web9"))
    row = db.session.scalars(select(UnroutedAlert)).one()
    technician = as_role(UserRole.TECHNICIAN)
    refused = technician.post(f"/assets/unrouted/{row.id}/route", data={"asset_id": bare})
    assert refused.status_code == 422
    assert "has no service that receives its incidents" in refused.get_data(as_text=True)
    assert (
        technician.post(f"/assets/unrouted/{row.id}/route", data={"asset_id": "x"}).status_code
        == 422
    )
    db.session.rollback()
    assert db.session.get(UnroutedAlert, row.id).routed_at is None
    assert db.session.scalars(select(AssetIdentifier.value).filter_by(asset_id=bare)).all() == []
    assert incidents() == []
    # Viewers see the list, but cannot route.
    viewer = as_role(UserRole.VIEWER)
    assert viewer.get("/assets/unrouted").status_code == 200
    assert (
        viewer.post(f"/assets/unrouted/{row.id}/route", data={"asset_id": web["asset"]}).status_code
        == 403
    )


def test_the_incidents_api_routes_by_labels_and_keeps_unknown_hosts(client, company, token, web):
    body = {"title": "Disk full", "severity": "high", "labels": {"instance": "Web1:9100"}}
    created = post(client, "/incidents", body, token)
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["service_id"], created.get_json()["asset_id"]) == (
        web["backup"],
        web["asset"],
    )

    kept = post(client, "/incidents", {**body, "labels": {"host": "nas02"}}, token)
    assert kept.status_code == 202, kept.get_json()
    assert kept.get_json()["host"] == "nas02" and kept.get_json()["count"] == 1

    nothing = post(client, "/incidents", {**body, "labels": {"job": "node"}}, token)
    assert nothing.status_code == 422 and nothing.get_json()["fields"][0]["field"] == "labels"
    typed = post(
        client,
        "/incidents",
        {**body, "labels": {"instance": "web1", "service_type": "nope"}},
        token,
    )
    # No such service covers web1: kept like an unknown host, for a technician to route.
    assert typed.status_code == 202 and typed.get_json()["host"] == "web1", typed.get_json()
    assert len(incidents()) == 1

    # A service_id in the body chooses the service; the asset goes with it only if it is
    # that service's client's.
    own = post(client, "/incidents", {**body, "service_id": web["monitoring"]}, token).get_json()
    assert (own["service_id"], own["asset_id"]) == (web["monitoring"], web["asset"])
    elsewhere = active_service(company, name="Elsewhere")
    theirs = post(client, "/incidents", {**body, "service_id": elsewhere}, token).get_json()
    assert (theirs["service_id"], theirs["asset_id"]) == (elsewhere, None)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "Enter label names"),
        ("instance, 9host", "not a label name"),
        ("instance,instance", "once"),
        ("service_id", "chooses the service"),
        ("__name__", "not a label name"),
    ],
)
def test_the_routing_labels_setting_is_validated(as_role, company, text, error):
    admin = as_role(UserRole.ADMIN)
    response = admin.post("/settings/routing", data={"routing_labels": text})
    assert response.status_code == 422 and error in response.get_data(as_text=True)
    assert db.session.get(Company, company).routing_labels == "asset_id,instance,hostname,host"


def test_admins_set_the_routing_labels(as_role, company):
    admin = as_role(UserRole.ADMIN)
    assert (
        admin.post("/settings/routing", data={"routing_labels": " host , instance "}).status_code
        == 200
    )
    db.session.rollback()
    assert db.session.get(Company, company).routing_labels == "host,instance"
    assert (
        as_role(UserRole.TECHNICIAN)
        .post("/settings/routing", data={"routing_labels": "host"})
        .status_code
        == 403
    )


def test_an_alert_about_an_asset_no_service_takes_is_kept_then_routed(
    client, company, token, web, as_role
):
    """Never lost: an asset whose receiving service was cancelled falls to another covering
    service; with none left to take it (or none chosen), its alert waits as unrouted."""
    lc.cancel(company, web["backup"], "test", "moved")
    notify(client, token, alert("c1", instance="web1:9100"))
    assert [(i.service_id, i.asset_id) for i in incidents()] == [(web["monitoring"], web["asset"])]

    lc.cancel(company, web["monitoring"], "test", "moved")
    answer = notify(client, token, alert("c2", instance="web1:9100"))
    assert _counts(answer) == {"unrouted": 1}
    bare = make_asset(company, "bare", ("hostname", "bare1"))
    assert _counts(notify(client, token, alert("c3", hostname="BARE1"))) == {"unrouted": 1}
    row = db.session.scalars(select(UnroutedAlert).filter_by(host="bare1")).one()

    # Once a service receives its incidents, a technician routes the kept alert.
    acme = db.session.get(Asset, bare).client_id
    fresh = active_service(company, acme, name="Fresh")
    assets.cover(company, fresh, bare, "test")
    technician = as_role(UserRole.TECHNICIAN)
    routed = technician.post(f"/assets/unrouted/{row.id}/route", data={"asset_id": bare})
    assert routed.status_code == 200, routed.get_data(as_text=True)
    db.session.rollback()
    assert [(i.external_key, i.service_id) for i in incidents()][-1] == ("c3", fresh)
