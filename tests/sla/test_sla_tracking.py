"""SLA clocks on stored incidents, moved through time: warnings, breaches, pauses, business
hours across a daylight-saving change, escalation, and health. Each mark is recorded once."""

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select, update

from tests.support.factories import make_service, make_user, run_at_once
from tests.support.sessions import add_user
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.database import begin_write
from webapp.extensions import db
from webapp.health import scores as health_scores
from webapp.incidents import actions as incidents
from webapp.incidents import recording
from webapp.incidents.checks import IncidentRefused
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla import sweep as sla
from webapp.sla import tracking as sla_tracking
from webapp.sla.models import SlaAlert

MONDAY_9 = dt.datetime(2027, 1, 4, 9)


def events(kind=None):
    db.session.rollback()
    rows = db.session.scalars(select(DomainEvent).order_by(DomainEvent.id)).all()
    return [
        (e.type, e.payload.get("kind"))
        for e in rows
        if e.type in ("ServiceSLAAtRisk", "ServiceSLABreached", "ServiceAlertEscalated")
    ]


def _service(company, **policy):
    manager = make_user(company)
    # With a password: a technician who never took their invitation is told nothing.
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
    service_id = make_service(company, manager_id=manager)
    lc.activate(company, service_id, "test")
    values = {"sla_around_the_clock": True, "sla_response_minutes": 60, **policy}
    db.session.execute(update(ClientService).where(ClientService.id == service_id).values(**values))
    db.session.commit()
    return service_id


def _open(company, service_id, severity="high", **kwargs):
    new = recording.NewIncident(service_id, "Mail server down", severity, **kwargs)
    return recording.record(company, new, "test")[0].id


def test_an_untouched_clock_warns_at_80_percent_then_breaches_once(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        _open(company, service_id)
        assert sla.sweep().events == 0
        clock.shift(dt.timedelta(minutes=48))
        assert sla.sweep().events == 0  # at the threshold itself: not yet past it
        clock.shift(dt.timedelta(seconds=1))
        assert sla.sweep().events == 1
        clock.shift(dt.timedelta(minutes=12))
        assert sla.sweep().events == 1
        clock.shift(dt.timedelta(minutes=5))
        assert sla.sweep().events == 0  # recorded once, however often the sweep runs
        work()
    assert events() == [("ServiceSLAAtRisk", "response"), ("ServiceSLABreached", "response")]
    kinds = sorted(a.kind for a in db.session.scalars(select(SlaAlert)))
    assert kinds == ["at_risk", "response"]
    sent = {(n.listener, n.recipient) for n in db.session.scalars(select(Notification))}
    assert ("notify.sla_at_risk", "tech@msp.example") in sent
    assert {("notify.sla_breached", "manager@msp.example")} <= sent


def test_an_answer_in_time_means_no_response_breach_ever(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        incident_id = _open(company, service_id)
        clock.shift(dt.timedelta(minutes=30))
        incidents.acknowledge(company, incident_id, "tech")
        clock.shift(dt.timedelta(hours=3))
        sla.sweep()
    assert events() == []
    assert db.session.get(Incident, incident_id).next_check_at is not None  # resolution still runs


def test_a_late_answer_breaches_at_once_without_waiting_for_the_sweep(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        incident_id = _open(company, service_id)
        clock.shift(dt.timedelta(minutes=75))
        incidents.acknowledge(company, incident_id, "tech")
    assert events() == [("ServiceSLABreached", "response")]


def test_recording_an_incident_already_past_its_target_breaches_on_record(app, company, work):
    service_id = _service(company)
    _open(company, service_id, opened_at=utcnow() - dt.timedelta(hours=2))
    work()
    assert events() == [("ServiceSLABreached", "response")]  # its warning passed unannounced
    alert = db.session.scalars(select(SlaAlert)).one()
    assert alert.kind == "response" and "Mail server down" in alert.message


def test_resolving_stops_every_clock(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        incident_id = _open(company, service_id)
        clock.shift(dt.timedelta(minutes=20))
        incidents.resolve(company, incident_id, "tech")
        clock.shift(dt.timedelta(days=3))
        sla.sweep()
    assert events() == []
    assert db.session.get(Incident, incident_id).next_check_at is None


def test_a_suspension_pauses_the_clock_and_resuming_restarts_it(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        incident_id = _open(company, service_id)
        clock.shift(dt.timedelta(minutes=10))
        lc.suspend(company, service_id, "test", reason="unpaid")
        assert db.session.get(Incident, incident_id).next_check_at is None
        clock.shift(dt.timedelta(hours=5))
        assert sla.sweep().events == 0
        lc.resume(company, service_id, "test")
        db.session.rollback()
        # 10 minutes ran before the pause: the warning (48) is 38 minutes after resuming.
        assert db.session.get(Incident, incident_id).next_check_at == utcnow() + dt.timedelta(
            minutes=38
        )
        clock.shift(dt.timedelta(minutes=49))
        sla.sweep()
        assert events() == [("ServiceSLAAtRisk", "response")]
        clock.shift(dt.timedelta(minutes=2))
        sla.sweep()
    assert events()[-1] == ("ServiceSLABreached", "response")


def test_business_hours_across_the_spring_clock_change(app, company, work):
    """London 09:00-17:00, 240 minutes to respond. Opened Friday 26 March 2027 at 16:00 GMT:
    one hour on Friday; the clocks go forward on Sunday, so Monday opens at 08:00 UTC; the
    other three hours end at 11:00 UTC, the warning (192 minutes) at 10:12 UTC."""
    row = db.session.get(Company, company)
    row.timezone = "Europe/London"
    row.business_hours = {str(d): ["09:00", "17:00"] for d in range(5)}
    db.session.commit()
    opened = dt.datetime(2027, 3, 26, 16)
    with time_machine.travel(opened, tick=False) as clock:
        service_id = _service(company, sla_around_the_clock=False, sla_response_minutes=240)
        incident_id = _open(company, service_id)
        assert db.session.get(Incident, incident_id).next_check_at == dt.datetime(
            2027, 3, 29, 10, 12
        )
        clock.move_to(dt.datetime(2027, 3, 29, 10, 11))
        assert sla.sweep().events == 0
        clock.move_to(dt.datetime(2027, 3, 29, 10, 12, 1))
        assert sla.sweep().events == 1
        clock.move_to(dt.datetime(2027, 3, 29, 10, 59))
        assert sla.sweep().events == 0
        clock.move_to(dt.datetime(2027, 3, 29, 11, 0, 1))
        assert sla.sweep().events == 1
    assert events() == [("ServiceSLAAtRisk", "response"), ("ServiceSLABreached", "response")]


def test_changing_the_policy_reschedules_open_incidents(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False):
        service_id = _service(company)
        incident_id = _open(company, service_id)
        begin_write(db.session)
        service = db.session.get(ClientService, service_id)
        service.sla_response_minutes = 10
        sla_tracking.reschedule(service_id)
        db.session.commit()
        assert db.session.get(Incident, incident_id).next_check_at == MONDAY_9 + dt.timedelta(
            minutes=8
        )


def test_a_mark_is_recorded_once_when_two_checks_race(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        incident_id = _open(company, service_id)
        clock.shift(dt.timedelta(hours=2))
        begin_write(db.session)
        stale = db.session.get(Incident, incident_id)
        # Another sweep records the breach between our read and our write.
        db.session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(response_breached_at=utcnow(), response_warned_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        assert sla_tracking.check(stale, "test") == []
        db.session.commit()
    assert events() == []


def test_an_unanswered_breach_alert_escalates_once_to_the_escalation_contact(
    app, company, work, smtp
):
    row = db.session.get(Company, company)
    row.escalate_after_minutes, row.escalation_email = 30, "duty@msp.example"
    db.session.commit()
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        _open(company, service_id, opened_at=MONDAY_9 - dt.timedelta(hours=2))
        work()
        clock.shift(dt.timedelta(minutes=29))
        assert sla.sweep().escalated == 0
        clock.shift(dt.timedelta(minutes=2))
        assert sla.sweep().escalated == 1
        assert sla.sweep().escalated == 0
        work()
    escalation = [m for m in smtp.messages if m["To"] == "duty@msp.example"]
    assert len(escalation) == 1
    assert escalation[0]["Subject"].startswith("Escalated: an SLA alert on Managed Backup")
    assert "31 minutes" in escalation[0].get_body(preferencelist=("plain",)).get_content()
    assert db.session.scalars(select(SlaAlert)).one().escalated_at is not None


def test_an_acknowledged_alert_is_not_escalated(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        _open(company, service_id, opened_at=MONDAY_9 - dt.timedelta(hours=2))
        work()
        db.session.execute(update(SlaAlert).values(acknowledged_at=utcnow()))
        db.session.commit()
        clock.shift(dt.timedelta(hours=2))
        assert sla.sweep().escalated == 0


def test_without_an_escalation_contact_the_account_manager_is_told(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        _open(company, service_id, opened_at=MONDAY_9 - dt.timedelta(hours=2))
        work()
        clock.shift(dt.timedelta(minutes=31))
        sla.sweep()
        work()
    recipients = db.session.scalars(
        select(Notification.recipient).where(Notification.listener == "notify.escalated")
    ).all()
    assert recipients == ["manager@msp.example"]


def test_the_breach_mail_reaches_the_manager_and_the_technician(app, company, work, smtp):
    service_id = _service(company)
    _open(company, service_id, opened_at=utcnow() - dt.timedelta(hours=2))
    work()
    breach_mail = {m["To"]: m for m in smtp.messages if m["Subject"].startswith("SLA breached")}
    assert set(breach_mail) == {"manager@msp.example", "tech@msp.example"}
    body = breach_mail["tech@msp.example"].get_body(preferencelist=("plain",)).get_content()
    assert "missed its response target" in body and "Mail server down" in body


def test_incident_changes_mark_health_stale_and_the_sweep_recalculates_once(app, company, work):
    service_id = _service(company, sla_response_minutes=100_000, sla_resolution_minutes=100_000)
    for n in range(5):  # a storm of alerts on one service
        _open(company, service_id, severity="medium", external_key=f"k{n}", source="api")
    assert db.session.get(ClientService, service_id).health_stale
    result = sla.sweep()
    assert result.health_recalculated == 1
    service = db.session.get(ClientService, service_id)
    assert not service.health_stale
    assert {"label": "5 incidents in 30 days", "points": -10} in service.health_factors


def test_availability_is_measured_from_critical_incidents(app, company, work):
    service_id = _service(company, sla_response_minutes=100_000, sla_resolution_minutes=100_000)
    now = utcnow()
    incident_id = _open(
        company, service_id, severity="critical", opened_at=now - dt.timedelta(hours=10)
    )
    incidents.resolve(company, incident_id, "tech", at=now - dt.timedelta(hours=2, minutes=48))
    sla.sweep()
    service = db.session.get(ClientService, service_id)
    # 7.2 hours down in 30 days: 99.0%, against the policy's 99.9% (premium would be 99.9).
    assert float(service.availability_pct) == pytest.approx(99.0, abs=0.001)
    labels = [f["label"] for f in service.health_factors]
    assert "availability 99% below 99.5%" in labels


def test_one_sweep_breaches_many_incidents_and_counts_them(app, company, work):
    service_id = _service(company)
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        for _ in range(3):
            _open(company, service_id)
        clock.shift(dt.timedelta(hours=2))
        result = sla.sweep()
    assert (result.incidents_checked, result.events) == (3, 3)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.response_breached_at.is_not(None))
        )
        == 3
    )


def test_a_cancelled_service_keeps_no_clocks_and_takes_no_new_incidents(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        incident_id = _open(company, service_id)
        lc.cancel(company, service_id, "test", reason="moved away")
        assert db.session.get(Incident, incident_id).next_check_at is None
        clock.shift(dt.timedelta(hours=3))
        sla.sweep()
        with pytest.raises(IncidentRefused, match="cancelled"):
            _open(company, service_id)
    assert events() == []


def test_each_mark_keeps_the_time_the_incident_passed_it(app, company, work):
    service_id = _service(company)
    opened = utcnow().replace(microsecond=0) - dt.timedelta(hours=2)
    incident_id = _open(company, service_id, opened_at=opened)
    incident = db.session.get(Incident, incident_id)
    assert incident.response_breached_at == opened + dt.timedelta(minutes=60)
    assert incident.response_warned_at == opened + dt.timedelta(minutes=48)


def test_an_incident_recorded_after_the_fact_breaches_only_if_it_was_late(app, company, work):
    service_id = _service(company)
    opened = utcnow() - dt.timedelta(hours=5)
    in_time = recording.NewIncident(
        service_id,
        "Handled by phone",
        "low",
        opened_at=opened,
        acknowledged_at=opened + dt.timedelta(minutes=20),
        resolved_at=opened + dt.timedelta(hours=1),
    )
    recording.record(company, in_time, "tech")
    late = recording.NewIncident(
        service_id,
        "Answered late",
        "low",
        opened_at=opened,
        acknowledged_at=opened + dt.timedelta(minutes=90),
    )
    recording.record(company, late, "tech")
    assert events() == [("ServiceSLABreached", "response")]


def test_resuming_publishes_a_breach_it_finds_at_once(app, company, work):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        _open(company, service_id)
        clock.shift(dt.timedelta(minutes=50))
        lc.suspend(company, service_id, "test", reason="unpaid")
        db.session.execute(
            update(ClientService)
            .where(ClientService.id == service_id)
            .values(sla_response_minutes=30)
        )
        db.session.commit()
        lc.resume(company, service_id, "test")  # 50 of now 30 minutes ran: breached
    db.session.rollback()
    breach_event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceSLABreached")
    ).one()
    assert breach_event.enqueued_at is not None  # sent with the resume, not left to the relay


def test_a_row_that_cannot_be_checked_is_put_aside_and_the_others_go_on(
    app, company, work, monkeypatch
):
    with time_machine.travel(MONDAY_9, tick=False) as clock:
        service_id = _service(company)
        broken, fine = _open(company, service_id), _open(company, service_id)
        real_check = sla_tracking.check

        def check(incident, actor, now=None):
            if incident.id == broken:
                raise ValueError("unreadable business hours")
            return real_check(incident, actor, now)

        monkeypatch.setattr(sla_tracking, "check", check)
        clock.shift(dt.timedelta(hours=2))
        result = sla.sweep()
        assert (result.failed, result.events) == (1, 1)
        assert db.session.get(Incident, broken).next_check_at == utcnow() + sla.RETRY_FAILED_AFTER
        assert db.session.get(Incident, fine).response_breached_at is not None
        # Nothing is left holding the write lock: another writer gets through at once.
        begin_write(db.session)
        db.session.execute(update(Company).values(name="Still writable"))
        db.session.commit()


def test_a_slow_fall_counts_as_much_as_a_sudden_one_told_once_per_ten_points(app, company, work):
    service_id = _service(company, sla_response_minutes=100_000, sla_resolution_minutes=100_000)
    begin_write(db.session)
    health_scores.recalculate(service_id, "test")  # the first score: 100
    db.session.commit()
    scores = []
    for n in range(5):  # a high-severity incident a minute: -5 each
        _open(company, service_id, external_key=f"k{n}", source="api")
        sla.sweep()
        scores.append(db.session.get(ClientService, service_id).health_score)
    assert scores == [95, 90, 85, 80, 75]
    degraded = db.session.scalars(
        select(DomainEvent.payload).where(DomainEvent.type == "ServiceHealthDegraded")
    ).all()
    assert [(p["previous_score"], p["score"]) for p in degraded] == [(100, 90), (90, 80)]


def test_an_assignee_from_another_company_is_not_found(app, company, work, other_company):
    from webapp.tenancy import NotFound

    stranger = make_user(other_company, "stranger@other.example", UserRole.TECHNICIAN)
    service_id = _service(company)
    with pytest.raises(NotFound):
        _open(company, service_id, assignee_id=stranger)
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 0


def test_answers_suspensions_and_sweeps_at_once_neither_deadlock_nor_double_count(
    app, company, work
):
    """Three writers on one service, in threads with their own sessions: technicians
    answering, an account manager suspending and resuming, and the sweep. They lock in one
    order (service, then incident), so none fails, and each mark is recorded at most once."""
    service_id = _service(company, sla_response_minutes=1, sla_resolution_minutes=2)
    ids = [
        _open(company, service_id, opened_at=utcnow() - dt.timedelta(seconds=50)) for _ in range(12)
    ]

    def answer():
        for n, incident_id in enumerate(ids):
            (incidents.acknowledge if n % 2 else incidents.resolve)(company, incident_id, "t")

    def suspend_and_resume():
        for _ in range(4):
            lc.suspend(company, service_id, "am", reason="check")
            lc.resume(company, service_id, "am")

    def sweep():
        for _ in range(4):
            sla.sweep(utcnow() + dt.timedelta(minutes=5))

    assert run_at_once(app, answer, suspend_and_resume, sweep) == []
    db.session.rollback()
    per_mark = db.session.execute(
        select(DomainEvent.type, DomainEvent.payload).where(
            DomainEvent.type.in_(("ServiceSLABreached", "ServiceSLAAtRisk"))
        )
    ).all()
    keys = [(t, p["incident_id"], p["kind"]) for t, p in per_mark]
    assert len(keys) == len(set(keys))
