"""Recalculating a service's health score from what is stored about it."""

import dataclasses
import datetime as dt

from sqlalchemy import func, select

from webapp.clock import today, utcnow
from webapp.extensions import db
from webapp.lifecycle.events import ServiceHealthDegraded
from webapp.lifecycle.health import AVAILABILITY_TARGET, HealthInputs, degraded, score
from webapp.models import ClientService, HealthSnapshot, SlaAlert
from webapp.outbox import record

BREACH_KINDS = ("response", "resolution")


def inputs_for(service: ClientService) -> HealthInputs:
    on = today()
    breaches = db.session.scalar(
        select(func.count()).where(
            SlaAlert.service_id == service.id,
            SlaAlert.kind.in_(BREACH_KINDS),
            SlaAlert.created_at >= utcnow() - dt.timedelta(days=90),
        )
    )
    return HealthInputs(
        breaches_90d=breaches,
        incidents_30d={},  # incidents arrive with SLA tracking
        availability_pct=service.availability_pct,
        availability_target=AVAILABILITY_TARGET[service.service_level.value],
        satisfaction=service.satisfaction,
        days_since_review=(on - service.last_reviewed_on).days
        if service.last_reviewed_on
        else None,
        age_days=(on - service.start_date).days,
    )


def recalculate(service_id: int, actor: str) -> int | None:
    """Store a new score and snapshot in the current transaction (the caller commits).

    Returns the id of a ServiceHealthDegraded event recorded in the same transaction, if the
    score fell by 10 points or more."""
    service = db.session.scalars(
        select(ClientService).where(ClientService.id == service_id).with_for_update()
    ).one()
    value, factors = score(inputs_for(service))
    stored = [dataclasses.asdict(f) for f in factors]
    previous = service.health_score
    service.health_score, service.health_factors, service.health_updated_at = (
        value,
        stored,
        utcnow(),
    )
    db.session.add(
        HealthSnapshot(
            company_id=service.company_id, service_id=service.id, score=value, factors=stored
        )
    )
    db.session.flush()
    if degraded(previous, value):
        return record(
            ServiceHealthDegraded(service.id, previous, value), service.company_id, actor
        ).id
    return None
