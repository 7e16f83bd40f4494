"""Health scores recalculated from stored facts, and the degraded event they raise."""

import datetime as dt

import time_machine
from sqlalchemy import select

from tests.support.factories import breach, make_service, make_user
from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.health import nightly as periodic
from webapp.health import scores as health_scores
from webapp.health.models import HealthSnapshot
from webapp.incidents import recording
from webapp.lifecycle.registry import listeners_for
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert


def _service(company, **values):
    manager = db.session.scalar(select(User.id).where(User.company_id == company))
    service_id = make_service(company, manager_id=manager or make_user(company))
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


def _scores():
    db.session.rollback()
    return {
        s.id: (s.health_score, s.health_factors, s.availability_pct, s.health_baseline)
        for s in db.session.scalars(select(ClientService))
    }


def test_the_nightly_sweep_scores_as_the_single_service_path_does(app, company, monkeypatch):
    monkeypatch.setattr("webapp.database.SWEEP_CHUNK", 2)  # chunks of 2, 2 and 1
    with time_machine.travel(utcnow(), tick=False):
        year_ago = dt.date.today() - dt.timedelta(days=400)
        ids = [
            _service(company),
            _service(company, start_date=year_ago, satisfaction=7),
            _service(company, start_date=year_ago, last_reviewed_on=year_ago),
            _service(company),
            _service(company),
        ]
        breach(company, ids[3], severity="low")
        breach(company, ids[3], kind="resolution", severity="medium")
        recording.record(
            company,
            recording.NewIncident(
                ids[4], "down", "critical", opened_at=utcnow() - dt.timedelta(hours=20)
            ),
            "test",
        )
        assert periodic.recalculate_health() == 5
        swept = _scores()
        for service_id in ids:
            begin_write(db.session)
            health_scores.recalculate(service_id, "test")
            db.session.commit()
        assert _scores() == swept
    assert len({score for score, *_ in swept.values()}) == 5


def test_a_degraded_score_is_told_once_over_two_nightly_runs(app, company, work):
    service_id = _service(
        company,
        health_score=100,
        health_stale=True,
        satisfaction=1,  # -8
        start_date=dt.date.today() - dt.timedelta(days=400),  # never reviewed: -15
    )
    assert periodic.recalculate_health() == 1
    assert periodic.recalculate_health() == 1
    db.session.rollback()
    degraded = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceHealthDegraded")
    ).one()
    assert degraded.payload == {"service_id": service_id, "previous_score": 100, "score": 77}
    assert degraded.actor == "scheduler" and degraded.enqueued_at is not None
    listeners = db.session.scalars(
        select(ListenerDelivery.listener).where(ListenerDelivery.event_id == degraded.id)
    ).all()
    assert sorted(listeners) == sorted(x.name for x in listeners_for(degraded.type))
    service = db.session.get(ClientService, service_id)
    assert (service.health_score, service.health_baseline, service.health_stale) == (77, 77, False)
    assert [s.score for s in db.session.scalars(select(HealthSnapshot))] == [77, 77]
    work()
    notes = db.session.scalars(
        select(Notification.subject).where(Notification.listener == "notify.health_degraded")
    ).all()
    assert set(notes) == {"Health of Managed Backup fell to 77"}
