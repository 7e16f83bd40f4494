"""Renewal reminders and auto-renewal, with the clock moved by time-machine."""

import datetime as dt

import time_machine
from sqlalchemy import select

from tests.support.factories import make_service, make_user
from webapp.company.models import Company
from webapp.extensions import db
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent
from webapp.renewals import sweep as renewals
from webapp.renewals.models import RenewalReminder
from webapp.services import actions as lc
from webapp.services.models import ClientService

START = dt.datetime(2027, 1, 1, 6, 0, tzinfo=dt.UTC)


def _service_ending_in(company, days, **kw):
    service_id = make_service(company, term_months=1, **kw)
    lc.activate(company, service_id, "test")
    db.session.execute(
        ClientService.__table__.update()
        .where(ClientService.id == service_id)
        .values(term_end=START.date() + dt.timedelta(days=days))
    )
    db.session.commit()
    return service_id


def _reminders():
    db.session.rollback()
    return [
        (r.days_before, r.status)
        for r in db.session.scalars(
            select(RenewalReminder).order_by(RenewalReminder.days_before.desc())
        )
    ]


def _due_events():
    db.session.rollback()
    return [
        e.payload["days_before"]
        for e in db.session.scalars(
            select(DomainEvent)
            .where(DomainEvent.type == "ServiceDueForRenewal")
            .order_by(DomainEvent.id)
        )
    ]


def test_daily_runs_send_30_14_and_7_day_reminders_exactly_once(app, company):
    with time_machine.travel(START, tick=False) as traveller:
        _service_ending_in(company, 40)
        for _ in range(45):
            renewals.send_reminders()
            renewals.send_reminders()  # a second run the same day changes nothing
            traveller.shift(dt.timedelta(days=1))
    assert _due_events() == [30, 14, 7]
    assert _reminders() == [(30, "sent"), (14, "sent"), (7, "sent")]


def test_missed_days_are_caught_up_with_the_nearest_reminder_only(app, company):
    with time_machine.travel(START, tick=False) as traveller:
        _service_ending_in(company, 10)  # the scheduler was down through the 30-day mark
        renewals.send_reminders()
        assert _due_events() == [14]
        traveller.shift(dt.timedelta(days=5))
        renewals.send_reminders()
    assert _due_events() == [14, 7]
    assert _reminders() == [(30, "skipped"), (14, "sent"), (7, "sent")]


def test_a_renewed_term_gets_its_own_reminders(app, company):
    with time_machine.travel(START, tick=False):
        service_id = _service_ending_in(company, 7)
        renewals.send_reminders()
        lc.renew(company, service_id, "test", months=1)  # the new term ends in 7 days + a month
    with time_machine.travel(START + dt.timedelta(days=31), tick=False):
        renewals.send_reminders()
    assert _due_events() == [7, 7]


def test_cancelled_and_pending_services_get_no_reminders(app, company):
    with time_machine.travel(START, tick=False):
        cancelled = _service_ending_in(company, 7)
        lc.cancel(company, cancelled, "test", reason="leaving", at_term_end=True)
        make_service(company)  # pending
        renewals.send_reminders()
    assert _due_events() == []


def test_thresholds_are_set_per_company(app, company):
    db.session.get(Company, company).renewal_reminder_days = "60,10"
    db.session.commit()
    with time_machine.travel(START, tick=False) as traveller:
        _service_ending_in(company, 61)
        for _ in range(62):
            renewals.send_reminders()
            traveller.shift(dt.timedelta(days=1))
    assert _due_events() == [60, 10]


def test_the_reminder_reaches_client_and_account_manager(app, company, work):
    manager = make_user(company)
    with time_machine.travel(START, tick=False):
        _service_ending_in(company, 14, manager_id=manager)
        renewals.send_reminders()
    work()
    notes = db.session.scalars(
        select(Notification).where(Notification.listener == "notify.renewal_due")
    ).all()
    assert sorted(n.recipient for n in notes) == ["it@acme.example", "manager@msp.example"]
    assert notes[0].subject == "Managed Backup renews in 14 days"


def test_auto_renew_services_renew_at_term_end_and_catch_up_missed_terms(app, company):
    with time_machine.travel(START, tick=False):
        due = _service_ending_in(company, 0, auto_renew=True)
        late = _service_ending_in(company, -70, auto_renew=True)  # three monthly terms missed
        manual = _service_ending_in(company, -1)
        assert renewals.auto_renew_due() == 1 + 3
        assert renewals.auto_renew_due() == 0
    db.session.rollback()
    term_ends = {s.id: s.term_end for s in db.session.scalars(select(ClientService))}
    assert term_ends[due] == dt.date(2027, 2, 1)
    assert term_ends[late] > START.date()
    assert term_ends[manual] == dt.date(2026, 12, 31)  # not auto-renew: left to expire
    actors = set(
        db.session.scalars(select(DomainEvent.actor).where(DomainEvent.type == "ServiceRenewed"))
    )
    assert actors == {"scheduler"}


def test_a_sweep_over_chunks_reminds_each_service_once_however_often_it_runs(
    app, company, monkeypatch
):
    monkeypatch.setattr("webapp.database.SWEEP_CHUNK", 3)
    with time_machine.travel(START, tick=False):
        days = [3, 10, 20, 25, 29, 30, 31, 60]
        services = [_service_ending_in(company, d) for d in days]
        assert renewals.send_reminders() == 6  # all but the 31- and 60-day ones
        assert renewals.send_reminders() == 0
    sent = db.session.execute(
        select(RenewalReminder.service_id, RenewalReminder.days_before, DomainEvent.payload)
        .join(DomainEvent, DomainEvent.id == RenewalReminder.event_id)
        .where(RenewalReminder.status == "sent")
    ).all()
    assert sorted((s, d) for s, d, _ in sent) == sorted(
        zip(services[:6], [7, 14, 30, 30, 30, 30], strict=True)
    )
    assert all(payload["days_before"] == d for _, d, payload in sent)
    unenqueued = db.session.scalar(select(db.func.count()).where(DomainEvent.enqueued_at.is_(None)))
    assert unenqueued == 0  # published after commit


def test_a_concurrent_sweep_does_not_send_a_reminder_twice(app, company, monkeypatch):
    decide = renewals._due_reminders
    overtaken = []

    def decide_then_be_overtaken(*args):
        rows = decide(*args)  # this sweep has decided; another one records it first
        monkeypatch.setattr(renewals, "_due_reminders", decide)
        overtaken.append(renewals.send_reminders())
        return rows

    monkeypatch.setattr(renewals, "_due_reminders", decide_then_be_overtaken)
    with time_machine.travel(START, tick=False):
        _service_ending_in(company, 10)
        _service_ending_in(company, 20)
        assert renewals.send_reminders() == 0
    assert overtaken == [2]
    assert sorted(_due_events()) == [14, 30]
    assert sorted(_reminders()) == [(14, "sent"), (30, "sent"), (30, "skipped")]


def test_auto_renewal_over_chunks_moves_each_term_and_version_once_per_term(
    app, company, monkeypatch
):
    monkeypatch.setattr("webapp.database.SWEEP_CHUNK", 2)
    with time_machine.travel(START, tick=False):
        behind = {_service_ending_in(company, -d, auto_renew=True): d for d in (0, 20, 40, 70)}
        before = {s.id: s.version for s in db.session.scalars(select(ClientService))}
        assert renewals.auto_renew_due() == 1 + 1 + 2 + 3
        assert renewals.auto_renew_due() == 0
    db.session.rollback()
    for service in db.session.scalars(select(ClientService)):
        terms = {0: 1, 20: 1, 40: 2, 70: 3}[behind[service.id]]
        assert service.term_end > START.date()
        assert (service.renewal_count, service.version) == (terms, before[service.id] + terms)
    renewed = db.session.scalars(
        select(DomainEvent.payload)
        .where(DomainEvent.type == "ServiceRenewed")
        .order_by(DomainEvent.id)
    ).all()
    assert len(renewed) == 7
    assert all(p["months"] == 1 for p in renewed)


def test_auto_renewal_refuses_a_service_that_ended_after_it_was_selected(app, company, monkeypatch):
    renew = renewals._renew

    def end_one_first(service_ids):
        db.session.execute(
            ClientService.__table__.update()
            .where(ClientService.id == ended)
            .values(status="expired")
        )
        db.session.commit()
        return renew(service_ids)

    monkeypatch.setattr(renewals, "_renew", end_one_first)
    with time_machine.travel(START, tick=False):
        ended = _service_ending_in(company, 0, auto_renew=True)
        kept = _service_ending_in(company, 0, auto_renew=True)
        assert renewals.auto_renew_due() == 1
    db.session.rollback()
    renewed = db.session.scalars(
        select(DomainEvent.service_id).where(DomainEvent.type == "ServiceRenewed")
    ).all()
    assert renewed == [kept]
    assert db.session.get(ClientService, ended).term_end == START.date()
