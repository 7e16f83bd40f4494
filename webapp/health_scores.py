"""Recalculating a service's health score from what is stored about it."""

import dataclasses
import datetime as dt
from decimal import Decimal

from sqlalchemy import func, or_, select

from webapp.clock import today, utcnow
from webapp.extensions import db
from webapp.lifecycle.events import ServiceHealthDegraded
from webapp.lifecycle.health import (
    AVAILABILITY_DAYS,
    OUTAGE_SEVERITY,
    HealthInputs,
    availability,
    degraded,
    score,
)
from webapp.models import ClientService, HealthSnapshot, Incident
from webapp.outbox import record
from webapp.sla_tracking import policy_for


def inputs_for(service: ClientService) -> HealthInputs:
    on, now = today(), utcnow()
    quarter_ago = now - dt.timedelta(days=90)
    breaches = db.session.execute(
        select(
            func.count().filter(Incident.response_breached_at >= quarter_ago),
            func.count().filter(Incident.resolution_breached_at >= quarter_ago),
        ).where(Incident.service_id == service.id)
    ).one()
    month_ago = now - dt.timedelta(days=AVAILABILITY_DAYS)
    by_severity = db.session.execute(
        select(Incident.severity, func.count())
        .where(Incident.service_id == service.id, Incident.opened_at >= month_ago)
        .group_by(Incident.severity)
    ).all()
    outages = db.session.execute(
        select(Incident.opened_at, Incident.resolved_at).where(
            Incident.service_id == service.id,
            Incident.severity == OUTAGE_SEVERITY,
            or_(Incident.resolved_at.is_(None), Incident.resolved_at > month_ago),
        )
    ).all()
    return HealthInputs(
        breaches_90d=sum(breaches),
        incidents_30d={str(sev): n for sev, n in by_severity},
        availability_pct=availability(outages, month_ago, now),
        availability_target=Decimal(policy_for(service).availability_target),
        satisfaction=service.satisfaction,
        days_since_review=(on - service.last_reviewed_on).days
        if service.last_reviewed_on
        else None,
        age_days=(on - service.start_date).days,
    )


def recalculate(service_id: int, actor: str) -> int | None:
    """Store a new score and snapshot in the current transaction (the caller commits).

    Returns the id of a ServiceHealthDegraded event recorded in the same transaction, if the
    score fell by 10 points or more from its baseline: the highest score since the last such
    event. A fall spread over many recalculations (a point a minute while incidents arrive)
    counts as much as a sudden one, and each 10-point fall is told once."""
    service = db.session.scalars(
        select(ClientService).where(ClientService.id == service_id).with_for_update()
    ).one()
    inputs = inputs_for(service)
    value, factors = score(inputs)
    stored = [dataclasses.asdict(f) for f in factors]
    baseline = service.health_baseline
    if baseline is None:
        baseline = service.health_score
    service.health_score, service.health_factors = value, stored
    service.health_updated_at, service.health_stale = utcnow(), False
    service.availability_pct = inputs.availability_pct
    db.session.add(
        HealthSnapshot(
            company_id=service.company_id, service_id=service.id, score=value, factors=stored
        )
    )
    if degraded(baseline, value):
        service.health_baseline = value
        db.session.flush()
        return record(
            ServiceHealthDegraded(service.id, baseline, value), service.company_id, actor
        ).id
    service.health_baseline = value if baseline is None else max(baseline, value)
    db.session.flush()
    return None
