"""Incidents on stored services: record, acknowledge (the first response) and resolve.

The UI, the JSON API and the Alertmanager endpoint all come through here. Each change is one
write transaction that also marks the service's health for recalculation and records any SLA
warning or breach the change reveals (webapp.sla.tracking.check); events are published after
commit.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import Severity
from webapp.pipeline.outbox import unit_of_work
from webapp.services.models import ClientService
from webapp.sla import tracking as sla_tracking
from webapp.tenancy import NotFound, get_or_404, scoped

# Monitoring clocks drift; an incident a little ahead of ours is taken as opened now.
CLOCK_SKEW = dt.timedelta(minutes=5)


class IncidentRefused(ValueError):
    """A change that would make the incident's record wrong; nothing is written.

    `field` names the input at fault when it is not the time being set."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewIncident:
    service_id: int
    title: str
    severity: Severity
    opened_at: dt.datetime | None = None  # naive UTC; None: now
    description: str | None = None
    source: str = "ui"
    external_key: str | None = None  # the monitoring tool's id or fingerprint, for deduplication
    assignee_id: int | None = None
    # Recorded after the fact: when it was answered and resolved, if it already was.
    acknowledged_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None


def record(company_id: int, new: NewIncident, actor: str) -> tuple[Incident, bool]:
    """Record an incident; returns it and whether it is new.

    With an external key that matches an open incident from the same source, that incident is
    returned unchanged: a monitoring tool repeating itself does not open a second one."""
    outcome = record_many(company_id, [new], actor)[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


Recorded = tuple[Incident, bool] | NotFound | IncidentRefused


def record_many(
    company_id: int, news: list[NewIncident], actor: str, attempts: int = 3
) -> list[Recorded]:
    """Record several incidents in one transaction, one commit and one publish (an
    Alertmanager notification's alerts); for each, what record() returns or the refusal.

    Each incident stands alone: one refused (an unknown service, a time in the future) is
    reported in its place and the others are recorded. Refusals are found before anything of
    that incident is written. The services are locked first, all of them and in id order, so
    two batches, or a batch and a single writer (which holds one service, then its incidents),
    never wait on each other in a circle."""
    now = utcnow()
    outcomes: list[Recorded | None] = [None] * len(news)
    times = {}
    for i, new in enumerate(news):
        try:
            times[i] = _times(new, now)
        except IncidentRefused as exc:
            outcomes[i] = exc
    if not times:
        return outcomes
    for attempt in range(attempts):
        try:
            with unit_of_work():
                services = _lock_services(company_id, {news[i].service_id for i in times})
                batch = _Batch(
                    services,
                    _open_with_keys(company_id, [news[i] for i in times]),
                    sla_tracking.pauses_by_service(list(services)),
                )
                for i, when in times.items():
                    try:
                        outcomes[i] = _record_one(company_id, batch, news[i], when, actor, now)
                    except (NotFound, IncidentRefused) as exc:
                        outcomes[i] = exc
                db.session.flush()
        except IntegrityError:
            # Another transaction opened one of these keyed incidents between our look and our
            # insert: start again, and find it this time.
            if attempt + 1 == attempts:
                raise
            continue
        return outcomes
    raise AssertionError("unreachable")


def _times(new: NewIncident, now: dt.datetime):
    opened_at = _not_after(new.opened_at or now, now, "opened")
    acknowledged_at, resolved_at = (
        _between(t, opened_at, now, what) if t is not None else None
        for t, what in ((new.acknowledged_at, "answered"), (new.resolved_at, "resolved"))
    )
    return opened_at, acknowledged_at, resolved_at


def _lock_services(company_id: int, service_ids) -> dict[int, ClientService]:
    """The company's services among these, locked in id order (webapp.sla.tracking.lock_service's
    rule, for several services at once)."""
    return {
        service.id: service
        for service in db.session.scalars(
            scoped(ClientService, company_id)
            .where(ClientService.id.in_(sorted(service_ids)))
            .order_by(ClientService.id)
            .with_for_update()
        )
    }


@dataclass
class _Batch:
    """What record_many reads once for all its incidents, in its transaction."""

    services: dict[int, ClientService]  # locked
    open_by_key: dict[tuple[str, str], Incident]  # kept up to date as incidents are added
    pauses: dict[int, list]


def _record_one(company_id, batch: _Batch, new, when, actor, now) -> tuple[Incident, bool]:
    """One incident of record_many, in its transaction: the incident, and whether it is new."""
    opened_at, acknowledged_at, resolved_at = when
    service = batch.services.get(new.service_id)
    if service is None:
        raise NotFound(f"No ClientService {new.service_id} in this company.")
    if service.status not in sla_tracking.TRACKED:
        raise IncidentRefused(
            f"{service.name} is {service.status.value}; incidents are recorded on active "
            "or suspended services only.",
            field="service_id",
        )
    if new.assignee_id is not None:
        get_or_404(User, company_id, new.assignee_id)
    key = (new.source, new.external_key)
    if new.external_key and (existing := batch.open_by_key.get(key)):
        return _same_service(existing, service.id), False
    incident = Incident(
        company_id=company_id,
        service_id=service.id,
        title=new.title.strip(),
        description=(new.description or "").strip() or None,
        severity=Severity(new.severity),
        source=new.source,
        external_key=new.external_key,
        opened_at=opened_at,
        recorded_by=actor,
        assignee_id=new.assignee_id,
        acknowledged_at=acknowledged_at,
        acknowledged_by=actor if acknowledged_at else None,
        resolved_at=resolved_at,
        resolved_by=actor if resolved_at else None,
    )
    db.session.add(incident)
    if new.external_key:
        batch.open_by_key[key] = incident
    # Not flushed yet: the SLA check sets the marks already passed on the new row, so it is
    # written with one INSERT (check flushes it).
    _changed(incident, actor, now, batch.pauses[service.id])
    return incident, True


def acknowledge(company_id: int, incident_id: int, actor: str, at=None, user_id=None) -> Incident:
    """The first response. Acknowledging again changes nothing."""

    def change(incident, when):
        if incident.acknowledged_at is None and incident.resolved_at is None:
            incident.acknowledged_at, incident.acknowledged_by = when, actor
            incident.assignee_id = incident.assignee_id or user_id
            return True
        return False

    return _update(company_id, incident_id, actor, at, change)


def resolve(company_id: int, incident_id: int, actor: str, at=None) -> Incident:
    """Resolving again changes nothing; a resolved incident stays resolved.

    A time given for an answer or resolution may be earlier than a warning or breach already
    recorded (a monitoring tool's late "resolved"): the time is kept as given, and what was
    recorded and announced stands."""

    def change(incident, when):
        if incident.resolved_at is None:
            incident.resolved_at, incident.resolved_by = when, actor
            return True
        return False

    return _update(company_id, incident_id, actor, at, change)


def resolve_by_key(company_id: int, source: str, key: str, actor: str, at=None) -> Incident | None:
    """Resolve the open incident a monitoring tool knows by this key, if there is one."""
    open_one = _open_with_key(company_id, source, key)
    db.session.rollback()
    if open_one is None:
        return None
    return resolve(company_id, open_one.id, actor, at)


def lock(company_id: int, incident_id: int) -> Incident:
    """The incident, fresh and locked, after its service: every writer takes the service's row
    first (a transition, a policy change, an incident change, the sweep), then the incident's,
    so two of them never wait on each other in a circle."""
    service_id = db.session.scalar(
        select(Incident.service_id).where(
            Incident.company_id == company_id, Incident.id == incident_id
        )
    )
    if service_id is None:
        raise NotFound(f"No Incident {incident_id} in this company.")
    sla_tracking.lock_service(service_id)
    return db.session.scalars(
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _update(company_id, incident_id, actor, at, change) -> Incident:
    now = utcnow()
    with unit_of_work():
        incident = lock(company_id, incident_id)
        when = _between(at or now, incident.opened_at, now, "answered or resolved")
        if change(incident, when):
            _changed(incident, actor, now)
    return incident


def _changed(incident: Incident, actor: str, now: dt.datetime, pauses=None) -> None:
    sla_tracking.check(incident, actor, now, pauses)
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == incident.service_id)
        .values(health_stale=True)
        .execution_options(synchronize_session=False)
    )


def _same_service(existing: Incident, service_id: int) -> Incident:
    if existing.service_id != service_id:
        raise IncidentRefused(
            f"{existing.external_key!r} is the key of incident {existing.id}, open on another "
            "service; resolve that one first or use another key.",
            field="external_key",
        )
    return existing


def _open_with_keys(company_id: int, news: list[NewIncident]) -> dict[tuple[str, str], Incident]:
    """_open_with_key for each keyed incident among these, in one query."""
    keys = {(n.source, n.external_key) for n in news if n.external_key}
    if not keys:
        return {}
    found = db.session.scalars(
        select(Incident).where(
            Incident.company_id == company_id,
            Incident.source.in_({source for source, _ in keys}),
            Incident.external_key.in_({key for _, key in keys}),
            Incident.resolved_at.is_(None),
        )
    )
    return {(i.source, i.external_key): i for i in found if (i.source, i.external_key) in keys}


def _open_with_key(company_id: int, source: str, key: str) -> Incident | None:
    """The open incident a source knows by this key (at most one: a partial unique index)."""
    return db.session.scalars(
        select(Incident).where(
            Incident.company_id == company_id,
            Incident.source == source,
            Incident.external_key == key,
            Incident.resolved_at.is_(None),
        )
    ).first()


def _between(when: dt.datetime, opened_at: dt.datetime, now: dt.datetime, what: str):
    when = _not_after(when, now, what)
    if when < opened_at:
        raise IncidentRefused(
            f"The incident opened at {opened_at:%Y-%m-%d %H:%M} UTC; it cannot be {what} "
            "before that."
        )
    return when


def _not_after(when: dt.datetime, now: dt.datetime, what: str) -> dt.datetime:
    if when > now + CLOCK_SKEW:
        raise IncidentRefused(
            f"An incident cannot be {what} in the future ({when:%Y-%m-%d %H:%M} UTC)."
        )
    return min(when, now)
