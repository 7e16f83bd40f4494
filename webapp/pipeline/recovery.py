"""RQ recovery: jobs a dead worker abandoned, retries no scheduler holds, jobs on no queue."""

import datetime as dt
import logging

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import select

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES
from webapp.lifecycle.statuses import UNFINISHED
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.publishing import enqueue_events, job_id, unfinished_work
from webapp.pipeline.queues import queue, redis_connection

log = logging.getLogger(__name__)


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
