"""Run an event's listeners, each exactly once in effect however often the job runs.

One RQ job per event, or per chunk of events published together, never per listener: RQ's
own bookkeeping costs more than a listener's work. Measured with one worker on the development machine (300 activations, two listeners
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

import importlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from flask import current_app
from rq import get_current_job
from rq.timeouts import JobTimeoutException
from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import all_listeners
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.notifications.sending import send_for_events
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.outbox import unit_of_work
from webapp.pipeline.publishing import enqueue_again

log = logging.getLogger(__name__)
# Where each kind of listener lives: a listener named "billing.start" in the registry
# (webapp.lifecycle.registry, the one table of listener names) is the function `start` of
# webapp.billing.listeners. A listener takes the stored DomainEvent and makes its effect in the
# current session; it never commits (run_delivery commits it with the ledger row).
LISTENER_MODULES = {
    "billing": "webapp.billing.listeners",
    "alerts": "webapp.sla.listeners",
    "health": "webapp.health.listeners",
    "notify": "webapp.notifications.listeners",
}


class ListenersFailed(Exception):
    """Some listeners of the event failed; their errors are on their ledger rows."""


@dataclass(frozen=True)
class EventFacts:
    """What listeners read of an event (it never changes once committed): read once per
    job, not once per listener."""

    id: int
    type: str
    company_id: int
    service_id: int | None  # None for an event about a client or a person
    payload: dict


@cache
def listeners() -> dict[str, Callable]:
    """Every listener the registry names, with its function: built once per process."""
    return {listener.name: _function(listener.name) for listener in all_listeners()}


def _function(name: str) -> Callable:
    kind, function = name.split(".", 1)
    return getattr(importlib.import_module(LISTENER_MODULES[kind]), function)


def listener_function(name: str) -> Callable:
    """The function behind a registry listener name."""
    return listeners()[name]


def deliver_events(event_ids: list[int]) -> dict[int, dict[str, str]]:
    """Each event in turn: its listeners still to run, then the mail they queued; each event's
    outcome by listener. Raises ListenersFailed, after trying every event, if any failed: RQ
    retries the job, and the retry runs only what is not done.

    A chunk has one event's DELIVERY_JOB_TIMEOUT, so that a worker killed mid-job is found as
    soon as before (webapp.pipeline.worker). Its events would not all fit when mail is slow:
    RQ's alarm would stop a mail mid-send (left "transmitting", for a person to judge) and each
    try would use up a retry. So an event is begun only while the time left can hold a slow send
    (a mail or webhook timeout and a margin); past that, the events still to go are enqueued as
    a job of their own and this one ends."""
    deadline = _deadline()
    outcome: dict[int, dict[str, str]] = {}
    failures = []
    pending = {event.id: (event, names) for event, names in unfinished_listeners_of(event_ids)}
    stopped_at = None  # the first event this job leaves undone, its time being short
    for position, event_id in enumerate(event_ids):
        if position and _past(deadline):
            stopped_at = position
            break
        event, names = pending.get(event_id, (None, []))
        outcome_of = outcome.setdefault(event_id, {}) if names else {}
        for listener in names:
            try:
                outcome_of[listener] = run_delivery(event_id, listener, event)
            except JobTimeoutException:
                # RQ's alarm fires once: caught here, the rest of the job would run with no limit.
                raise
            except Exception as exc:
                outcome_of[listener] = "failed"
                failures.append(f"event {event_id}, {listener}: {exc}")
        # Mail what the listeners queued; a failed send retries with the job.
        errors, finished = send_for_events(event_ids[position : position + 1], deadline)
        failures += [f"email: {error}" for error in errors]
        if not finished:  # the time left cannot hold another send
            stopped_at = position
            break
    if stopped_at == 0:
        # Its rest would be this very job (a chunk is named by its events): it is retried.
        failures.append(f"event {event_ids[0]}: its mail needs more time; the retry goes on")
    elif stopped_at:
        _continue_later(event_ids[stopped_at:])
    if failures:
        raise ListenersFailed("; ".join(failures))
    return outcome


def _deadline() -> float | None:
    """When this job must stop beginning sends (time.monotonic()); None outside a job with a
    timeout (a test, `flask deliveries retry`), or when its timeout is no longer than a slow
    send: RQ's alarm is then the only limit, as for a job of one event before chunks."""
    job = get_current_job()
    if job is None or not job.timeout or job.timeout < 0:
        return None
    cfg = current_app.config
    reserve = max(cfg["MAIL_TIMEOUT"], cfg["WEBHOOK_TIMEOUT"]) + DEADLINE_MARGIN_SECONDS
    if job.timeout <= reserve:
        return None
    return time.monotonic() + job.timeout - reserve


DEADLINE_MARGIN_SECONDS = 5


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _continue_later(event_ids: list[int]) -> None:
    job = get_current_job()
    log.info("%d events left for a job of their own: this one's time is short", len(event_ids))
    enqueue_again([(event_id, job.origin) for event_id in event_ids])


def deliver_event(event_id: int) -> dict[str, str]:
    return deliver_events([event_id]).get(event_id, {})


def unfinished_listeners_of(event_ids: list[int]) -> list[tuple[EventFacts, list[str]]]:
    """Each event with listeners not yet done, in order of id, with those listeners in
    registry order (billing first); in one statement."""
    # A transaction left open in this process would read an old snapshot (SQLite WAL) and
    # miss the events' rows; start from a fresh one.
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
            .where(DomainEvent.id.in_(event_ids), ListenerDelivery.status != DeliveryStatus.DONE)
            .order_by(DomainEvent.id, ListenerDelivery.id)
        ).all()
    finally:
        db.session.remove()
    found: dict[int, tuple[EventFacts, list[str]]] = {}
    for row in rows:
        if row.id not in found:
            found[row.id] = (EventFacts(*row[:5]), [])
        found[row.id][1].append(row.listener)
    return list(found.values())


def run_delivery(event_id: int, listener: str, event: EventFacts | None = None) -> str:
    """One listener's effect and its ledger row, in one unit of work; events the listener
    records are published after that commits."""
    try:
        with unit_of_work() as session:
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
                return "already done"
            listener_function(listener)(event or session.get(DomainEvent, event_id))
        return "done"
    except Exception as exc:
        _record_failure(event_id, listener, exc)
        raise
    finally:
        db.session.remove()


def _record_failure(event_id: int, listener: str, exc: Exception) -> None:
    job = get_current_job()
    retries_left = job.retries_left if job is not None and job.retries_left else 0
    status = DeliveryStatus.RETRYING if retries_left > 0 else DeliveryStatus.FAILED
    error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    try:
        with unit_of_work():
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
    except Exception:  # the database itself may be what failed; RQ keeps the job's record
        log.exception("could not record the failure of %s for event %s", listener, event_id)
