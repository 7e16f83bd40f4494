"""The SLA sweep, run every minute: clocks that ran out untouched, alerts nobody answered,
and health scores that incidents have made stale.

Each part selects only the rows whose time has come, by an indexed column, and changes each in
its own short write transaction with a guarded UPDATE, so two sweeps at once (or a sweep and a
technician) never record anything twice.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from jobs.context import app_context
from webapp import health_scores, sla_tracking
from webapp.clock import utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.events import ServiceAlertEscalated
from webapp.lifecycle.sla import RESOLUTION, RESPONSE
from webapp.models import ClientService, Company, Incident, SlaAlert
from webapp.outbox import commit_and_publish, record

log = logging.getLogger(__name__)
ACTOR = "sla-sweep"
BATCH = 500  # per part and run; a backlog drains over the next runs


@dataclass
class SweepResult:
    incidents_checked: int = 0
    events: int = 0
    escalated: int = 0
    health_recalculated: int = 0


def sweep(now: dt.datetime | None = None) -> SweepResult:
    with app_context():
        now = now or utcnow()
        result = SweepResult()
        _check_due_incidents(now, result)
        _escalate_unanswered(now, result)
        _recalculate_stale_health(result)
        if result.events or result.escalated:
            log.info("sla sweep: %s", result)
        return result


def _check_due_incidents(now, result) -> None:
    due = db.session.scalars(
        select(Incident.id)
        .where(Incident.next_check_at <= now)
        .order_by(Incident.next_check_at)
        .limit(BATCH)
    ).all()
    db.session.rollback()
    for incident_id in due:
        begin_write(db.session)
        incident = db.session.get(Incident, incident_id)
        if incident.next_check_at is None or incident.next_check_at > now:
            db.session.rollback()  # answered or rescheduled since we looked
            continue
        event_ids = sla_tracking.check(incident, ACTOR, now)
        commit_and_publish(event_ids)
        result.incidents_checked += 1
        result.events += len(event_ids)


def _escalate_unanswered(now, result) -> None:
    companies = db.session.execute(select(Company.id, Company.escalate_after_minutes)).all()
    db.session.rollback()
    for company_id, minutes in companies:
        waiting = db.session.execute(
            select(SlaAlert.id, SlaAlert.service_id, SlaAlert.created_at)
            .where(
                SlaAlert.company_id == company_id,
                SlaAlert.kind.in_((RESPONSE, RESOLUTION)),
                SlaAlert.acknowledged_at.is_(None),
                SlaAlert.escalated_at.is_(None),
                SlaAlert.created_at <= now - dt.timedelta(minutes=minutes),
            )
            .limit(BATCH)
        ).all()
        db.session.rollback()
        for alert_id, service_id, created_at in waiting:
            begin_write(db.session)
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
                db.session.rollback()
                continue
            waited = int((now - created_at).total_seconds() // 60)
            event = ServiceAlertEscalated(service_id, alert_id, waited)
            commit_and_publish([record(event, company_id, ACTOR).id])
            result.escalated += 1


def _recalculate_stale_health(result) -> None:
    stale = db.session.scalars(
        select(ClientService.id).where(ClientService.health_stale.is_(True)).limit(BATCH)
    ).all()
    db.session.rollback()
    for service_id in stale:
        begin_write(db.session)
        degraded_event = health_scores.recalculate(service_id, actor=ACTOR)
        commit_and_publish([degraded_event] if degraded_event else [])
        result.health_recalculated += 1
