"""The JSON API fuzzed by schemathesis from its own published document, in process (WSGI), with
a valid bearer token: never a 5xx, answers that match the document, every error JSON that says
what is wrong (and, for a field, which one), and a refused request writes nothing.

Plus the bodies no schema generates: one past API_MAX_CONTENT_LENGTH, broken JSON, and odd
unicode (NUL, lone surrogates) inside otherwise valid JSON.
"""

import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz import strategies as fz
from tests.support import fault_report
from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import active_service, make_client
from webapp.accounts import api_tokens
from webapp.extensions import db
from webapp.incidents import recording

pytestmark = pytest.mark.fuzz

API = "/api/v1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# What an API client may change besides what it asked for: the token's "last used" hint.
BOOKKEEPING = {"api_tokens"}


def fresh_context(app):
    """The app as a WSGI callable that gives each request its own app context (as a server
    does); the test's own context would otherwise be shared by every request."""

    def wsgi(environ, start_response):
        with app.app_context():
            return list(app(environ, start_response))

    return wsgi


@pytest.fixture
def api(app, company, other_company):
    client = make_client(company)
    service = active_service(company, client)
    other = active_service(other_company, make_client(other_company, name="Other client"))
    new = recording.NewIncident(service, "Disk full", "high", external_key="disk-1")
    incident = recording.record(company, new, "test")[0].id
    token = api_tokens.create(company, "fuzz", "test")[1]
    db.session.commit()
    return {"token": token, "service": service, "other": other, "incident": incident}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_clear_error(content_type: str, body: bytes, status: int):
    """A 4xx is JSON {"error": "<sentence>"}; a 422 lists each field with its problem."""
    assert content_type.startswith("application/json"), (status, content_type, body[:300])
    error = json.loads(body)
    assert isinstance(error.get("error"), str) and len(error["error"]) > 10, error
    if status == 422 and "fields" in error:
        assert error["fields"], error
        for problem in error["fields"]:
            assert problem["field"] and problem["message"], error


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_never_fails_and_keeps_to_its_document(app, api, mode):
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", fresh_context(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5  # the document lists every route (tests/api/test_api.py checks it)
    strategy = st.one_of(op.as_strategy(generation_mode=mode) for op in operations)
    # Real ids beside generated ones, so that some cases reach real rows: the company's
    # service and incident, and another company's service (a 404 like any unknown one).
    known = st.sampled_from([None, api["service"], api["other"], api["incident"]])
    tally = Counter()

    # One app and database for all examples; each compares the database before and after
    # itself, so examples do not depend on what earlier ones wrote.
    @settings(
        max_examples=100 if mode == GenerationMode.POSITIVE else 80,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
        ],
    )
    @given(case=strategy, real_id=known)
    def call(case, real_id):
        tally["inputs"] += 1
        if real_id is not None:
            if isinstance(case.body, dict) and "service_id" in case.body:
                case.body["service_id"] = real_id
            if case.path_parameters and "incident_id" in case.path_parameters:
                case.path_parameters["incident_id"] = real_id
        before = snapshot()
        response = case.call(headers=auth(api["token"]))
        after = snapshot()
        db.session.rollback()
        case.validate_response(response, checks=CHECKS, headers=auth(api["token"]))
        status = response.status_code
        tally["accepted"] += status < 300
        if 400 <= status < 500:
            tally["refused"] += 1
            content_type = response.headers.get("content-type", [""])[0]  # lowercase keys
            assert_clear_error(content_type, response.content, status)
            written = changed_tables(before, after) - BOOKKEEPING
            tally["lost"] += bool(written)
            assert not written, ("a refused request wrote", written, case.path, case.body)

    try:
        call()
    finally:
        fault_report.record(
            f"API fuzzed (schemathesis, {mode.value})",
            faults=0,
            inputs=tally["inputs"],
            lost=tally["lost"],
            doubled=0,
        )
    assert tally["lost"] == 0
    assert tally["inputs"] >= 80
    # Valid requests reached real rows and were taken; invalid ones were refused.
    assert tally["accepted"] if mode == GenerationMode.POSITIVE else tally["refused"], tally


# --- What no schema generates ---------------------------------------------------------------


def test_a_body_past_the_limit_is_a_413_that_says_the_limit(app, client, api):
    limit = app.config["API_MAX_CONTENT_LENGTH"]
    body = b'{"title": "' + b"x" * limit + b'"}'
    response = client.post(
        f"{API}/incidents", data=body, content_type="application/json", headers=auth(api["token"])
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == (
        f"The body is too large: this API accepts at most {limit} bytes."
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"service_id": 1,', "EOF while parsing"),
        (b"{'service_id': 1}", "key must be a string"),
        (b'{"service_id": 1} trailing', "trailing characters"),
        (b"\xff\xfe{}", "line 1 column 1"),
    ],
)
def test_malformed_json_is_a_400_naming_the_problem(client, api, body, problem):
    response = client.post(
        f"{API}/incidents", data=body, content_type="application/json", headers=auth(api["token"])
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error.startswith("The body is not valid JSON:") and problem in error, error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Disk \x00 full"),
        ("description", "\x00"),
        ("external_id", "a\x00b"),
    ],
)
def test_nul_in_text_is_a_422_naming_the_field(client, api, field, value):
    body = {"service_id": api["service"], "title": "Disk full", "severity": "high", field: value}
    before = snapshot()
    response = client.post(f"{API}/incidents", json=body, headers=auth(api["token"]))
    assert response.status_code == 422, response.get_data(as_text=True)
    fields = response.get_json()["fields"]
    assert [p["field"] for p in fields] == [field] and "NUL" in fields[0]["message"]
    assert changed_tables(before, snapshot()) <= BOOKKEEPING


def test_a_lone_surrogate_in_json_is_a_400_naming_where(client, api):
    # Valid-looking JSON, but "\ud800" alone is no character: it could be neither stored nor
    # sent back, so the body is refused at the place it stands.
    body = b'{"service_id": %d, "title": "Disk \\ud800 full", "severity": "high"}' % api["service"]
    before = snapshot()
    response = client.post(
        f"{API}/incidents", data=body, content_type="application/json", headers=auth(api["token"])
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error.startswith("The body is not valid JSON:") and "line 1 column 40" in error
    assert changed_tables(before, snapshot()) <= BOOKKEEPING


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=fz.odd_text, severity=st.sampled_from(["high", "urgent", "", "HIGH"]))
def test_every_api_error_is_json_and_names_the_field(client, api, title, severity):
    body = {"service_id": api["service"], "title": title, "severity": severity}
    response = client.post(f"{API}/incidents", json=body, headers=auth(api["token"]))
    db.session.rollback()
    assert response.status_code in (200, 201, 400, 422), response.get_data(as_text=True)
    if response.status_code == 400:  # a lone surrogate: JSON no character can be read from
        error = response.get_json()["error"]
        assert error.startswith("The body is not valid JSON:") and "column" in error, error
    if response.status_code == 422:
        error = response.get_json()
        named = {p["field"] for p in error["fields"]}
        assert named <= {"title", "severity"} and named, error
        for name in named:
            assert f"{name}:" in error["error"], error
