"""The JSON API under /api/v1: tokens, incidents, Alertmanager's webhook, errors, the document."""

import datetime as dt
import io
import sys

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select, update

from tests.support.factories import active_service, run_at_once
from webapp.accounts import api_tokens
from webapp.api import alertmanager
from webapp.api import errors as api_errors
from webapp.api.openapi import api_rules, methods, openapi_path
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import actions as incidents
from webapp.incidents import recording
from webapp.incidents.checks import IncidentRefused
from webapp.incidents.models import Incident
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert
from webapp.tenancy import NotFound

API = "/api/v1"


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def post(client, path, body, token, **kw):
    return client.post(API + path, json=body, headers=auth(token), **kw)


def iso(when: dt.datetime) -> str:
    return when.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def incident_body(service_id, **extra):
    return {"service_id": service_id, "title": "Backup failed", "severity": "high", **extra}


def assert_error(response, status, *words):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word in body["error"], (word, body)
    return body


def test_the_openapi_document_is_valid_public_and_describes_every_route(app, client):
    response = client.get(f"{API}/openapi.json")  # no token
    assert response.status_code == 200
    doc = response.get_json()
    validate(doc)  # OpenAPI 3.1, including every schema in it
    assert doc["openapi"].startswith("3.1")
    routes = 0
    for rule, _view in api_rules(app):
        for method in methods(rule):
            routes += 1
            op = doc["paths"][openapi_path(rule)][method]
            assert op["responses"], (rule.rule, method)
    assert routes == sum(len(ops) for ops in doc["paths"].values()) == 7
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"][f"{API}/openapi.json"]["get"]["security"] == []
    assert "error" in doc["components"]["schemas"]["ErrorBody"]["required"]
    create = doc["paths"][f"{API}/incidents"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IncidentCreate"
    }
    assert create["responses"]["422"] == {"$ref": "#/components/responses/UnprocessableContent"}
    severity = doc["components"]["schemas"]["Severity"]
    assert severity["enum"] == ["critical", "high", "medium", "low"]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_a_request_without_a_bearer_token_is_a_401_with_a_challenge(client, company, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get(f"{API}/incidents/1", headers=headers)
    assert_error(response, 401, "Authorization: Bearer")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_unknown_or_revoked_token_is_a_401(client, company, token, service):
    unknown = post(client, "/incidents", incident_body(service), "mspd_" + "x" * 43)
    assert_error(unknown, 401, "unknown or revoked")
    assert unknown.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'

    assert post(client, "/incidents", incident_body(service), token).status_code == 201
    token_id = db.session.scalar(select(api_tokens.ApiToken.id))
    api_tokens.revoke(company, token_id, "admin")
    revoked = post(client, "/incidents", incident_body(service, title="again"), token)
    assert_error(revoked, 401, "unknown or revoked")
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 1


def test_the_token_decides_the_company_and_no_session_is_made(client, token, service):
    response = post(client, "/incidents", incident_body(service), token)
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers
    assert response.get_json()["recorded_by"] == "api:prometheus"


def test_post_incident_records_it_and_answers_201_with_it(client, company, token, service):
    opened = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    response = post(
        client,
        "/incidents",
        incident_body(
            service,
            title="  Backup job failed on backup01  ",
            severity="critical",
            opened_at=iso(opened).replace("Z", "+00:00"),
            description="Job 'nightly' exited with 1",
            external_id="zabbix-4711",
        ),
        token,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"{API}/incidents/{body['id']}")
    assert body == {
        "id": body["id"],
        "service_id": service,
        "asset_id": None,
        "title": "Backup job failed on backup01",
        "description": "Job 'nightly' exited with 1",
        "severity": "critical",
        "status": "open",
        "source": "api",
        "external_id": "zabbix-4711",
        "opened_at": iso(opened),
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "recorded_by": "api:prometheus",
        "sla": {
            "response_warned_at": None,
            "response_breached_at": None,
            "resolution_warned_at": None,
            "resolution_breached_at": None,
        },
    }
    row = db.session.get(Incident, body["id"])
    assert (row.company_id, row.source, row.external_key) == (company, "api", "zabbix-4711")
    assert row.opened_at == opened


def test_opened_at_with_an_offset_is_stored_as_utc_and_left_out_means_now(client, token, service):
    before = utcnow()
    local = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    with_offset = (
        local.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    )
    first = post(client, "/incidents", incident_body(service, opened_at=with_offset), token)
    assert first.status_code == 201
    assert db.session.get(Incident, first.get_json()["id"]).opened_at == local
    second = post(client, "/incidents", incident_body(service), token)
    assert before <= db.session.get(Incident, second.get_json()["id"]).opened_at <= utcnow()


def test_a_retry_with_the_same_external_id_returns_the_open_incident(
    client, company, token, service
):
    body = incident_body(service, external_id="nagios-17")
    first = post(client, "/incidents", body, token)
    again = post(client, "/incidents", {**body, "title": "Retried"}, token)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 1

    # Once resolved, the same id is a new incident.
    post(client, f"/incidents/{first.get_json()['id']}/resolve", None, token)
    reopened = post(client, "/incidents", body, token)
    assert reopened.status_code == 201
    assert reopened.get_json()["id"] != first.get_json()["id"]
    # An incident recorded in the UI with that key is not the API's.
    ui, _ = recording.record(
        company,
        recording.NewIncident(service, "From the UI", "low", external_key="ui-1"),
        "tech",
    )
    assert (
        post(client, "/incidents", incident_body(service, external_id="ui-1"), token).status_code
        == 201
    )


def test_an_external_id_open_on_another_service_is_refused_not_returned(
    client, company, token, service
):
    other = active_service(company, name="Other one")
    post(client, "/incidents", incident_body(service, external_id="nagios-9"), token)
    clash = post(client, "/incidents", incident_body(other, external_id="nagios-9"), token)
    assert clash.status_code == 422
    assert clash.get_json()["fields"][0]["field"] == "external_id"
    assert "open on another service" in clash.get_json()["error"]
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 1


def test_an_incident_opened_long_enough_ago_breaches_and_raises_an_sla_alert(
    client, company, token, work
):
    service_id = active_service(company)
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(sla_around_the_clock=True, sla_response_minutes=60, sla_resolution_minutes=10_000)
    )
    db.session.commit()
    opened = utcnow() - dt.timedelta(minutes=90)
    response = post(client, "/incidents", incident_body(service_id, opened_at=iso(opened)), token)
    assert response.status_code == 201
    incident_id = response.get_json()["id"]
    assert response.get_json()["sla"]["response_breached_at"] is not None
    work()
    breached = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceSLABreached")
    ).one()
    assert breached.payload["incident_id"] == incident_id
    assert breached.payload["kind"] == "response"
    alert = db.session.scalars(select(SlaAlert)).one()
    assert (alert.service_id, alert.incident_id, alert.kind) == (
        service_id,
        incident_id,
        "response",
    )
    assert alert.company_id == company


def test_another_companys_service_or_incident_is_a_404(client, company, other_company, token):
    theirs = active_service(other_company)
    their_incident, _ = recording.record(
        other_company, recording.NewIncident(theirs, "Theirs", "low"), "test"
    )
    response = post(client, "/incidents", incident_body(theirs), token)
    assert_error(response, 404, f"no service {theirs}")
    for path in (f"/incidents/{their_incident.id}", "/incidents/999999"):
        assert_error(client.get(API + path, headers=auth(token)), 404, "no incident")
        assert_error(post(client, path + "/acknowledge", None, token), 404, "no incident")
        assert_error(post(client, path + "/resolve", {}, token), 404, "no incident")
    db.session.rollback()
    untouched = db.session.get(Incident, their_incident.id)
    assert untouched.acknowledged_at is None and untouched.resolved_at is None
    # An id larger than any database integer is simply not there (not a 500).
    huge = client.get(f"{API}/incidents/{10**30}", headers=auth(token))
    assert_error(huge, 404, "no incident")


def test_acknowledge_and_resolve_set_their_times_once(client, token, service):
    opened = utcnow().replace(microsecond=0) - dt.timedelta(hours=2)
    created = post(client, "/incidents", incident_body(service, opened_at=iso(opened)), token)
    path = f"/incidents/{created.get_json()['id']}"
    acked_at = opened + dt.timedelta(minutes=20)

    first = post(client, path + "/acknowledge", {"at": iso(acked_at)}, token)
    assert first.status_code == 200
    assert first.get_json()["status"] == "acknowledged"
    assert first.get_json()["acknowledged_at"] == iso(acked_at)
    assert first.get_json()["acknowledged_by"] == "api:prometheus"
    again = client.post(API + path + "/acknowledge", headers=auth(token))  # no body: now
    assert again.status_code == 200
    assert again.get_json()["acknowledged_at"] == iso(acked_at)  # the first one stands

    resolved = client.post(
        API + path + "/resolve", headers={**auth(token), "Content-Type": "application/json"}
    )
    assert resolved.status_code == 200
    body = resolved.get_json()
    assert body["status"] == "resolved" and body["resolved_by"] == "api:prometheus"
    assert post(client, path + "/resolve", {}, token).get_json() == body
    assert client.get(API + path, headers=auth(token)).get_json() == body


def test_answering_before_the_opening_or_in_the_future_is_refused_naming_the_field(
    client, token, service
):
    opened = utcnow() - dt.timedelta(hours=1)
    created = post(client, "/incidents", incident_body(service, opened_at=iso(opened)), token)
    path = f"/incidents/{created.get_json()['id']}"
    early = post(
        client, path + "/acknowledge", {"at": iso(opened - dt.timedelta(minutes=1))}, token
    )
    body = assert_error(early, 422, "at:", "cannot be answered or resolved before")
    assert [f["field"] for f in body["fields"]] == ["at"]
    later = post(client, path + "/resolve", {"at": iso(utcnow() + dt.timedelta(hours=1))}, token)
    assert_error(later, 422, "at:", "future")
    future = post(
        client,
        "/incidents",
        incident_body(service, opened_at=iso(utcnow() + dt.timedelta(days=1))),
        token,
    )
    body = assert_error(future, 422, "opened_at:", "future")
    assert body["fields"][0]["field"] == "opened_at"
    row = db.session.get(Incident, created.get_json()["id"])
    assert row.acknowledged_at is None and row.resolved_at is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"service_id": None}, "service_id", "integer"),
        ({"service_id": "5"}, "service_id", "integer"),
        ({"service_id": 1.5}, "service_id", "integer"),
        ({"service_id": 0}, "service_id", "greater than 0"),
        ({"service_id": 2**40}, "service_id", "less than or equal"),
        ({"title": ""}, "title", "at least 1"),
        ({"title": "   "}, "title", "at least 1"),
        ({"title": "x" * 301}, "title", "at most 300"),
        ({"title": 5}, "title", "string"),
        ({"severity": "urgent"}, "severity", "'critical', 'high', 'medium' or 'low'"),
        ({"severity": "HIGH"}, "severity", "'critical'"),
        ({"opened_at": "2026-05-01T09:30:00"}, "opened_at", "time zone offset"),
        ({"opened_at": "yesterday"}, "opened_at", "datetime"),
        ({"opened_at": 1767225600}, "opened_at", "datetime"),
        ({"opened_at": "1999-12-31T23:00:00Z"}, "opened_at", "before the year 2000"),
        ({"opened_at": "0001-01-01T00:00:00+05:00"}, "opened_at", "outside the range"),
        ({"description": "x" * 20_001}, "description", "at most 20000"),
        ({"external_id": "x" * 201}, "external_id", "at most 200"),
        ({"external_id": ""}, "external_id", "at least 1"),
        ({"opend_at": "2026-05-01T09:30:00Z"}, "opend_at", "not a field"),
    ],
)
def test_each_invalid_field_is_a_422_that_names_it(client, token, service, change, field, words):
    response = post(client, "/incidents", incident_body(service) | change, token)
    body = assert_error(response, 422, f"{field}:", words)
    assert [f["field"] for f in body["fields"]] == [field]
    assert words in body["fields"][0]["message"]
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 0


def test_every_missing_field_is_listed(client, token):
    response = post(client, "/incidents", {}, token)
    body = assert_error(response, 422, "title: is required", "severity: is required")
    assert {f["field"]: f["message"] for f in body["fields"]} == {
        "title": "is required",
        "severity": "is required",
    }
    # Without a service or labels to find it by, the service is what is missing.
    no_service = post(client, "/incidents", {"title": "Down", "severity": "low"}, token)
    body = assert_error(no_service, 422, "service_id: is required, unless labels name the asset")
    not_an_object = post(client, "/incidents", ["service_id", 1], token)
    assert_error(not_an_object, 422, "body: must be a JSON object")


@pytest.mark.parametrize("raw", [b"{", b'{"service_id": 1,}', b"\xff\xfe", b"", b"null null"])
def test_malformed_json_is_a_400(client, token, raw):
    response = client.post(
        f"{API}/incidents", data=raw, headers=auth(token), content_type="application/json"
    )
    assert_error(response, 400, "not valid JSON")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_body_that_is_not_sent_as_json_is_a_415(client, token, service, content_type):
    headers = auth(token) | ({"Content-Type": content_type} if content_type else {})
    body = f'{{"service_id": {service}, "title": "x", "severity": "low"}}'
    response = client.post(f"{API}/incidents", data=body, headers=headers)
    assert_error(response, 415, "application/json")
    acknowledge = client.post(f"{API}/incidents/1/acknowledge", data="at=now", headers=headers)
    assert acknowledge.status_code == 415


def test_json_with_a_charset_or_a_json_suffix_is_json(client, token, service):
    body = f'{{"service_id": {service}, "title": "x", "severity": "low"}}'
    for content_type in ("application/json; charset=utf-8", "application/problem+json"):
        headers = auth(token) | {"Content-Type": content_type}
        assert client.post(f"{API}/incidents", data=body, headers=headers).status_code == 201


def test_an_oversized_body_is_a_413(app, client, token, service):
    limit = app.config["API_MAX_CONTENT_LENGTH"]
    body = incident_body(service, description="x" * limit)
    response = post(client, "/incidents", body, token)
    assert_error(response, 413, f"at most {limit} bytes")
    alert = alertmanager_payload([_alert("firing", "f" * 16, service, summary="y" * limit)])
    assert_error(post(client, "/alertmanager", alert, token), 413)
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 0


def test_an_oversized_chunked_body_is_a_413_not_cut_short(app, client, token, service):
    limit = app.config["API_MAX_CONTENT_LENGTH"]
    # Valid JSON whatever the length: were it cut at the limit, what was left would still parse.
    body = b'{"service_id": %d, "title": "x", "severity": "low"}' % service + b" " * limit
    headers = auth(token) | {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    chunked = {"headers": headers, "environ_overrides": {"wsgi.input_terminated": True}}
    response = client.post(f"{API}/incidents", input_stream=io.BytesIO(body), **chunked)
    assert_error(response, 413, f"at most {limit} bytes")
    small = io.BytesIO(body[:200])
    assert client.post(f"{API}/incidents", input_stream=small, **chunked).status_code == 201


def test_unknown_paths_and_methods_answer_json(client, token):
    missing = client.get(f"{API}/nothing-here", headers=auth(token))
    assert_error(missing, 404, "no API endpoint", "/openapi.json")
    wrong = client.delete(f"{API}/incidents/1", headers=auth(token))
    assert_error(wrong, 405, "DELETE is not allowed", "GET")
    assert "GET" in wrong.headers["Allow"]
    listing = client.get(f"{API}/incidents", headers=auth(token))
    assert_error(listing, 405, "use ")
    assert listing.headers["Allow"].split(", ").count("POST") == 1
    # Outside the API, errors are still pages.
    assert client.get("/nothing-here").mimetype == "text/html"


def test_a_fault_on_our_side_is_a_json_500_that_says_to_retry(
    app, client, token, service, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    logged = []
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(recording, "record", broken)
    monkeypatch.setattr(api_errors.log, "exception", lambda *a: logged.append(sys.exc_info()))
    response = post(client, "/incidents", incident_body(service), token)
    assert_error(response, 500, "Try again")
    assert "database went away" not in response.get_data(as_text=True)
    assert [str(info[1]) for info in logged] == ["database went away"]  # with its traceback


STARTS = utcnow().replace(microsecond=0) - dt.timedelta(minutes=30)


def _rfc3339nano(when: dt.datetime) -> str:
    """As Go writes times: nanoseconds, Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "417Z"


def _alert(status, fingerprint, service_id=None, *, starts=None, ends=None, **annotations):
    labels = {
        "alertname": "BackupJobFailed",
        "instance": "backup01:9100",
        "job": "node",
        "severity": "critical",
    }
    if service_id is not None:
        labels["service_id"] = str(service_id)
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _rfc3339nano(starts or STARTS),
        "endsAt": _rfc3339nano(ends) if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=backup_last_success",
        "fingerprint": fingerprint,
    }


def alertmanager_payload(alerts, status=None):
    status = status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    return {
        "receiver": "msp-dashboard",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "BackupJobFailed"},
        "commonLabels": {"alertname": "BackupJobFailed", "job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": '{}:{alertname="BackupJobFailed"}',
        "truncatedAlerts": 0,
    }


def _counts(response):
    body = response.get_json()
    return {k: v for k, v in body.items() if k not in ("rejected", "error") and v}


def test_a_firing_group_opens_once_and_its_resolved_notification_resolves(
    client, company, token, service
):
    second_service = active_service(company, name="Monitoring")
    firing = alertmanager_payload(
        [
            _alert("firing", "c6a5ba3e1b0fd8e1", service, summary="Nightly backup failed"),
            _alert("firing", "0f1e2d3c4b5a6978", second_service, description="Disk 93% full"),
        ]
    )
    first = post(client, "/alertmanager", firing, token)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {
        "opened": 2,
        "already_open": 0,
        "already_resolved": 0,
        "resolved": 0,
        "not_open": 0,
        "unrouted": 0,
        "rejected": [],
    }
    rows = db.session.scalars(select(Incident).order_by(Incident.id)).all()
    assert [(r.service_id, r.external_key, r.source) for r in rows] == [
        (service, "c6a5ba3e1b0fd8e1", "alertmanager"),
        (second_service, "0f1e2d3c4b5a6978", "alertmanager"),
    ]
    assert [r.title for r in rows] == ["Nightly backup failed", "BackupJobFailed"]
    assert rows[1].description.startswith("Disk 93% full\n\nSource: http://prometheus.example")
    assert {r.severity.value for r in rows} == {"critical"}
    assert {r.opened_at for r in rows} == {STARTS + dt.timedelta(microseconds=0)}
    assert {r.recorded_by for r in rows} == {"api:prometheus"}

    # Alertmanager repeats the group (group_interval, repeat_interval): nothing changes.
    again = post(client, "/alertmanager", firing, token)
    assert _counts(again) == {"already_open": 2}
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 2

    ended = STARTS + dt.timedelta(minutes=12)
    resolved = alertmanager_payload(
        [
            _alert("resolved", "c6a5ba3e1b0fd8e1", service, ends=ended),
            _alert("resolved", "0f1e2d3c4b5a6978", second_service, ends=ended),
        ]
    )
    done = post(client, "/alertmanager", resolved, token)
    assert _counts(done) == {"resolved": 2}
    db.session.rollback()
    assert [r.resolved_at for r in db.session.scalars(select(Incident))] == [ended, ended]
    assert {r.resolved_by for r in db.session.scalars(select(Incident))} == {"api:prometheus"}
    # The resolved notification sent again: nothing open any more, not an error.
    assert _counts(post(client, "/alertmanager", resolved, token)) == {"not_open": 2}
    # The firing notification arriving late (a cluster peer, a retry) does not reopen it.
    late = post(client, "/alertmanager", firing, token)
    assert _counts(late) == {"already_resolved": 2}
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 2
    # The same alert firing again later is a new incident.
    refired = alertmanager_payload(
        [_alert("firing", "c6a5ba3e1b0fd8e1", service, starts=ended + dt.timedelta(minutes=5))]
    )
    assert _counts(post(client, "/alertmanager", refired, token)) == {"opened": 1}


def test_a_group_with_firing_and_resolved_alerts_does_both(client, token, service):
    post(client, "/alertmanager", alertmanager_payload([_alert("firing", "aaaa", service)]), token)
    mixed = alertmanager_payload(
        [
            _alert("resolved", "aaaa", service, ends=STARTS + dt.timedelta(minutes=3)),
            _alert("firing", "bbbb", service),
        ]
    )
    assert _counts(post(client, "/alertmanager", mixed, token)) == {"opened": 1, "resolved": 1}
    open_keys = db.session.scalars(
        select(Incident.external_key).where(Incident.resolved_at.is_(None))
    )
    assert list(open_keys) == ["bbbb"]


def _around_the_clock(service_id, response_minutes=10):
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(sla_around_the_clock=True, sla_response_minutes=response_minutes)
    )
    db.session.commit()


def test_a_storm_is_recorded_in_batches_each_breach_with_one_published_event(
    client, company, token, monkeypatch
):
    """A notification's firing alerts are recorded BATCH to a transaction, the services
    locked in id order whatever order the alerts name them in; each incident is written with
    the marks it has passed, and each breach is announced once, through the outbox."""
    monkeypatch.setattr(alertmanager, "BATCH", 3)
    services = [active_service(company, name=f"Backup {n}") for n in range(4)]
    for service_id in services:
        _around_the_clock(service_id)
    long_ago = STARTS - dt.timedelta(hours=2)  # 30 minutes were enough for the response
    alerts = [
        _alert("firing", f"fp-{n}", service_id, starts=long_ago)
        for n, service_id in enumerate(reversed(services * 2))
    ]
    alerts.append(_alert("firing", "fp-0", services[-1], starts=long_ago))  # twice in one
    response = post(client, "/alertmanager", alertmanager_payload(alerts), token)
    assert _counts(response) == {"opened": 8, "already_open": 1}

    rows = db.session.scalars(select(Incident).order_by(Incident.id)).all()
    assert [r.external_key for r in rows] == [f"fp-{n}" for n in range(8)]
    assert all(r.response_breached_at == long_ago + dt.timedelta(minutes=10) for r in rows)
    assert all(r.response_warned_at is not None for r in rows)  # passed, not announced
    events = db.session.scalars(select(DomainEvent).where(DomainEvent.type.like("ServiceSLA%")))
    announced = sorted((e.type, e.payload["incident_id"], e.payload["kind"]) for e in events)
    assert announced == [("ServiceSLABreached", r.id, "response") for r in rows]
    unpublished = select(db.func.count()).where(DomainEvent.enqueued_at.is_(None))
    assert db.session.scalar(unpublished) == 0


def test_a_refused_incident_in_a_batch_leaves_the_others_recorded(company, other_company):
    mine, cancelled, theirs = (
        active_service(company),
        active_service(company),
        active_service(other_company),
    )
    lc.cancel(company, cancelled, "test", reason="ended")
    news = [
        recording.NewIncident(mine, "First", "high", external_key="a"),
        recording.NewIncident(cancelled, "On a cancelled service", "high"),
        recording.NewIncident(theirs, "Another company's", "high"),
        recording.NewIncident(mine, "Future", "high", opened_at=utcnow() + dt.timedelta(hours=1)),
        recording.NewIncident(mine, "Second", "low", external_key="b"),
        recording.NewIncident(mine, "First again", "high", external_key="a"),
    ]
    first, refused, unknown, future, second, again = recording.record_many(company, news, "t")
    assert first[1] is True and second[1] is True
    assert again == (first[0], False)
    assert isinstance(refused, IncidentRefused) and refused.field == "service_id"
    assert isinstance(unknown, NotFound)
    assert isinstance(future, IncidentRefused) and "future" in str(future)
    titles = db.session.scalars(select(Incident.title).order_by(Incident.id)).all()
    assert titles == ["First", "Second"]


def test_storms_and_single_writers_on_the_same_services_at_once_neither_deadlock_nor_duplicate(
    app, company
):
    """Two notifications naming the same services in opposite orders, and the API's single
    incidents and answers on them, in threads with their own sessions: each batch locks its
    services in id order before writing, so none waits on another in a circle (on
    PostgreSQL, where row locks are taken one by one), and every key is opened once."""
    services = [active_service(company, name=f"Service {n}") for n in range(4)]

    def storm(order):
        def send():
            for round_ in range(5):
                news = [
                    recording.NewIncident(
                        s, "Storm", "high", source="alertmanager", external_key=f"{round_}-{s}"
                    )
                    for s in order
                ]
                recording.record_many(company, news, "storm")

        return send

    def single():
        for round_ in range(5):
            for s in reversed(services):
                new = recording.NewIncident(s, "One", "low", external_key=f"{round_}-{s}")
                incident, _ = recording.record(company, new, "api")
                incidents.acknowledge(company, incident.id, "api")

    assert run_at_once(app, storm(services), storm(services[::-1]), single) == []
    db.session.rollback()
    by_source = db.session.execute(
        select(Incident.source, db.func.count(), db.func.count(db.distinct(Incident.external_key)))
        .group_by(Incident.source)
        .order_by(Incident.source)
    ).all()
    assert [tuple(r) for r in by_source] == [("alertmanager", 20, 20), ("ui", 20, 20)]


def test_an_unusable_alert_is_rejected_without_losing_the_others(
    client, company, other_company, token, service
):
    theirs = active_service(other_company)
    no_fingerprint = _alert("firing", "x", service)
    del no_fingerprint["fingerprint"]
    payload = alertmanager_payload(
        [
            _alert("firing", "1111", service),
            _alert("firing", "2222", 999_999),
            _alert("firing", "3333", theirs),
            {**_alert("firing", "4444", None), "labels": {"alertname": "NoHost"}},
            {**_alert("firing", "5555", service), "startsAt": "not a time"},
            no_fingerprint,
            _alert("firing", "6666", "abc"),
            "not an alert",
            _alert("firing", "7777", service, starts=utcnow() + dt.timedelta(hours=2)),
        ]
    )
    response = post(client, "/alertmanager", payload, token)
    assert response.status_code == 200
    body = response.get_json()
    assert _counts(response) == {"opened": 1}
    rejected = {r["index"]: (r["fingerprint"], r["error"]) for r in body["rejected"]}
    assert rejected[1] == ("2222", "There is no service 999999 in this company.")
    assert rejected[2] == ("3333", f"There is no service {theirs} in this company.")
    assert rejected[3][0] == "4444" and "service_id label" in rejected[3][1]
    assert rejected[4][0] == "5555" and rejected[4][1].startswith("startsAt:")
    assert rejected[5] == (None, "fingerprint: is required")
    assert rejected[6] == ("6666", "The service_id label 'abc' is not a service id.")
    assert rejected[7][0] is None and "must be a JSON object" in rejected[7][1]
    assert rejected[8][0] == "7777" and "future" in rejected[8][1]
    assert len(rejected) == 8
    keys = list(db.session.scalars(select(Incident.external_key)))
    assert keys == ["1111"]
    assert db.session.scalars(select(Incident.company_id)).all() == [company]


def test_the_receiver_url_can_name_the_service(client, company, token, service):
    other = active_service(company, name="Other")
    payload = alertmanager_payload([_alert("firing", "1111"), _alert("firing", "2222", other)])
    response = post(client, f"/alertmanager?service_id={service}", payload, token)
    assert _counts(response) == {"opened": 2}
    by_key = dict(db.session.execute(select(Incident.external_key, Incident.service_id)).all())
    assert by_key == {"1111": service, "2222": other}  # the label wins over the URL
    bad = post(client, "/alertmanager?service_id=abc", payload, token)
    body = assert_error(bad, 422, "service_id")
    assert body["fields"][0]["field"] == "service_id"


def test_resolved_alerts_need_no_service(client, token, service):
    post(
        client,
        f"/alertmanager?service_id={service}",
        alertmanager_payload([_alert("firing", "1111")]),
        token,
    )
    resolved = alertmanager_payload(
        [_alert("resolved", "1111", ends=STARTS + dt.timedelta(minutes=1))]
    )
    assert _counts(post(client, "/alertmanager", resolved, token)) == {"resolved": 1}


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", "critical"),
        ("error", "high"),
        ("High", "high"),
        ("major", "high"),
        ("warning", "medium"),
        ("medium", "medium"),
        ("info", "low"),
        ("low", "low"),
        ("none", "low"),
        ("page", "medium"),
        (None, "medium"),
    ],
)
def test_alert_severity_labels_map_to_incident_severities(client, token, service, label, severity):
    alert = _alert("firing", "1111", service)
    if label is None:
        del alert["labels"]["severity"]
    else:
        alert["labels"]["severity"] = label
    assert _counts(post(client, "/alertmanager", alertmanager_payload([alert]), token)) == {
        "opened": 1
    }
    assert db.session.scalar(select(Incident.severity)).value == severity


def test_titles_come_from_the_summary_else_the_alert_name_and_fit(client, token, service):
    long_summary = _alert("firing", "1111", service, summary="s" * 400)
    unnamed = _alert("firing", "2222", service, summary="  ")
    del unnamed["labels"]["alertname"]
    post(client, "/alertmanager", alertmanager_payload([long_summary, unnamed]), token)
    titles = list(db.session.scalars(select(Incident.title).order_by(Incident.id)))
    assert titles == ["s" * 299 + "…", "Alert 2222"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "alerts"),
        ({"alerts": "none"}, "alerts"),
        ({"alerts": [], "truncatedAlerts": "many"}, "truncatedAlerts"),
        ([], "body"),
    ],
)
def test_a_payload_that_is_not_a_notification_is_a_422(client, token, payload, field):
    response = post(client, "/alertmanager", payload, token)
    body = assert_error(response, 422, field)
    assert body["fields"][0]["field"] == field


def test_an_empty_notification_is_fine_and_malformed_json_is_a_400(client, token):
    empty = post(client, "/alertmanager", alertmanager_payload([]), token)
    assert empty.status_code == 200 and _counts(empty) == {}
    broken = client.post(
        f"{API}/alertmanager",
        data=b'{"alerts": [',
        headers=auth(token),
        content_type="application/json",
    )
    assert_error(broken, 400, "not valid JSON")


def test_alertmanager_needs_the_token_too(client, service):
    response = client.post(
        f"{API}/alertmanager", json=alertmanager_payload([_alert("firing", "1", service)])
    )
    assert_error(response, 401)
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 0


def test_a_nul_character_is_refused_with_a_message_not_a_database_error(
    client, company, token, service
):
    response = post(client, "/incidents", incident_body(service, title="Disk\u0000full"), token)
    assert response.status_code == 422
    assert "NUL" in response.get_json()["error"]
    bad = _alert("firing", "aa11", service, summary="ok")
    bad["labels"]["instance"] = "backup\u000001"
    good = _alert("firing", "bb22", service, summary="Backup failed")
    answer = post(client, "/alertmanager", alertmanager_payload([bad, good]), token)
    assert answer.status_code == 200
    assert _counts(answer) == {"opened": 1}
    assert "NUL" in answer.get_json()["rejected"][0]["error"]


def test_prometheus_running_a_few_minutes_ahead_still_resolves_and_never_reopens(
    client, company, token, service
):
    ahead = utcnow() + dt.timedelta(minutes=3)
    firing = alertmanager_payload([_alert("firing", "cc33", service, starts=ahead)])
    assert _counts(post(client, "/alertmanager", firing, token)) == {"opened": 1}
    ended = utcnow() + dt.timedelta(minutes=10)  # beyond the skew we accept for an opening
    resolved = alertmanager_payload([_alert("resolved", "cc33", service, starts=ahead, ends=ended)])
    assert _counts(post(client, "/alertmanager", resolved, token)) == {"resolved": 1}
    # A peer's late copy of the firing notification does not open it again.
    assert _counts(post(client, "/alertmanager", firing, token)) == {"already_resolved": 1}
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 1
