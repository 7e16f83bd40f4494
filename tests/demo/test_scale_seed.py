"""The scale seed (flask seed-scale, the benchmarks' data) writes events as the domain does:
the service page of a service with a seeded renewal opened with a KeyError (months) and stopped
the full-size page benchmark."""

from sqlalchemy import select

from tests.support.sessions import Session, add_user
from webapp.demo.scale import seed_scale
from webapp.extensions import db
from webapp.lifecycle import events as ev
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent


def test_every_seeded_event_is_one_its_type_can_read_and_pages_show(app):
    company_id = seed_scale(services=200, clients=20, incidents=0, events=400).company_id
    seeded = db.session.scalars(select(DomainEvent).where(DomainEvent.company_id == company_id))
    renewed = None
    for event in seeded:
        read = getattr(ev, event.type).from_payload(event.payload)
        assert read.payload() == event.payload, event.type
        if event.type == "ServiceRenewed":
            renewed = event.service_id
    assert renewed is not None
    add_user(company_id, UserRole.VIEWER, "viewer@scale.example")
    page = Session(app.test_client(), "viewer@scale.example").get(f"/services/{renewed}")
    assert page.status_code == 200
    assert "12 months" in page.get_data(as_text=True)
