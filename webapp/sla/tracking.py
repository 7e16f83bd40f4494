"""SLA tracking on stored incidents: the policy in force, the clock's pauses, and the marks.

`check()` is the one place that decides whether an incident has reached a warning or a
breach: recording, acknowledging and resolving an incident call it in their own transaction,
and the per-minute sweep calls it for incidents whose `next_check_at` has come. Each mark is
set with a guarded UPDATE (... WHERE <mark> IS NULL) together with its event, so it is
recorded once however many callers race for it.
"""

import datetime as dt
import functools
from collections import defaultdict

from sqlalchemy import inspect, select, update
from sqlalchemy.orm.attributes import set_committed_value

from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle import events as ev
from webapp.lifecycle.sla import (
    BREACH,
    DEFAULTS,
    RESOLUTION,
    RESPONSE,
    WARNING,
    BusinessHours,
    IncidentTimes,
    SlaTargets,
    evaluate,
    targets_with,
)
from webapp.lifecycle.statuses import RUNNING
from webapp.pipeline.outbox import record_many
from webapp.services.models import ClientService, ServicePause

# Services whose SLA runs: incidents are recorded on these only, and only their clocks count.
TRACKED = RUNNING

# The incident's column for each mark (kind, level): the one list of them (the reports and the
# SLA states read theirs from here).
MARK_COLUMNS = {
    (RESPONSE, WARNING): "response_warned_at",
    (RESPONSE, BREACH): "response_breached_at",
    (RESOLUTION, WARNING): "resolution_warned_at",
    (RESOLUTION, BREACH): "resolution_breached_at",
}


def policy_for(service: ClientService) -> SlaTargets:
    return _policy(
        service.service_level.value,
        service.sla_response_minutes,
        service.sla_resolution_minutes,
        None if service.sla_availability_target is None else str(service.sla_availability_target),
        service.sla_warning_percent,
        service.sla_around_the_clock,
    )


@functools.lru_cache(maxsize=4096)
def _policy(level, response, resolution, availability, warning, around_the_clock) -> SlaTargets:
    # Cached: the health sweep asks for every service, and most share their level's defaults.
    return targets_with(
        DEFAULTS[level],
        response_minutes=response,
        resolution_minutes=resolution,
        availability_target=availability,
        warning_percent=warning,
        around_the_clock=around_the_clock,
    )


def hours_for(company: Company) -> BusinessHours:
    return BusinessHours.from_json(company.timezone or "UTC", company.business_hours)


Pause = tuple[dt.datetime, dt.datetime | None]  # (start, end), end None while in force


def pauses_by_service(service_ids) -> dict[int, list[Pause]]:
    """Each service's suspensions, for many services in one query."""
    found = defaultdict(list)
    if service_ids:
        for service_id, start, end in db.session.execute(
            select(ServicePause.service_id, ServicePause.started_at, ServicePause.ended_at).where(
                ServicePause.service_id.in_(service_ids)
            )
        ):
            found[service_id].append((start, end))
    return found


def pauses_for(service_id: int) -> list[Pause]:
    return pauses_by_service([service_id])[service_id]


def lock_service(service_id: int) -> None:
    """The service's row lock: the first lock every writer of a service or its incidents
    takes, before any incident's (see webapp.incidents.actions.lock), so none waits on another
    in a circle."""
    db.session.execute(
        select(ClientService.id).where(ClientService.id == service_id).with_for_update()
    )


def pause(service: ClientService, now: dt.datetime) -> None:
    """The service is suspended from now: its incidents' clocks stop."""
    db.session.add(
        ServicePause(company_id=service.company_id, service_id=service.id, started_at=now)
    )
    db.session.flush()
    reschedule(service.id)


def unpause(service: ClientService, now: dt.datetime) -> None:
    db.session.execute(
        update(ServicePause)
        .where(ServicePause.service_id == service.id, ServicePause.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    reschedule(service.id)


def stop(service: ClientService, now: dt.datetime) -> None:
    """The service has ended (cancelled or expired): its open incidents' clocks stop for good."""
    reschedule(service.id)


def reschedule(service_id: int) -> None:
    """Recompute when each open incident of the service is next due (after its clock changed).

    Locks the service's row, then its open incidents (the order webapp.incidents.actions.lock
    keeps). A shorter target can be reached at once: the events recorded meanwhile are
    published by the caller's unit of work after its commit."""
    lock_service(service_id)
    for incident in db.session.scalars(
        select(Incident)
        .where(Incident.service_id == service_id, Incident.resolved_at.is_(None))
        .order_by(Incident.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all():
        check(incident, actor="sla")


def _recorded(incident: Incident) -> frozenset[tuple[str, str]]:
    return frozenset(key for key, column in MARK_COLUMNS.items() if getattr(incident, column))


def check(
    incident: Incident, actor: str, now: dt.datetime | None = None, pauses: list | None = None
) -> list[int]:
    """Record the marks the incident has reached and their events; return the events' ids."""
    marks = reached(incident, now, pauses)
    db.session.flush()
    events = announcements(incident, marks)
    return record_many([(event, incident.company_id) for event in events], actor)


def reached(incident: Incident, now: dt.datetime | None = None, pauses: list | None = None) -> list:
    """Record the marks the incident has reached on it, unflushed; return those to announce
    (their events are announcements(), once the incident is flushed and has its id; the
    caller records them in the same transaction: check(), or a batch of incidents at once,
    which flushes all its new incidents together).

    Each mark keeps the time the incident passed it (its deadline), not when it was noticed.
    Runs inside the caller's write transaction, which holds the incident's row (its unit of
    work commits and publishes), or which is adding the incident: a new one is written with its
    marks in one INSERT. A service that has ended keeps no clocks. `pauses`: the service's, when
    the caller has read them already (for many services at once)."""
    now = now or utcnow()
    with db.session.no_autoflush:  # a new incident is inserted once, with its marks
        service = db.session.get(ClientService, incident.service_id)
        if service.status not in TRACKED:
            incident.next_check_at = None
            return []
        company = db.session.get(Company, incident.company_id)
        verdict = evaluate(
            IncidentTimes(incident.opened_at, incident.acknowledged_at, incident.resolved_at),
            policy_for(service),
            hours_for(company),
            pauses_for(service.id) if pauses is None else pauses,
            now,
            _recorded(incident),
        )
    new = inspect(incident).pending
    announce = []
    for mark in verdict.passed + verdict.due:
        column = MARK_COLUMNS[(mark.kind, mark.level)]
        if new:  # no one else can see it yet
            setattr(incident, column, mark.at)
        elif db.session.execute(
            update(Incident)
            .where(Incident.id == incident.id, getattr(Incident, column).is_(None))
            .values({column: mark.at})
            .execution_options(synchronize_session=False)
        ).rowcount:
            set_committed_value(incident, column, mark.at)
        else:
            continue  # another caller recorded it (and announced it) first
        if mark not in verdict.passed:
            announce.append(mark)
    incident.next_check_at = verdict.next_check if incident.resolved_at is None else None
    return announce


def announcements(incident: Incident, marks: list) -> list[ev.Event]:
    """The events of the marks reached() returned, for the incident now flushed."""
    return [
        (ev.ServiceSLABreached if mark.level == BREACH else ev.ServiceSLAAtRisk)(
            incident.service_id, incident.id, mark.kind
        )
        for mark in marks
    ]
