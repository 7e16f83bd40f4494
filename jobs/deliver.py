"""Run one listener for one event, exactly once in effect however often the job runs.

The ledger row (listener_deliveries) is claimed with a conditional UPDATE at the start of the
listener's transaction and commits together with the effect. A second run of the same delivery,
concurrent or later, finds it done and changes nothing. On PostgreSQL the UPDATE holds the row
lock, so a concurrent duplicate waits for the first and then sees it done.
"""

import logging
import traceback

from rq import get_current_job
from sqlalchemy import update

from jobs.context import app_context
from jobs.listeners import LISTENERS
from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.models import DomainEvent, ListenerDelivery

log = logging.getLogger(__name__)


def deliver(event_id: int, listener: str) -> str:
    with app_context():
        return run_delivery(event_id, listener)


def run_delivery(event_id: int, listener: str) -> str:
    session = db.session
    try:
        begin_write(session)
        claimed = session.execute(
            update(ListenerDelivery)
            .where(
                ListenerDelivery.event_id == event_id,
                ListenerDelivery.listener == listener,
                ListenerDelivery.status != DeliveryStatus.DONE,
            )
            .values(
                status=DeliveryStatus.DONE,
                finished_at=utcnow(),
                attempts=ListenerDelivery.attempts + 1,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            session.rollback()
            return "already done"
        event = session.get(DomainEvent, event_id)
        LISTENERS[listener](event)
        session.commit()
        return "done"
    except Exception as exc:
        session.rollback()
        _record_failure(event_id, listener, exc)
        raise
    finally:
        session.remove()


def _record_failure(event_id: int, listener: str, exc: Exception) -> None:
    job = get_current_job()
    retries_left = job.retries_left if job is not None and job.retries_left else 0
    status = DeliveryStatus.RETRYING if retries_left > 0 else DeliveryStatus.FAILED
    error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    try:
        begin_write(db.session)
        db.session.execute(
            update(ListenerDelivery)
            .where(
                ListenerDelivery.event_id == event_id,
                ListenerDelivery.listener == listener,
                ListenerDelivery.status != DeliveryStatus.DONE,
            )
            .values(status=status, attempts=ListenerDelivery.attempts + 1, last_error=error)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except Exception:  # the database itself may be what failed; RQ keeps the job's record
        db.session.rollback()
        log.exception("could not record the failure of %s for event %s", listener, event_id)
