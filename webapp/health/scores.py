"""Recalculating health scores from what is stored about the services.

One path for one service and for many: the services' rows are read under lock, their inputs
come from a few grouped queries over their incidents, lifecycle.health scores each, and the
new scores, snapshots and degraded events are written in bulk. The nightly sweep passes a
chunk of services per transaction; a listener or the SLA sweep passes one.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import bindparam, func, insert, or_, select, update

from webapp.clock import today, utcnow
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.incidents.models import Incident
from webapp.lifecycle.events import ServiceHealthDegraded
from webapp.lifecycle.health import (
    AVAILABILITY_DAYS,
    OUTAGE_SEVERITY,
    HealthInputs,
    availability,
    degraded,
    score,
)
from webapp.pipeline.outbox import record_many
from webapp.services.models import ClientService
from webapp.sla.tracking import policy_for

SERVICES = ClientService.__table__

# What scoring reads from the service itself (policy_for reads the SLA columns).
SERVICE_COLUMNS = (
    ClientService.id,
    ClientService.company_id,
    ClientService.satisfaction,
    ClientService.last_reviewed_on,
    ClientService.start_date,
    ClientService.health_score,
    ClientService.health_baseline,
    ClientService.service_level,
    ClientService.sla_response_minutes,
    ClientService.sla_resolution_minutes,
    ClientService.sla_availability_target,
    ClientService.sla_warning_percent,
    ClientService.sla_around_the_clock,
)


def input_queries(service_ids, now: dt.datetime):
    """The three grouped queries scoring reads for the services `service_ids` (a list or a
    subquery): breaches in 90 days, incidents by severity in 30 days, outages in 30 days."""
    quarter_ago = now - dt.timedelta(days=90)
    month_ago = now - dt.timedelta(days=AVAILABILITY_DAYS)
    breaches = (
        select(
            Incident.service_id,
            func.count().filter(Incident.response_breached_at >= quarter_ago)
            + func.count().filter(Incident.resolution_breached_at >= quarter_ago),
        )
        .where(
            Incident.service_id.in_(service_ids),
            or_(
                Incident.response_breached_at >= quarter_ago,
                Incident.resolution_breached_at >= quarter_ago,
            ),
        )
        .group_by(Incident.service_id)
    )
    by_severity = (
        select(Incident.service_id, Incident.severity, func.count())
        .where(Incident.service_id.in_(service_ids), Incident.opened_at >= month_ago)
        .group_by(Incident.service_id, Incident.severity)
    )
    outages = select(Incident.service_id, Incident.opened_at, Incident.resolved_at).where(
        Incident.service_id.in_(service_ids),
        Incident.severity == OUTAGE_SEVERITY,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at > month_ago),
    )
    return breaches, by_severity, outages


def inputs_by_service(services) -> dict[int, HealthInputs]:
    """Each service's health inputs (services: rows of SERVICE_COLUMNS)."""
    on, now = today(), utcnow()
    month_ago = now - dt.timedelta(days=AVAILABILITY_DAYS)
    breach_query, severity_query, outage_query = input_queries([s.id for s in services], now)
    breaches = dict(db.session.execute(breach_query).all())
    by_severity = defaultdict(dict)
    for service_id, severity, n in db.session.execute(severity_query):
        by_severity[service_id][str(severity)] = n
    outages = defaultdict(list)
    for service_id, opened, resolved in db.session.execute(outage_query):
        outages[service_id].append((opened, resolved))
    return {
        s.id: HealthInputs(
            breaches_90d=breaches.get(s.id, 0),
            incidents_30d=by_severity.get(s.id, {}),
            availability_pct=availability(outages.get(s.id, []), month_ago, now),
            availability_target=Decimal(policy_for(s).availability_target),
            satisfaction=s.satisfaction,
            days_since_review=(on - s.last_reviewed_on).days if s.last_reviewed_on else None,
            age_days=(on - s.start_date).days,
        )
        for s in services
    }


def recalculate(service_id: int, actor: str) -> None:
    """One service's score (see recalculate_many)."""
    recalculate_many([service_id], actor)


def recalculate_many(service_ids: list[int], actor: str) -> None:
    """Store new scores and snapshots in the current transaction (the caller's unit of work
    commits it and publishes its events).

    Records a ServiceHealthDegraded event in the same transaction for each service whose score
    fell by 10 points or more from its baseline: the highest score since the last such event. A fall spread over many recalculations (a point a minute while
    incidents arrive) counts as much as a sudden one, and each 10-point fall is told once."""
    services = db.session.execute(
        select(*SERVICE_COLUMNS)
        .where(ClientService.id.in_(service_ids))
        .order_by(ClientService.id)
        .with_for_update()
    ).all()
    inputs = inputs_by_service(services)
    now = utcnow()
    changes, snapshots, events = [], [], []
    for s in services:
        value, factors = score(inputs[s.id])
        stored = [dict(vars(f)) for f in factors]  # asdict's result, without its deep copy
        baseline = s.health_score if s.health_baseline is None else s.health_baseline
        if degraded(baseline, value):
            events.append((ServiceHealthDegraded(s.id, baseline, value), s.company_id))
            new_baseline = value
        else:
            new_baseline = value if baseline is None else max(baseline, value)
        changes.append(
            {
                "service_id": s.id,
                "health_score": value,
                "health_factors": stored,
                "health_baseline": new_baseline,
                "health_updated_at": now,
                "health_stale": False,
                "availability_pct": inputs[s.id].availability_pct,
                "updated_at": now,
            }
        )
        snapshots.append(
            {"company_id": s.company_id, "service_id": s.id, "score": value, "factors": stored}
        )
    if changes:
        db.session.execute(
            update(SERVICES).where(SERVICES.c.id == bindparam("service_id")), changes
        )
        db.session.execute(insert(HealthSnapshot.__table__), snapshots)
        _expire_loaded(service_ids)
    record_many(events, actor)


def _expire_loaded(service_ids) -> None:
    """The UPDATE bypassed the session: services it holds are read anew when next used."""
    ids = set(service_ids)
    for loaded in list(db.session.identity_map.values()):
        if isinstance(loaded, ClientService) and loaded.id in ids:
            db.session.expire(loaded)
