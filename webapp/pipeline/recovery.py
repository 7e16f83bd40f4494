"""RQ recovery: jobs a dead worker abandoned, retries no scheduler holds, jobs on no queue,
and jobs Redis lost while their deliveries or notifications were still to do."""

import contextlib
import datetime as dt
import logging

from flask import current_app
from redis.exceptions import LockError, RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import select

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import NOTIFICATIONS, QUEUES
from webapp.lifecycle.statuses import UNFINISHED
from webapp.notifications import sending as notifications
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.publishing import enqueue_again, job_ids_of, unfinished_work
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


# RQ gave up on these (retries used, or stopped by a person); one it finished has nothing more
# to do, and one queued, started, scheduled or deferred it will still run, or is running.
GIVEN_UP = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def job_states(event_ids: list[int], conn) -> dict[int, str | None]:
    """The status in RQ (a JobStatus value) of each event's job (its own, or its chunk's: see
    webapp.pipeline.publishing), in one round trip (and one more for those "queued"); None
    when Redis has no such job (restarted empty, or it expired) or it is "queued" on no queue.

    Read from the job's hash, not by loading the job: a worker whose job was running when
    Redis restarted empty writes its heartbeat into a new, partial hash, which RQ refuses to
    load. A worker killed between taking the job off its queue and recording it as started
    leaves it "queued" on no queue, where nothing would ever run it (found by the worker-kill
    fault test). Whether a queued job is on its queue is asked per job (LPOS, Redis 6.0.6),
    not by reading the queue: a backlog of 100,000 jobs would be read whole on each relay
    pass. LPOS reads the queue from its head, where the oldest jobs, those looked for, wait.
    """
    jobs = job_ids_of(event_ids)
    db.session.rollback()  # no transaction (nor SQLite snapshot) held while Redis is asked
    job_ids = sorted(set(jobs.values()))
    with conn.pipeline(transaction=False) as pipe:
        for job in job_ids:
            pipe.hmget(Job.key_for(job), "status", "origin")
        found = pipe.execute()
    states, queued = {}, []
    for job, (status, origin) in zip(job_ids, found, strict=True):
        states[job] = status.decode() if status else None
        if states[job] == JobStatus.QUEUED:
            queued.append((job, origin.decode() if origin else ""))
    if queued:
        with conn.pipeline(transaction=False) as pipe:
            for job, origin in queued:
                key = Queue.redis_queue_namespace_prefix + origin
                pipe.lpos(key, job, maxlen=LPOS_MAXLEN)
                pipe.llen(key)
            found = pipe.execute()
        for (job, origin), position, length in zip(queued, found[::2], found[1::2], strict=True):
            # Not within the first LPOS_MAXLEN of a longer queue: taken as waiting there (a
            # backlog is being worked off; it is looked for again once the queue is shorter).
            if not origin or (position is None and length <= LPOS_MAXLEN):
                states[job] = None
    return {event_id: states[jobs[event_id]] for event_id in event_ids}


# How far into a queue LPOS looks for a job: a job missing from a queue of 100,000 would
# otherwise be a scan of it all, in Redis's one thread, per lost job and relay pass.
LPOS_MAXLEN = 10_000

# Held while lost jobs are looked for and enqueued. Without it, relays running at once (each
# worker runs one as it starts, the scheduler another) all saw the same job lost and each
# enqueued it: nothing was sent twice, but a failing mail was tried once per relay (found by
# the "Redis restarted empty" fault test). A relay killed holding it delays the next by this.
REQUEUE_LOCK, REQUEUE_LOCK_SECONDS = "dashboard:relay:requeue-lost", 30


def requeue_lost_jobs() -> int:
    """Enqueue again the jobs Redis lost (or RQ gave up on) while their event still has work:
    unfinished deliveries, or notifications to send. One relay at a time does it; another
    finding it under way leaves it to that one. Returns how many jobs were enqueued."""
    try:
        lock = redis_connection().lock(REQUEUE_LOCK, timeout=REQUEUE_LOCK_SECONDS, blocking=False)
        if not lock.acquire():
            return 0
    except RedisError as exc:
        log.warning("Redis unreachable; lost jobs not looked for: %s", exc)
        return 0
    try:
        return _requeue_lost() + requeue_unsent_notifications()
    finally:
        with contextlib.suppress(RedisError, LockError):  # it expires on its own
            lock.release()


def _requeue_lost() -> int:
    """Deliveries still unfinished long after enqueueing whose job is gone (Redis flushed or lost,
    or RQ gave up on it: a worker killed on its last try leaves the ledger unfinished while the
    job sits in the failed registry). Enqueued again, a job that was in fact running changes
    nothing the second time (the ledger)."""
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
        states = job_states([e for e, _ in work], redis_connection())
        lost = [(e, q) for e, q in work if states[e] is None or states[e] in GIVEN_UP]
        enqueue_again(lost)
    except RedisError as exc:
        log.warning("Redis unreachable; lost deliveries not re-sent: %s", exc)
        return 0
    return len(lost)


def requeue_unsent_notifications(batch: int = 1000) -> int:
    """Enqueue again the jobs of events whose notifications are still to send but whose job
    Redis no longer holds: lost with a Redis restarted empty once the event's listeners were
    done, the mails still queued (never tried, or waiting for a mail server) or failed with a
    retry pending. Returns how many jobs were enqueued.

    Queued ones go again when no job of their event will run: Redis has no trace of it, or RQ
    finished it (it ran before they could go: a mail server set since). A job RQ gave up on
    (retries used, or stopped) is enqueued once more, as it may never have tried them (no
    mail server then, or its time ran out first); a second give-up and enqueueing it again
    with fresh retries would fail the same way, for ever: they are marked failed, with why,
    and wait on Operations for a person. Failed ones go again only when Redis has no trace of
    the job, for the same reason. The job sends each unsent notification once
    (webapp.notifications.sending), so a job enqueued twice, racing a person's "send again",
    sends nothing twice. Mail waiting for a mail server to be set is not looked at: only a
    configured server sends it (and then this does).
    """
    queued, failed = notifications.awaiting_their_job(batch)
    if not (queued or failed):
        return 0
    try:
        states = job_states(sorted(set(queued) | set(failed)), redis_connection())
        once_more, gave_up = notifications.second_chances(
            [e for e in queued if states[e] in GIVEN_UP]
        )
        lost = {e for e in queued if states[e] in (None, JobStatus.FINISHED)} | set(once_more)
        lost |= {e for e in failed if states[e] is None}
        if lost:
            work = dict(unfinished_work(sorted(lost)))  # listeners left too: their queue
            db.session.rollback()  # no transaction (nor SQLite lock) held while Redis is asked
            enqueue_again([(e, work.get(e, NOTIFICATIONS)) for e in sorted(lost)])
    except RedisError as exc:
        log.warning("Redis unreachable; unsent notifications wait: %s", exc)
        return 0
    notifications.note_second_chance(once_more)
    notifications.mark_given_up(gave_up)
    if lost:
        log.warning("jobs of %d events with unsent notifications enqueued again", len(lost))
    return len(lost)
