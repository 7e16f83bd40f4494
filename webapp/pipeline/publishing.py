"""Publishing committed events to RQ: one job per event with unfinished deliveries."""

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES
from webapp.lifecycle.statuses import UNFINISHED
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import queue, redis_connection

log = logging.getLogger(__name__)

DELIVER = "jobs.deliver.deliver_event"


def job_id(event_id: int) -> str:
    return f"event-{event_id}"


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
