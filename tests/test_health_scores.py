"""Health scores recalculated from stored facts, and the degraded event they raise."""

import datetime as dt

from sqlalchemy import select

from jobs import periodic
from tests.conftest import breach, make_service, make_user
from webapp import service_lifecycle as lc
from webapp.extensions import db
from webapp.models import ClientService, DomainEvent, HealthSnapshot, Notification, SlaAlert


def _service(company, **values):
    service_id = make_service(company, manager_id=make_user(company))
    lc.activate(company, service_id, "test")
    if values:
        db.session.execute(
            ClientService.__table__.update().where(ClientService.id == service_id).values(**values)
        )
        db.session.commit()
    return service_id


def test_a_breach_raises_an_alert_and_lowers_the_score_with_its_reason(app, company, work):
    service_id = _service(company)
    breach(company, service_id, severity="low")
    work()
    service = db.session.get(ClientService, service_id)
    assert service.health_score == 94
    assert service.health_factors == [
        {"label": "1 SLA breach in 90 days", "points": -5},
        {"label": "1 incident in 30 days", "points": -1},  # low severity
    ]
    assert db.session.scalar(select(db.func.count()).select_from(SlaAlert)) == 1
    assert [s.score for s in db.session.scalars(select(HealthSnapshot))] == [94]


def test_a_drop_of_ten_points_tells_the_account_manager(app, company, work):
    service_id = _service(company, health_score=100, satisfaction=1)  # -8 -5 -1 on recalculation
    breach(company, service_id, severity="low")
    work()
    db.session.rollback()
    degraded = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceHealthDegraded")
    ).one()
    assert degraded.payload == {"service_id": service_id, "previous_score": 100, "score": 86}
    subjects = [
        n.subject
        for n in db.session.scalars(
            select(Notification).where(Notification.listener == "notify.health_degraded")
        )
    ]
    assert subjects == ["Health of Managed Backup fell to 86"]
    kinds = sorted(a.kind for a in db.session.scalars(select(SlaAlert)))
    assert kinds == ["health", "response"]


def test_nightly_recalculation_counts_overdue_reviews(app, company):
    service_id = _service(
        company,
        start_date=dt.date.today() - dt.timedelta(days=400),
        last_reviewed_on=dt.date.today() - dt.timedelta(days=150),
    )
    assert periodic.recalculate_health() == 1
    db.session.rollback()
    service = db.session.get(ClientService, service_id)
    assert service.health_score == 94
    assert service.health_factors == [{"label": "last review 150 days ago", "points": -6.0}]
