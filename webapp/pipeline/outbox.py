"""The transactional outbox, and the one unit of work every write goes through.

    with unit_of_work():
        ...change rows...
        record(event, company_id, actor)

unit_of_work() opens the write (on SQLite, taking the write lock first: database.begin_write),
rolls back on any error, commits, and only then publishes the events recorded inside it: never
inside the transaction, so no job runs for a change that did not commit. record() adds the event
and one pending ledger row per listener to the open transaction (record_many() does it for many
events in two statements). publish() enqueues one RQ job per event; if Redis is unreachable it
logs and returns, and the relay (run by the scheduler and at worker start) sends it later.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session

from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.events import Event
from webapp.lifecycle.registry import listeners_for
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.publishing import publish

# session.info: ids of the events recorded in the open transaction, published after it commits.
RECORDED = "outbox_recorded"


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One write transaction: committed whole and then published, or rolled back whole."""
    session = db.session
    begin_write(session)
    try:
        yield session
        recorded = session.info.pop(RECORDED, [])
        session.commit()
    except BaseException:
        session.info.pop(RECORDED, None)
        session.rollback()
        raise
    publish(recorded)


@contextmanager
def savepoint() -> Iterator[None]:
    """A part of the open unit of work that may fail alone (one alert of a notification): on an
    error what it wrote is rolled back, and the events it recorded are not published, while
    the rest of the transaction goes on."""
    recorded = len(db.session.info.get(RECORDED, []))
    try:
        with db.session.begin_nested():
            yield
    except BaseException:
        del db.session.info.get(RECORDED, [])[recorded:]
        raise


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_recorded(session, transaction):
    # A transaction ended outside unit_of_work (rolled back, or committed by hand): its events
    # are not this session's to publish any more; the relay sends whatever committed.
    if transaction.parent is None:
        session.info.pop(RECORDED, None)


def _remember(event_ids) -> None:
    db.session.info.setdefault(RECORDED, []).extend(event_ids)


def record(event: Event, company_id: int, actor: str) -> DomainEvent:
    row = DomainEvent(**_event_row(event, company_id, actor))
    db.session.add(row)
    db.session.flush()
    db.session.add_all(ListenerDelivery(**d) for d in _delivery_rows(event, company_id, row.id))
    _remember([row.id])
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
    _remember(ids)
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
