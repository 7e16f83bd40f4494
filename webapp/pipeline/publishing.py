"""Publishing committed events to RQ: their listeners' work, one job per chunk of events.

An event published alone is one job (`event-<id>`), so a person's change reaches the workers
at once and two workers take two changes side by side. Events published together (a sweep,
a bill run, an import, a storm of alerts) go as one job per chunk of DELIVERY_CHUNK_SIZE:
RQ builds, stores and runs each job at a cost that exceeded a listener's own work (one job
per event, the first renewal sweep over 1,000,000 services spent 12 s of its 23 s in RQ).
Each event remembers its job (`domain_events.job_id`, none for `event-<id>`), so the
recovery (webapp.pipeline.recovery) can tell whether Redis still holds it.
"""

import hashlib
import logging
from dataclasses import dataclass
from itertools import groupby

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES
from webapp.lifecycle.statuses import UNFINISHED
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import queue, redis_connection

log = logging.getLogger(__name__)

DELIVER = "jobs.deliver.deliver_events"


def job_id(event_id: int) -> str:
    """The job of an event published alone."""
    return f"event-{event_id}"


@dataclass(frozen=True)
class Chunk:
    """One job: events (ascending) whose most urgent unfinished listener is on `queue`."""

    queue: str
    event_ids: tuple[int, ...]

    @property
    def job_id(self) -> str:
        if len(self.event_ids) == 1:
            return job_id(self.event_ids[0])
        # Named by its content: a chunk sent again holding other events is another job.
        digest = hashlib.sha1(",".join(map(str, self.event_ids)).encode()).hexdigest()[:10]
        return f"events-{self.event_ids[0]}-{self.event_ids[-1]}-{digest}"

    @property
    def stored_job_id(self) -> str | None:
        """What domain_events.job_id holds for its events: nothing for `event-<id>`."""
        return None if len(self.event_ids) == 1 else self.job_id


def unfinished_work(event_ids) -> list[tuple[int, str]]:
    """(event id, queue) for each event with listeners still to run.

    One job runs all of an event's listeners (see webapp.pipeline.delivery for why); it goes on
    the most urgent queue among the listeners still to run, so billing work is taken before mail.
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


def chunks_of(work: list[tuple[int, str]]) -> list[Chunk]:
    """The jobs for (event id, queue) pairs: per queue, in order of event id, at most
    DELIVERY_CHUNK_SIZE events each; the most urgent queue's first."""
    size = max(1, current_app.config["DELIVERY_CHUNK_SIZE"])
    chunks = []
    by_queue = sorted(work, key=lambda pair: (QUEUES.index(pair[1]), pair[0]))
    for queue_name, pairs in groupby(by_queue, key=lambda pair: pair[1]):
        ids = [event_id for event_id, _ in pairs]
        chunks += [
            Chunk(queue_name, tuple(ids[start : start + size]))
            for start in range(0, len(ids), size)
        ]
    return chunks


def enqueue_events(work: list[tuple[int, str]]) -> list[Chunk]:
    """Put the events' jobs on their queues, in one Redis round trip; the jobs made."""
    cfg = current_app.config
    intervals = cfg["DELIVERY_RETRY_INTERVALS"]
    retry = Retry(max=len(intervals), interval=intervals) if intervals else None
    chunks = chunks_of(work)
    with redis_connection().pipeline() as pipe:
        for chunk in chunks:
            ids = chunk.event_ids
            queue(chunk.queue).enqueue(
                DELIVER,
                list(ids),
                job_id=chunk.job_id,
                retry=retry,
                # A chunk's too, not scaled by its size: a worker killed mid-job is found once
                # this and a grace have passed (webapp.pipeline.worker). A chunk stopped by it
                # is retried, and the retry runs only what its events still have to do.
                job_timeout=cfg["DELIVERY_JOB_TIMEOUT"],
                result_ttl=300,
                failure_ttl=7 * 24 * 3600,
                description=(
                    f"listeners of event {ids[0]}"
                    if len(ids) == 1
                    else f"listeners of {len(ids)} events, {ids[0]} to {ids[-1]}"
                ),
                pipeline=pipe,
            )
        pipe.execute()
    return chunks


def enqueue_again(work: list[tuple[int, str]]) -> list[Chunk]:
    """enqueue_events for events published before (their job lost, or mail to send again),
    then each event's new job noted, so the recovery looks for that one. Called with no
    transaction open."""
    chunks = enqueue_events(work)
    if chunks:
        try:
            _note_jobs([event_id for event_id, _ in work], chunks)
        except SQLAlchemyError as exc:
            # The jobs are on Redis: what they do happens once whatever the relay later sends
            # again for an event whose new job it cannot see (the ledger, the mail claims).
            db.session.rollback()
            log.warning("%d events enqueued again, their jobs not noted: %s", len(work), exc)
    return chunks


def _note_jobs(event_ids: list[int], chunks: list[Chunk], **values) -> None:
    """Each event's job, with `values`, in one UPDATE per job stored: a chunk's id for a
    chunk's events, none for the rest (`event-<id>`, or nothing left to enqueue)."""
    stored = [chunk for chunk in chunks if chunk.stored_job_id]
    in_chunks = {event_id for chunk in stored for event_id in chunk.event_ids}
    jobs = [(None, [e for e in event_ids if e not in in_chunks])]
    jobs += [(chunk.stored_job_id, chunk.event_ids) for chunk in stored]
    begin_write(db.session)
    for stored_job_id, ids in jobs:
        if ids:
            db.session.execute(
                update(DomainEvent)
                .where(DomainEvent.id.in_(ids))
                .values(job_id=stored_job_id, **values)
                .execution_options(synchronize_session=False)
            )
    db.session.commit()


def publish(event_ids: list[int]) -> bool:
    """Enqueue the deliveries of committed events; False if Redis could not be reached."""
    if not event_ids:
        return True
    work = unfinished_work(event_ids)
    db.session.rollback()  # no transaction (and no SQLite lock) is held while Redis is asked
    try:
        chunks = enqueue_events(work)
    except RedisError as exc:
        log.warning("Redis unreachable; %d events left for the relay: %s", len(event_ids), exc)
        return False
    # Events with no listener left to run are marked too: there is nothing to enqueue.
    _note_jobs(event_ids, chunks, enqueued_at=utcnow())
    return True


def job_ids_of(event_ids: list[int]) -> dict[int, str]:
    """Each event's job as last enqueued."""
    stored = dict(
        db.session.execute(
            select(DomainEvent.id, DomainEvent.job_id).where(DomainEvent.id.in_(event_ids))
        ).all()
    )
    return {event_id: stored.get(event_id) or job_id(event_id) for event_id in event_ids}
