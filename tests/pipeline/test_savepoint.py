"""outbox.savepoint(): a part of a unit of work that fails alone (one alert of an Alertmanager
notification), taking its rows and its events with it."""

import pytest
from sqlalchemy import select

from tests.support.factories import make_service
from webapp.extensions import db
from webapp.lifecycle.events import ServiceSLABreached
from webapp.pipeline import outbox
from webapp.pipeline.models import DomainEvent


def test_a_failed_savepoint_rolls_back_its_events_and_the_rest_commits(company, monkeypatch):
    service_id = make_service(company)
    published = []
    monkeypatch.setattr(outbox, "publish", published.extend)
    with outbox.unit_of_work():
        kept = outbox.record(ServiceSLABreached(service_id, 1, "response"), company, "t").id
        with pytest.raises(RuntimeError), outbox.savepoint():
            outbox.record(ServiceSLABreached(service_id, 2, "response"), company, "t")
            raise RuntimeError("this part fails")
        with outbox.savepoint():
            also = outbox.record(ServiceSLABreached(service_id, 3, "response"), company, "t").id
    db.session.rollback()
    breaches = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceSLABreached").order_by(DomainEvent.id)
    ).all()
    assert [(e.id, e.payload["incident_id"]) for e in breaches] == [(kept, 1), (also, 3)]
    # Only what committed is published: an id of a rolled-back row would be a job for nothing.
    assert published == [kept, also]
