"""The SLA sweep, run every minute: clocks that ran out untouched, alerts nobody answered,
and health scores that incidents have made stale.

Each part selects only the rows whose time has come, by an indexed column, and changes each in
its own short write transaction, under the row locks every writer takes (service, then
incident) and with guarded UPDATEs, so two sweeps at once, or a sweep and a technician, never
record anything twice. A row that fails is logged and put aside for a while; it never stops
the sweep for the others.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.health import scores as health_scores
from webapp.incidents import actions as incidents
from webapp.incidents.models import Incident
from webapp.lifecycle.events import ServiceAlertEscalated
from webapp.lifecycle.sla import RESOLUTION, RESPONSE
from webapp.pipeline.outbox import record, unit_of_work
from webapp.services.models import ClientService
from webapp.sla import tracking as sla_tracking
from webapp.sla.models import SlaAlert

log = logging.getLogger(__name__)


ACTOR = "sla-sweep"


BATCH = 500


BUDGET_SECONDS = 45  # a backlog drains batch after batch, but one run ends before the next


RETRY_FAILED_AFTER = dt.timedelta(minutes=15)


@dataclass
class SweepResult:
    incidents_checked: int = 0
    events: int = 0
    escalated: int = 0
    health_recalculated: int = 0
    failed: int = 0


def sweep(now: dt.datetime | None = None) -> SweepResult:
    now = now or utcnow()
    result = SweepResult()
    try:
        _check_due_incidents(now, result)
        _escalate_unanswered(now, result)
        _recalculate_stale_health(result)
    finally:
        db.session.rollback()  # never leave a write lock behind in the worker's session
    if result.events or result.escalated or result.failed:
        log.info("sla sweep: %s", result)
    return result


def _each(ids, work, result, on_failure=None) -> None:
    """Run work(id) in its own transaction per id; a failure is rolled back and logged."""
    for row_id in ids:
        try:
            work(row_id)
        except Exception:
            db.session.rollback()
            result.failed += 1
            log.exception("sla sweep: %s failed", row_id)
            if on_failure is not None:
                on_failure(row_id)


def _check_due_incidents(now, result) -> None:
    def check(ids):
        company_id, incident_id = ids
        with unit_of_work():
            incident = incidents.lock(company_id, incident_id)
            if incident.next_check_at is None or incident.next_check_at >= now:
                return  # answered or rescheduled since we looked
            event_ids = sla_tracking.check(incident, ACTOR, now)
        result.incidents_checked += 1
        result.events += len(event_ids)

    def put_aside(ids):
        # Looked at again later, so one incident that cannot be checked does not come first
        # in every run.
        with unit_of_work():
            db.session.execute(
                update(Incident)
                .where(Incident.id == ids[1])
                .values(next_check_at=now + RETRY_FAILED_AFTER)
                .execution_options(synchronize_session=False)
            )

    started = time.monotonic()
    while time.monotonic() - started < BUDGET_SECONDS:
        due = db.session.execute(
            select(Incident.company_id, Incident.id)
            # Strictly before: a mark falling due at this very instant is not yet passed, and
            # the incident keeps it as its next check, which must not be picked again now.
            .where(Incident.next_check_at < now)
            .order_by(Incident.next_check_at)
            .limit(BATCH)
        ).all()
        db.session.rollback()
        before = result.incidents_checked + result.failed
        _each([tuple(row) for row in due], check, result, put_aside)
        if len(due) < BATCH or result.incidents_checked + result.failed == before:
            break


def _escalate_unanswered(now, result) -> None:
    # Unanswered, unescalated breach alerts are few (the partial index holds only them);
    # each company's own waiting time is applied to that short list.
    waiting = db.session.execute(
        select(
            SlaAlert.company_id,
            SlaAlert.id,
            SlaAlert.service_id,
            SlaAlert.created_at,
            Company.escalate_after_minutes,
        )
        .join(Company, Company.id == SlaAlert.company_id)
        .where(
            SlaAlert.acknowledged_at.is_(None),
            SlaAlert.escalated_at.is_(None),
            SlaAlert.kind.in_((RESPONSE, RESOLUTION)),
        )
        .order_by(SlaAlert.created_at)
    ).all()
    db.session.rollback()
    due = [row[:4] for row in waiting if row.created_at <= now - dt.timedelta(minutes=row[4])]

    def escalate(row):
        company_id, alert_id, service_id, created_at = row
        with unit_of_work():
            won = db.session.execute(
                update(SlaAlert)
                .where(
                    SlaAlert.id == alert_id,
                    SlaAlert.acknowledged_at.is_(None),
                    SlaAlert.escalated_at.is_(None),
                )
                .values(escalated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                return  # acknowledged or escalated by someone else meanwhile
            waited = int((now - created_at).total_seconds() // 60)
            record(ServiceAlertEscalated(service_id, alert_id, waited), company_id, ACTOR)
        result.escalated += 1

    _each(due, escalate, result)


def _recalculate_stale_health(result) -> None:
    stale = db.session.scalars(
        select(ClientService.id).where(ClientService.health_stale.is_(True)).limit(BATCH)
    ).all()
    db.session.rollback()

    def recalculate(service_id):
        with unit_of_work():
            health_scores.recalculate(service_id, actor=ACTOR)
        result.health_recalculated += 1

    _each(stale, recalculate, result)
