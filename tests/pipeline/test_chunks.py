"""Events published together go to Redis as one job per chunk, with a real Redis and worker:
each effect still happens once, a failing event holds back no other, and the relay tells a
chunk still waiting from one Redis lost."""

import time

from rq.job import Job
from rq.results import Result
from sqlalchemy import func, select

from tests.support.factories import make_client, make_service
from webapp.billing.models import RecurringBilling
from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.notifications import mailer
from webapp.notifications.models import Notification
from webapp.pipeline import delivery, outbox, publishing, recovery
from webapp.pipeline import relay as pipeline_relay
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import all_queues, queue, redis_connection
from webapp.services import actions as lc

ACTIVATIONS, CHUNK = 7, 3


def activated_together(app, company, monkeypatch) -> list[int]:
    """Seven activations whose events reach Redis in one publish, as a sweep's do: recorded
    with Redis's publishing held back, then sent by the relay."""
    app.config["DELIVERY_CHUNK_SIZE"] = CHUNK
    client = make_client(company)
    services = [make_service(company, client, name=f"S{n}") for n in range(ACTIVATIONS)]
    redis_connection().flushdb()  # the provisioning events' jobs
    with monkeypatch.context() as held:
        held.setattr(outbox, "publish", lambda event_ids: False)
        for service_id in services:
            lc.activate(company, service_id, "test")
    return activation_ids()


def activation_ids() -> list[int]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(DomainEvent.id)
            .where(DomainEvent.type == "ServiceActivated")
            .order_by(DomainEvent.id)
        )
    )


def queued_jobs() -> list[Job]:
    conn = redis_connection()
    return [Job.fetch(job_id, connection=conn) for q in all_queues() for job_id in q.job_ids]


def undone() -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count())
        .select_from(ListenerDelivery)
        .where(ListenerDelivery.status != DeliveryStatus.DONE)
    )


def test_events_published_together_go_as_one_job_per_chunk(app, company, work, monkeypatch):
    events = activated_together(app, company, monkeypatch)
    assert pipeline_relay.relay() == len(events)

    jobs = queued_jobs()
    # One queue (billing, the most urgent of each activation's listeners), 7 events in 3 jobs.
    assert [job.args[0] for job in jobs] == [events[0:3], events[3:6], events[6:7]]
    assert jobs[-1].id == publishing.job_id(events[6])  # a chunk of one is its event's job
    stored = dict(db.session.execute(select(DomainEvent.id, DomainEvent.job_id)).all())
    assert {e: stored[e] for e in events[:3]} == dict.fromkeys(events[:3], jobs[0].id)
    assert stored[events[6]] is None

    assert work() == 3
    assert undone() == 0
    assert db.session.scalar(select(func.count()).select_from(RecurringBilling)) == ACTIVATIONS
    assert db.session.scalar(select(func.count()).select_from(Notification)) == ACTIVATIONS


def test_an_event_published_alone_is_its_own_job(app, company, work):
    app.config["DELIVERY_CHUNK_SIZE"] = CHUNK
    service_id = make_service(company)
    redis_connection().flushdb()
    lc.activate(company, service_id, "test")
    [event_id] = activation_ids()
    assert [job.id for job in queued_jobs()] == [publishing.job_id(event_id)]


def test_a_waiting_chunk_is_left_alone_and_one_redis_lost_is_sent_again(
    app, company, work, monkeypatch
):
    events = activated_together(app, company, monkeypatch)
    pipeline_relay.relay()
    # RELAY_STALE_SECONDS is 0 here: every job is "old". Looked for under its chunk's id,
    # each is found waiting; looked for as `event-<id>`, all 7 would be enqueued again.
    assert pipeline_relay.relay() == 0
    assert set(recovery.job_states(events, redis_connection()).values()) == {"queued"}

    redis_connection().flushdb()  # Redis restarted empty
    assert pipeline_relay.relay() == len(events)
    assert len(queued_jobs()) == 3  # sent again in chunks, and remembered as such
    assert pipeline_relay.relay() == 0
    work()
    assert undone() == 0
    assert db.session.scalar(select(func.count()).select_from(RecurringBilling)) == ACTIVATIONS


def test_a_failing_event_holds_back_no_other_of_its_chunk(app, company, work, monkeypatch):
    events = activated_together(app, company, monkeypatch)
    broken = events[1]
    calls = []

    def failing_for_one(event):
        calls.append(event.id)
        if event.id == broken:
            raise RuntimeError("billing system refused it")
        return original(event)

    original = delivery.listeners()["billing.start"]
    monkeypatch.setitem(delivery.listeners(), "billing.start", failing_for_one)
    pipeline_relay.relay()
    work()
    # The first try ran all 7; each retry (two here) ran only the failing one.
    assert sorted(calls) == sorted(events + [broken, broken])
    rows = db.session.execute(
        select(ListenerDelivery.event_id, ListenerDelivery.listener, ListenerDelivery.status).where(
            ListenerDelivery.status != DeliveryStatus.DONE
        )
    ).all()
    assert rows == [(broken, "billing.start", DeliveryStatus.FAILED)]
    assert db.session.scalar(select(func.count()).select_from(RecurringBilling)) == ACTIVATIONS - 1
    chunk = publishing.job_ids_of([events[0]])[events[0]]
    failed = Job.fetch(chunk, connection=redis_connection())
    assert failed.get_status() == "failed"
    error = failed.latest_result().exc_string
    assert f"event {broken}, billing.start: billing system refused it" in error


def test_a_job_enqueued_before_chunks_still_runs(app, company, work):
    """An upgrade finds `deliver_event` jobs on its queues (and in retries): they still run."""
    service_id = make_service(company)
    redis_connection().flushdb()
    lc.activate(company, service_id, "test")
    [event_id] = activation_ids()
    redis_connection().flushdb()
    queue("billing").enqueue(
        "jobs.deliver.deliver_event", event_id, job_id=publishing.job_id(event_id)
    )
    assert work() == 1
    assert undone() == 0


def test_a_chunk_whose_mail_outlasts_its_time_goes_on_in_jobs_of_its_own(
    app, company, work, monkeypatch, smtp
):
    """A chunk has one event's timeout. With slow mail its events do not all fit: none is cut
    off mid-send (RQ's alarm would leave it "transmitting" for a person), and no retry is used
    up; the events still to go become a job of their own."""
    app.config.update(MAIL_TIMEOUT=1, WEBHOOK_TIMEOUT=1)  # a send begun needs 1 + 5 s at most
    app.config["DELIVERY_JOB_TIMEOUT"] = 7  # so each job may begin sends for about 1 s
    events = activated_together(app, company, monkeypatch)
    app.config["DELIVERY_CHUNK_SIZE"] = ACTIVATIONS
    real_send = mailer.send

    def slow_send(message, before_data=lambda: None):
        def slow_data():  # the server takes the message slowly, once it is "transmitting"
            before_data()
            time.sleep(1.1)  # each mail well within the job's 7 s, all 7 together not

        real_send(message, slow_data)

    monkeypatch.setattr(mailer, "send", slow_send)
    pipeline_relay.relay()
    [chunk] = queued_jobs()
    jobs_run = work()

    db.session.rollback()
    statuses = db.session.scalars(select(Notification.status)).all()
    assert statuses == ["sent"] * ACTIVATIONS
    assert jobs_run > 1  # it went on in jobs of its own
    assert len(smtp.messages) == ACTIVATIONS  # each mail once
    assert undone() == 0
    # The chunk's one try ended in time, by itself: no try stopped by RQ, no retry used.
    tries = Job.fetch(chunk.id, connection=redis_connection()).results()
    assert [result.type for result in tries] == [Result.Type.SUCCESSFUL]
    assert len(events) == ACTIVATIONS
