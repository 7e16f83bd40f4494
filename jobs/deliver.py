"""Run an event's listeners, each exactly once in effect however often the job runs.

One RQ job per event, not per listener: RQ's own bookkeeping costs more than a listener's
work. Measured with one worker on the development machine (300 activations, two listeners
each, median of three rounds): no-op jobs 127 a second, one job per event 99 deliveries a
second, one job per delivery 68. Each
listener still runs in its own transaction with its own ledger row, so one failing listener
neither undoes nor repeats the others: the job fails after trying them all, RQ retries it,
and the retry runs only what is not done.

The ledger row (listener_deliveries) is claimed with a conditional UPDATE at the start of the
listener's transaction and commits together with the effect. A second run of the same delivery,
concurrent or later, finds it done and changes nothing. On PostgreSQL the UPDATE holds the row
lock, so a concurrent duplicate waits for the first and then sees it done.
"""

import logging
import traceback
from dataclasses import dataclass

from rq import get_current_job
from sqlalchemy import select, update

from jobs.context import app_context
from jobs.listeners import LISTENERS
from jobs.notifications import send_for_event
from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.models import DomainEvent, ListenerDelivery
from webapp.outbox import publish, take_after_commit

log = logging.getLogger(__name__)


class ListenersFailed(Exception):
    """Some listeners of the event failed; their errors are on their ledger rows."""


@dataclass(frozen=True)
class EventFacts:
    """What listeners read of an event (it never changes once committed): read once per
    job, not once per listener."""

    id: int
    type: str
    company_id: int
    service_id: int
    payload: dict


def deliver_event(event_id: int) -> dict[str, str]:
    with app_context():
        outcome, failures = {}, []
        event, listeners = unfinished_listeners(event_id)
        for listener in listeners:
            try:
                outcome[listener] = run_delivery(event_id, listener, event)
            except Exception as exc:
                outcome[listener] = "failed"
                failures.append(f"{listener}: {exc}")
        # Mail the notifications the listeners queued; a failed send retries with the job.
        failures += [f"email: {error}" for error in send_for_event(event_id)]
        if failures:
            raise ListenersFailed(f"event {event_id}: " + "; ".join(failures))
        return outcome


def unfinished_listeners(event_id: int) -> tuple[EventFacts | None, list[str]]:
    """The event, and its listeners not yet done in registry order (billing first), in one
    statement."""
    # A transaction left open in this process would read an old snapshot (SQLite WAL) and
    # miss the event's rows; start from a fresh one.
    db.session.rollback()
    try:
        rows = db.session.execute(
            select(
                DomainEvent.id,
                DomainEvent.type,
                DomainEvent.company_id,
                DomainEvent.service_id,
                DomainEvent.payload,
                ListenerDelivery.listener,
            )
            .join(ListenerDelivery, ListenerDelivery.event_id == DomainEvent.id)
            .where(DomainEvent.id == event_id, ListenerDelivery.status != DeliveryStatus.DONE)
            .order_by(ListenerDelivery.id)
        ).all()
    finally:
        db.session.remove()
    if not rows:
        return None, []
    return EventFacts(*rows[0][:5]), [row.listener for row in rows]


def run_delivery(event_id: int, listener: str, event: EventFacts | None = None) -> str:
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
        LISTENERS[listener](event or session.get(DomainEvent, event_id))
        follow_ups = take_after_commit()  # events a listener recorded with its effect
        session.commit()
        publish(follow_ups)
        return "done"
    except Exception as exc:
        take_after_commit()  # rolled back with the effect: nothing to send
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
