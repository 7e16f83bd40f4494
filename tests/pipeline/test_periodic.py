"""Scheduler registration and the periodic sweeps."""

import datetime as dt

from rq.job import Job
from rq_scheduler import Scheduler
from sqlalchemy import select

from tests.support.factories import make_service
from webapp.billing.models import RecurringBilling
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingStatus, ServiceStatus
from webapp.pipeline import relay as pipeline_relay
from webapp.pipeline import schedule
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.queues import redis_connection
from webapp.pipeline.worker import PeriodicScheduler
from webapp.services import actions as lc
from webapp.services import expiry as services_expiry
from webapp.services.models import ClientService


def test_restarting_the_scheduler_ten_times_keeps_each_periodic_job_once(app):
    for _ in range(10):
        scheduler = Scheduler(connection=redis_connection())
        schedule.register(scheduler, app.config)
    jobs = [j.id for j in Scheduler(connection=redis_connection()).get_jobs()]
    assert sorted(jobs) == sorted(p.id for p in schedule.periodic_jobs(app.config))


def test_the_daily_bill_run_is_scheduled_unless_turned_off(app):
    scheduler = Scheduler(connection=redis_connection())
    assert "periodic-bill-run" in schedule.register(scheduler, app.config)
    # Off: invoices by `flask billing run` alone; a scheduler restarted drops the job.
    registered = schedule.register(scheduler, {**app.config, "BILL_RUN_SCHEDULED": False})
    assert "periodic-bill-run" not in registered
    assert "periodic-bill-run" not in [j.id for j in scheduler.get_jobs()]


def test_periodic_job_no_longer_wanted_is_removed(app, monkeypatch):
    scheduler = Scheduler(connection=redis_connection())
    schedule.register(scheduler, app.config)
    fewer = schedule.periodic_jobs(app.config)[:1]
    monkeypatch.setattr(schedule, "periodic_jobs", lambda config: fewer)
    schedule.register(scheduler, app.config)
    assert [j.id for j in scheduler.get_jobs()] == [fewer[0].id]


def test_a_periodic_job_keeps_its_record_between_runs_and_notes_each_run(app, work):
    """An hourly job's record expired ten minutes after its run (result_ttl=600), and
    rq-scheduler then dropped the job for good when it next came due."""
    conn = redis_connection()
    scheduler = Scheduler(connection=conn)
    ids = schedule.register(scheduler, app.config)
    scheduler.enqueue_jobs()  # each is due at once
    assert work() == len(ids)
    for job_id in ids:
        assert conn.ttl(Job.key_for(job_id)) == -1, job_id  # kept until its next run
        assert conn.hget(schedule.LAST_RUN_KEY, job_id) is not None, job_id
    assert sorted(j.id for j in scheduler.get_jobs()) == ids


def test_the_scheduler_loop_registers_a_deleted_periodic_job_again(app):
    conn = redis_connection()
    scheduler = PeriodicScheduler(connection=conn, config=app.config)
    ids = schedule.register(scheduler, app.config)
    Job.fetch("periodic-renewals", connection=conn).delete()  # as rq-dashboard's "empty" did
    assert [s.id for s in schedule.periodic_state(conn, app.config) if s.missing] == [
        "periodic-renewals"
    ]
    scheduler.enqueue_jobs()  # one turn of its loop
    assert sorted(j.id for j in scheduler.get_jobs()) == ids
    assert not any(s.missing for s in schedule.periodic_state(conn, app.config))


def test_the_scheduler_writes_its_record_again_when_redis_lost_it(app):
    """Else /healthz would say no scheduler runs while it does (Redis restarted empty or
    failed over without the loop noticing)."""
    conn = redis_connection()
    scheduler = PeriodicScheduler(connection=conn, config=app.config, interval=5)
    scheduler.register_birth()
    conn.delete(scheduler.key)
    scheduler.heartbeat()
    assert conn.hexists(scheduler.key, "birth") and conn.ttl(scheduler.key) > 0


def _backdate(service_id, **values):
    db.session.execute(
        ClientService.__table__.update().where(ClientService.id == service_id).values(**values)
    )
    db.session.commit()


def test_expiry_sweep_expires_only_services_past_grace_without_auto_renew(app, company, work):
    old = dt.date.today() - dt.timedelta(days=app.config["EXPIRY_GRACE_DAYS"] + 1)
    due, auto, recent = (make_service(company, name=n) for n in ("due", "auto", "recent"))
    for service_id in (due, auto, recent):
        lc.activate(company, service_id, "test")
    _backdate(due, term_end=old)
    _backdate(auto, term_end=old, auto_renew=True)
    _backdate(recent, term_end=dt.date.today() - dt.timedelta(days=1))
    assert services_expiry.expire_due_services() == 1
    assert services_expiry.expire_due_services() == 0  # a second run finds nothing more
    statuses = dict(db.session.execute(select(ClientService.name, ClientService.status)).all())
    assert statuses == {
        "due": ServiceStatus.EXPIRED,
        "auto": ServiceStatus.ACTIVE,
        "recent": ServiceStatus.ACTIVE,
    }
    event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceExpired")
    ).one()
    assert event.actor == "scheduler"
    work()
    billing = db.session.scalars(
        select(RecurringBilling).where(RecurringBilling.service_id == due)
    ).one()
    assert (billing.status, billing.stopped_on) == (BillingStatus.STOPPED, old)


def test_sweep_stops_billing_of_a_cancellation_whose_date_has_come(app, company, work):
    service_id = make_service(company)
    lc.activate(company, service_id, "test")
    lc.cancel(company, service_id, "test", reason="r", at_term_end=True)
    work()
    assert db.session.scalars(select(RecurringBilling)).one().status == BillingStatus.ACTIVE
    _backdate(service_id, cancellation_effective_on=dt.date.today())
    services_expiry.expire_due_services()
    db.session.rollback()
    assert db.session.scalars(select(RecurringBilling)).one().status == BillingStatus.STOPPED


def test_relay_job_records_the_scheduler_heartbeat(app, company):
    assert pipeline_relay.relay_outbox() == 0
    assert redis_connection().get(pipeline_relay.HEARTBEAT_KEY) is not None
