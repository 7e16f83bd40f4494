"""The event pipeline with a real Redis and a real RQ worker."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.support.documents import issue, line
from tests.support.factories import (
    active_service,
    at_risk,
    breach,
    fail_listener,
    make_client,
    make_service,
    make_user,
    redis_at,
)
from tools.embedded_redis import RedisServer
from webapp.accounts import people
from webapp.accounts.access import set_password
from webapp.accounts.models import User
from webapp.billing.models import BillingAdjustment, RecurringBilling
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.lifecycle import events as ev
from webapp.lifecycle.statuses import (
    BillingCycle,
    BillingStatus,
    DeliveryStatus,
    ServiceStatus,
    UserRole,
)
from webapp.notifications.models import Notification
from webapp.pipeline import deliveries, delivery
from webapp.pipeline import outbox as pipeline_outbox
from webapp.pipeline import publishing as pipeline_publishing
from webapp.pipeline import recovery as pipeline_recovery
from webapp.pipeline import relay as pipeline_relay
from webapp.pipeline.delivery import deliver_event, run_delivery
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services import actions as lc
from webapp.sla import sweep as sla
from webapp.sla.models import SlaAlert


def table_state():
    """Every row of every effect table, to compare before and after a rerun."""
    db.session.rollback()
    state = {}
    for model in (
        RecurringBilling,
        BillingAdjustment,
        Notification,
        SlaAlert,
        ListenerDelivery,
        HealthSnapshot,
    ):
        cols = [c.key for c in model.__table__.columns]
        state[model.__name__] = sorted(
            tuple(getattr(r, c) for c in cols) for r in db.session.scalars(select(model))
        )
    return state


def deliveries_by_status():
    db.session.rollback()
    rows = db.session.execute(
        select(ListenerDelivery.status, func.count()).group_by(ListenerDelivery.status)
    ).all()
    return {status.value: n for status, n in rows}


def lived_a_full_life(company):
    manager = make_user(company)
    service_id = make_service(company, manager_id=manager)
    lc.activate(company, service_id, "test")
    lc.suspend(company, service_id, "test", reason="unpaid")
    lc.resume(company, service_id, "test")
    lc.renew(company, service_id, "test", months=6)
    lc.cancel(company, service_id, "test", reason="leaving")
    return service_id


def test_worker_delivers_every_listener_of_every_event(company, work):
    service_id = lived_a_full_life(company)
    assert work() == 5  # one job per event that has listeners
    assert deliveries_by_status() == {"done": 9}
    billing = db.session.scalars(select(RecurringBilling)).one()
    assert billing.service_id == service_id
    assert billing.status == BillingStatus.STOPPED
    subjects = sorted(n.subject for n in db.session.scalars(select(Notification)))
    # Client contact and account manager each get activation, suspension, resumption and
    # cancellation.
    assert len(subjects) == 8
    assert "Managed Backup has been resumed" in subjects
    assert "Managed Backup has been cancelled" in subjects


@pytest.mark.parametrize("listener", sorted(delivery.listeners()))
def test_each_listener_run_twice_changes_nothing_the_second_time(app, company, work, listener):
    service_id = lived_a_full_life(company)
    # Incidents are recorded on services that still run.
    running = active_service(company, name="Running one")
    lc_events = {
        "notify.expired": lambda: None,
        "notify.renewal_due": lambda: _emit(company, ev.ServiceDueForRenewal(service_id, _d(), 30)),
        "notify.health_degraded": lambda: _emit(
            company, ev.ServiceHealthDegraded(service_id, 90, 70)
        ),
        "alerts.alert_account_manager": lambda: _emit(
            company, ev.ServiceHealthDegraded(service_id, 90, 70)
        ),
        "alerts.create_sla_alert": lambda: breach(company, running),
        "health.recalculate": lambda: breach(company, running, "resolution"),
        "notify.sla_breached": lambda: breach(company, running),
        "alerts.create_at_risk_alert": lambda: at_risk(company, running),
        "notify.sla_at_risk": lambda: at_risk(company, running),
        "billing.reprice": lambda: lc.change_price(company, running, "test", Decimal("150.00")),
        "notify.price_changed": lambda: lc.change_price(
            company, running, "test", Decimal("150.00")
        ),
        "notify.quantity_changed": lambda: lc.change_quantity(company, running, "test", 5),
        "notify.cancellation_scheduled": lambda: lc.cancel(
            company, running, "test", reason="r", at_term_end=True
        ),
        "notify.cancellation_undone": lambda: (
            lc.cancel(company, running, "test", reason="r", at_term_end=True),
            lc.undo_cancellation(company, running, "test"),
        ),
        "billing.reconcile": lambda: (
            lc.cancel(company, running, "test", reason="r", at_term_end=True),
            lc.undo_cancellation(company, running, "test"),
        ),
        "billing.imported": lambda: _import_one(company),
        "notify.invoice_issued": lambda: issue(
            company, make_client(company, name="Billed"), [line("Backup", "10.00")]
        ),
        "notify.credit_note_issued": lambda: issue(
            company, make_client(company, name="Credited"), [line("Backup", "-10.00")]
        ),
        "notify.invitation": lambda: people.invite(
            company, "Tess", "tess@msp.example", UserRole.TECHNICIAN, "test"
        ),
        "notify.password_reset": lambda: people.forgot("reset@msp.example"),
        "notify.escalated": lambda: (
            breach(company, running),
            work(),  # the alert exists
            sla.sweep(utcnow() + dt.timedelta(hours=1)),
        ),
    }
    if listener == "notify.password_reset":
        with_password = make_user(company, email="reset@msp.example")
        set_password(db.session.get(User, with_password), "a long enough password 1")
        db.session.commit()
    if listener == "notify.expired":
        other = make_service(company, manager_id=None)
        lc.activate(company, other, "test")
        lc.expire(company, other, "test")
    else:
        lc_events.get(listener, lambda: None)()
    work()
    rows = db.session.scalars(
        select(ListenerDelivery).where(ListenerDelivery.listener == listener)
    ).all()
    assert rows and all(r.status == DeliveryStatus.DONE for r in rows)
    event_ids = [r.event_id for r in rows]
    before = table_state()
    for event_id in event_ids:
        assert run_delivery(event_id, listener) == "already done"
        assert deliver_event(event_id) == {}  # the event's whole job, run again
    assert table_state() == before


def _d():
    return dt.date(2027, 1, 1)


def _import_one(company):
    """An active service brought in by an import, billing from its own next bill date."""
    client_id = make_client(company, name="Imported client")
    start = utcnow().date() - dt.timedelta(days=40)
    imported = lc.ImportedService(
        client_id=client_id,
        name="Imported backup",
        service_type="backup",
        status=ServiceStatus.ACTIVE,
        price=Decimal("20.00"),
        quantity=3,
        currency="USD",
        billing_cycle=BillingCycle.MONTHLY,
        start_date=start,
        term_months=12,
        term_end=start + dt.timedelta(days=365),
        next_bill_date=start + dt.timedelta(days=45),
    )
    with pipeline_outbox.unit_of_work():
        lc.import_services(company, [imported], "test")


def _emit(company, event):
    """Record a non-transition event the way its producer (SLA, health, renewals) will."""
    with pipeline_outbox.unit_of_work():
        pipeline_outbox.record(event, company, "test")


def test_redelivering_a_whole_event_stream_twice_in_reverse_keeps_one_billing_record(company, work):
    lived_a_full_life(company)
    events = db.session.scalars(select(DomainEvent).order_by(DomainEvent.id.desc())).all()
    pairs = [(d.event_id, d.listener) for e in events for d in e.deliveries]
    # Mark everything undone, as after a crash that lost the ledger's progress.
    for event_id, listener in pairs:
        db.session.execute(
            ListenerDelivery.__table__.update()
            .where(ListenerDelivery.event_id == event_id, ListenerDelivery.listener == listener)
            .values(status="pending")
        )
    db.session.commit()
    for event_id, listener in pairs + pairs:
        if listener.startswith("billing."):
            run_delivery(event_id, listener)
    billing = db.session.scalars(select(RecurringBilling)).all()
    assert len(billing) == 1 and billing[0].status == BillingStatus.STOPPED


def test_event_committed_while_redis_is_down_is_delivered_once_redis_is_back(app, company):
    own = RedisServer().start()
    with redis_at(app, own.url):
        _deliver_after_an_outage(company, own)


def _deliver_after_an_outage(company, own):
    service_id = make_service(company)
    own.stop()
    try:
        lc.activate(company, service_id, "test")  # commits; the enqueue fails quietly
        db.session.rollback()
        event = db.session.scalars(
            select(DomainEvent).where(DomainEvent.type == "ServiceActivated")
        ).one()
        assert event.enqueued_at is None
        assert deliveries_by_status() == {"pending": 2}
        own = RedisServer(port=own.port).start()
        assert pipeline_relay.relay() == 1
        from rq import SimpleWorker

        from webapp.pipeline.queues import all_queues, redis_connection

        SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)
        assert deliveries_by_status() == {"done": 2}
        assert db.session.scalars(select(RecurringBilling)).one().status == BillingStatus.ACTIVE
    finally:
        own.stop()


def test_relay_resends_events_whose_jobs_redis_lost(app, company, work):
    service_id = make_service(company)
    lc.activate(company, service_id, "test")
    app.extensions["redis"].flushdb()  # Redis restarted without persistence
    assert pipeline_relay.relay() == 1  # the activation; its two listeners share one job
    work()
    assert deliveries_by_status() == {"done": 2}


def test_failing_listener_is_retried_then_marked_failed_with_its_error(
    app, company, work, monkeypatch
):
    calls = []

    def broken(event):
        calls.append(event.id)
        raise RuntimeError("mail relay refused the connection")

    monkeypatch.setitem(delivery.listeners(), "notify.activated", broken)
    service_id = make_service(company)
    lc.activate(company, service_id, "test")
    work()
    assert len(calls) == 3  # the first try and two retries (TestingConfig)
    failed = deliveries.failed()
    assert [(d.listener, d.attempts) for d in failed] == [("notify.activated", 3)]
    assert "mail relay refused" in failed[0].last_error
    # The billing listener of the same event is unaffected.
    assert deliveries_by_status() == {"done": 1, "failed": 1}

    monkeypatch.undo()
    assert deliveries.retry([failed[0].id]) == 1
    work()
    assert deliveries_by_status() == {"done": 2}
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1


def test_failed_effect_is_rolled_back_with_its_ledger_row(app, company, work, monkeypatch):
    def half_done(event):
        db.session.add(
            Notification(
                company_id=event.company_id,
                event_id=event.id,
                listener="notify.activated",
                service_id=event.service_id,
                recipient="x@example.com",
                subject="s",
                body="b",
            )
        )
        db.session.flush()
        raise RuntimeError("template missing")

    monkeypatch.setitem(delivery.listeners(), "notify.activated", half_done)
    lc.activate(company, make_service(company), "test")
    work()
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_relay_resends_an_event_whose_job_rq_gave_up_on(app, company, work):
    """A worker killed during the last try: RQ lists the job as failed, the ledger is unfinished."""
    from rq.job import Job

    service_id = make_service(company)
    lc.activate(company, service_id, "test")
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
    )
    job = Job.fetch(pipeline_publishing.job_id(event_id), connection=app.extensions["redis"])
    job.set_status("failed")
    assert pipeline_relay.relay() == 1
    work()
    assert deliveries_by_status() == {"done": 2}


def test_retry_while_redis_is_down_is_kept_for_the_relay(app, company, work, monkeypatch):
    fail_listener(monkeypatch, "notify.activated", RuntimeError("down"))
    lc.activate(company, make_service(company), "test")
    work()
    monkeypatch.undo()
    failed_id = deliveries.failed()[0].id
    with redis_at(app, RedisServer().url):  # nothing listens there
        assert deliveries.retry([failed_id]) == 1  # no exception: the change is kept
    assert deliveries_by_status() == {"done": 1, "pending": 1}
    assert pipeline_relay.relay() == 1
    work()
    assert deliveries_by_status() == {"done": 2}


def test_relay_hands_back_the_job_of_a_worker_that_died_mid_job(app, company, work):
    """A worker killed mid-job leaves it "started" in RQ; once its heartbeat (timeout plus
    the grace) has run out, the relay enqueues it again, without waiting for RQ's
    ten-minute maintenance."""
    from webapp.pipeline.queues import all_queues, redis_connection
    from webapp.pipeline.worker import DeliveryWorker

    # RQ's registry counts whole seconds, so 1 s could expire at once: 3 s gives 2 s for a pause.
    app.config["DELIVERY_JOB_TIMEOUT"] = 3
    lc.activate(company, make_service(company), "test")
    dying = DeliveryWorker(all_queues(), connection=redis_connection())
    dying.abandoned_grace = 0
    job, queue = dying.dequeue_job_and_maintain_ttl(timeout=1)
    dying.prepare_execution(job)
    dying.prepare_job_execution(job)  # and then it dies: nothing more is written
    assert pipeline_recovery.recover_abandoned_jobs() == 0  # still within its timeout
    time.sleep(3.2)
    assert pipeline_recovery.recover_abandoned_jobs() == 1
    work()
    assert deliveries_by_status() == {"done": 2}


def test_a_retry_due_while_no_scheduler_holds_its_queue_is_enqueued_by_the_relay(company, work):
    """A worker killed while holding its queue's scheduler lock leaves retries waiting up to
    ten minutes for another worker to take the lock; the relay puts due ones on the queue."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from webapp.pipeline.queues import queue, redis_connection

    lc.activate(company, make_service(company), "t")
    event_id = db.session.scalar(select(DomainEvent.id).filter_by(type="ServiceActivated"))
    job = Job.fetch(pipeline_publishing.job_id(event_id), connection=redis_connection())
    billing = queue(job.origin)
    billing.remove(job)  # as a failed try leaves it: scheduled for its retry, on no queue
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    ScheduledJobRegistry(queue=billing).schedule(job, past)
    assert billing.count == 0

    assert pipeline_recovery.enqueue_due_retries() == 1
    assert billing.job_ids == [job.id]
    assert ScheduledJobRegistry(queue=billing).count == 0
    work()
    statuses = db.session.scalars(select(ListenerDelivery.status).filter_by(event_id=event_id))
    assert set(statuses) == {DeliveryStatus.DONE}


def test_a_job_taken_off_its_queue_by_a_worker_that_died_is_sent_again(company, work):
    """SIGKILL between RQ's pop from the queue and its started registry leaves the job
    "queued" on no queue; the relay sees that and enqueues it again."""
    from webapp.pipeline.queues import queue, redis_connection

    lc.activate(company, make_service(company), "t")
    event_id = db.session.scalar(select(DomainEvent.id).filter_by(type="ServiceActivated"))
    key = pipeline_publishing.job_id(event_id)
    for q in ("billing", "notifications"):
        redis_connection().lrem(queue(q).key, 0, key)  # popped by a worker that then died
    assert pipeline_relay.relay() == 1
    work()
    statuses = db.session.scalars(select(ListenerDelivery.status).filter_by(event_id=event_id))
    assert set(statuses) == {DeliveryStatus.DONE}
