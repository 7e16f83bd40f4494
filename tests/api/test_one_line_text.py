"""Text that enters by the API obeys the forms' rule (webapp.text): a title or an external id is
one line, a description may have several; a refusal names the field and records nothing."""

import pytest
from sqlalchemy import func, select

from tests.api.test_api import assert_error, incident_body, post
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
