"""The transactional outbox: events are rows committed with their change, sent to RQ after.

record() adds the event and one pending ledger row per listener to the caller's transaction
(record_many() does it for many events in two statements).
publish() runs after commit and enqueues one RQ job per event; if Redis is unreachable it
logs and returns, and relay() (run by the scheduler and at worker start) sends it later.
"""

import datetime as dt
import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import insert, select, update

from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.events import Event
from webapp.lifecycle.registry import QUEUES, listeners_for
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.models import DomainEvent, ListenerDelivery
from webapp.queues import queue, redis_connection

log = logging.getLogger(__name__)
DELIVER = "jobs.deliver.deliver_event"
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
AFTER_COMMIT = "outbox_publish_after_commit"


def record(event: Event, company_id: int, actor: str) -> DomainEvent:
    row = DomainEvent(**_event_row(event, company_id, actor))
    db.session.add(row)
    db.session.flush()
    db.session.add_all(ListenerDelivery(**d) for d in _delivery_rows(event, company_id, row.id))
    return row


def record_many(events: list[tuple[Event, int]], actor: str) -> list[int]:
    """record() for many (event, company id) pairs in two statements; their ids, in order."""
    if not events:
        return []
    ids = db.session.scalars(
        insert(DomainEvent.__table__).returning(
            DomainEvent.__table__.c.id, sort_by_parameter_order=True
        ),
        [_event_row(event, company_id, actor) for event, company_id in events],
    ).all()
    deliveries = [
        row
        for (event, company_id), event_id in zip(events, ids, strict=True)
        for row in _delivery_rows(event, company_id, event_id)
    ]
    if deliveries:
        db.session.execute(insert(ListenerDelivery.__table__), deliveries)
    return list(ids)


def _event_row(event: Event, company_id: int, actor: str) -> dict:
    return {
        "company_id": company_id,
        "type": event.name,
        "service_id": event.service_id,
        "payload": event.payload(),
        "actor": actor,
    }


def _delivery_rows(event: Event, company_id: int, event_id: int) -> list[dict]:
    """The event's ledger: one pending row per listener."""
    return [
        {
            "company_id": company_id,
            "event_id": event_id,
            "listener": listener.name,
            "queue": listener.queue,
            "status": DeliveryStatus.PENDING,
        }
        for listener in listeners_for(event.name)
    ]


def job_id(event_id: int) -> str:
    return f"event-{event_id}"


def unfinished_work(event_ids) -> list[tuple[int, str]]:
    """(event id, queue) for each event with listeners still to run.

    One job runs all of an event's listeners (see jobs.deliver for why); it goes on the most
    urgent queue among the listeners still to run, so billing work is taken before mail.
    """
    rows = db.session.execute(
        select(ListenerDelivery.event_id, ListenerDelivery.queue).where(
            ListenerDelivery.event_id.in_(event_ids),
            ListenerDelivery.status.in_(UNFINISHED),
        )
    ).all()
    queues: dict[int, str] = {}
    for event_id, queue_name in rows:
        current = queues.get(event_id)
        if current is None or QUEUES.index(queue_name) < QUEUES.index(current):
            queues[event_id] = queue_name
    return sorted(queues.items())


def enqueue_events(work: list[tuple[int, str]]) -> None:
    """Put one job per event on its queue, in one Redis round trip."""
    cfg = current_app.config
    intervals = cfg["DELIVERY_RETRY_INTERVALS"]
    retry = Retry(max=len(intervals), interval=intervals) if intervals else None
    with redis_connection().pipeline() as pipe:
        for event_id, queue_name in work:
            queue(queue_name).enqueue(
                DELIVER,
                event_id,
                job_id=job_id(event_id),
                retry=retry,
                job_timeout=cfg["DELIVERY_JOB_TIMEOUT"],
                result_ttl=300,
                failure_ttl=7 * 24 * 3600,
                description=f"listeners of event {event_id}",
                pipeline=pipe,
            )
        pipe.execute()


def publish(event_ids: list[int]) -> bool:
    """Enqueue the deliveries of committed events; False if Redis could not be reached."""
    if not event_ids:
        return True
    work = unfinished_work(event_ids)
    db.session.rollback()  # no transaction (and no SQLite lock) is held while Redis is asked
    try:
        enqueue_events(work)
    except RedisError as exc:
        log.warning("Redis unreachable; %d events left for the relay: %s", len(event_ids), exc)
        return False
    begin_write(db.session)
    db.session.execute(
        update(DomainEvent).where(DomainEvent.id.in_(event_ids)).values(enqueued_at=utcnow())
    )
    db.session.commit()
    return True


def commit_and_publish(event_ids) -> None:
    """Commit the caller's transaction, then send its events: never inside the transaction."""
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    publish(list(event_ids))


def publish_after_commit(event_id: int) -> None:
    """For code that records an event in a transaction it does not own (a listener): whoever
    commits that transaction sends it, with take_after_commit()."""
    db.session.info.setdefault(AFTER_COMMIT, []).append(event_id)


def take_after_commit() -> list[int]:
    return db.session.info.pop(AFTER_COMMIT, [])


def relay(batch: int = 500) -> int:
    """Enqueue what was committed but never enqueued, or whose job Redis lost. Returns a count."""
    sent = 0
    while True:
        ids = list(
            db.session.scalars(
                select(DomainEvent.id)
                .where(DomainEvent.enqueued_at.is_(None))
                .order_by(DomainEvent.id)
                .limit(batch)
            )
        )
        db.session.rollback()
        if not ids or not publish(ids):
            break
        sent += len(ids)
    recover_abandoned_jobs()
    return sent + _requeue_lost()


def recover_abandoned_jobs() -> int:
    """Hand back the jobs of workers that died mid-job, once their heartbeat has expired.

    RQ does this only in a worker's maintenance, at its start and every ten minutes, so a
    worker killed and restarted at once would leave its job waiting that long. A job with
    tries left is enqueued again; one without is failed, and _requeue_lost sends it again.
    """
    recovered = 0
    try:
        for name in QUEUES:
            registry = StartedJobRegistry(name, connection=redis_connection())
            recovered += len(registry.get_expired_job_ids())
            registry.cleanup()
        recovered += enqueue_due_retries()
    except RedisError as exc:
        log.warning("Redis unreachable; abandoned jobs not recovered: %s", exc)
    return recovered


def enqueue_due_retries() -> int:
    """Put retries whose time has come on their queues, as RQ's scheduler does.

    A worker's scheduler holds a lock per queue; a worker killed while holding it leaves the
    lock for a minute, and a worker started meanwhile tries to take it again only after ten,
    so retries would wait that long. Doing it here as well is safe: a retry enqueued twice
    (racing a live scheduler) runs twice, and the ledger makes the second run change nothing.
    """
    conn = redis_connection()
    enqueued = 0
    for name in QUEUES:
        registry = ScheduledJobRegistry(name, connection=conn)
        job_ids = registry.get_jobs_to_schedule()
        if not job_ids:
            continue
        due = queue(name)
        with conn.pipeline() as pipe:
            for job in Job.fetch_many(job_ids, connection=conn):
                if job is not None:
                    due._enqueue_job(job, pipeline=pipe)
                    enqueued += 1
            for job_id in job_ids:
                registry.remove(job_id, pipeline=pipe)
            pipe.execute()
    return enqueued


def _job_gone(key: str, conn) -> bool:
    """No job will run: Redis lost it, or RQ gave up on it (a worker killed on its last try
    leaves the ledger unfinished while the job sits in the failed registry)."""
    try:
        job = Job.fetch(key, connection=conn)
    except NoSuchJobError:
        return True
    status = job.get_status()
    if status == JobStatus.QUEUED:
        # A worker killed between taking the job off its queue and recording it as started
        # leaves it "queued" on no queue, where nothing would ever run it (found by the
        # worker-kill fault test). Enqueued again, a job that was in fact running changes
        # nothing the second time (the ledger).
        return conn.lpos(queue(job.origin).key, key) is None
    return status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def _requeue_lost() -> int:
    """Deliveries still unfinished long after enqueueing whose job is gone (Redis flushed or lost)."""
    stale_before = utcnow() - dt.timedelta(seconds=current_app.config["RELAY_STALE_SECONDS"])
    event_ids = db.session.scalars(
        select(ListenerDelivery.event_id)
        .distinct()
        .join(DomainEvent)
        .where(
            ListenerDelivery.status.in_(UNFINISHED),
            DomainEvent.enqueued_at.is_not(None),
            DomainEvent.enqueued_at <= stale_before,
        )
        .order_by(ListenerDelivery.event_id)
        .limit(5000)
    ).all()
    work = unfinished_work(event_ids)
    db.session.rollback()
    try:
        conn = redis_connection()
        lost = [(e, q) for e, q in work if _job_gone(job_id(e), conn)]
        enqueue_events(lost)
    except RedisError as exc:
        log.warning("Redis unreachable; lost deliveries not re-sent: %s", exc)
        return 0
    return len(lost)
