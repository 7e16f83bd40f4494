"""Text that enters by the API obeys the forms' rule (webapp.text): a title or an external id is
one line, a description may have several; a refusal names the field and records nothing. What
Alertmanager sends is folded onto one line instead, so that no alert is lost for it."""

import pytest
from sqlalchemy import func, select

from tests.api.test_api import _alert, alertmanager_payload, assert_error, incident_body, post
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.pipeline.models import DomainEvent


def recorded() -> tuple[int, int]:
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(Incident)),
        db.session.scalar(select(func.count()).select_from(DomainEvent)),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "Disk full\r\nBcc: x@y"}, "title"),
        ({"title": "Disk\u2028full"}, "title"),
        ({"title": "Disk\x85full"}, "title"),
        ({"external_id": "abc\x1bdef"}, "external_id"),
        ({"description": "see\x07bell"}, "description"),
    ],
)
def test_a_line_break_or_control_character_is_a_422_naming_the_field(
    client, token, service, change, field
):
    before = recorded()
    response = post(client, "/incidents", incident_body(service) | change, token)
    body = assert_error(response, 422, f"{field}:", "control characters")
    assert [f["field"] for f in body["fields"]] == [field]
    assert recorded() == before


def test_a_description_keeps_its_lines(client, token, service):
    response = post(
        client, "/incidents", incident_body(service, description="Disk full\r\non /var"), token
    )
    assert response.status_code == 201
    assert response.get_json()["description"] == "Disk full\r\non /var"


@pytest.mark.parametrize(
    ("summary", "alertname", "title"),
    [
        ("Disk full\r\nBcc: x@y", "DiskFull", "Disk full Bcc: x@y"),
        ("Disk\u2028full \x85 on /var\n", "DiskFull", "Disk full on /var"),
        ("\r\n", "Disk\nFull", "Disk Full"),  # nothing but breaks: the alert's name
    ],
)
def test_an_alertmanager_summary_over_several_lines_becomes_a_one_line_title(
    client, token, service, summary, alertname, title
):
    """Folded, not refused: Alertmanager does not send a refused alert again."""
    alert = _alert("firing", "a1b2c3", service, summary=summary, description="Disk\r\nfull")
    alert["labels"]["alertname"] = alertname
    response = post(client, "/alertmanager", alertmanager_payload([alert]), token)
    assert response.status_code == 200
    assert response.get_json()["opened"] == 1
    incident = db.session.scalars(select(Incident)).one()
    assert incident.title == title
    assert incident.description.startswith("Disk\r\nfull\n\n")  # a description keeps its lines


def test_a_refused_alerts_fingerprint_is_answered_on_one_line(client, token, service):
    alert = _alert("firing", "abc\r\ndef", service)
    before = recorded()
    response = post(client, "/alertmanager", alertmanager_payload([alert]), token)
    assert response.status_code == 200
    [rejected] = response.get_json()["rejected"]
    assert rejected["fingerprint"] == "abc def" and "fingerprint" in rejected["error"]
    assert recorded() == before
