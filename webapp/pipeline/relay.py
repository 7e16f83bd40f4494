"""The relay: committed events that never reached RQ (or whose job Redis lost) enqueued again,
with the jobs a dead worker abandoned, stalled notifications and notifications whose job Redis
lost after the listeners were done, and the scheduler's heartbeat.
The scheduler runs relay_outbox on a clock, a worker runs relay at start; both are safe to
run twice or to skip."""

import logging

from sqlalchemy import select

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.notifications import sending as notifications
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.publishing import publish
from webapp.pipeline.queues import redis_connection
from webapp.pipeline.recovery import recover_abandoned_jobs, requeue_lost_jobs


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
    return sent + requeue_lost_jobs()


log = logging.getLogger(__name__)


HEARTBEAT_KEY = "dashboard:scheduler:heartbeat"


def relay_outbox() -> int:
    """Send outbox rows that were committed but never reached Redis."""
    redis_connection().set(HEARTBEAT_KEY, utcnow().isoformat(), ex=3600)
    sent = relay() + notifications.requeue_stalled()
    if sent:
        log.info("relay sent %d", sent)
    return sent
