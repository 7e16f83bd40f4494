"""Recording incidents on stored services, one (record) or several in one transaction
(record_many), deduplicated by the monitoring tool's key; changing them is
webapp.incidents.actions.

The UI, the JSON API and the Alertmanager endpoint all come through here. Each recording is one
write transaction that also marks the service's health for recalculation and records any SLA
warning or breach the incident already reveals (webapp.incidents.checks.after_write); events
are published after commit.
"""

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.accounts.models import User
from webapp.assets.models import Asset
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents import actions
from webapp.incidents.checks import IncidentRefused, between, mark_health_stale, not_after
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import Severity
from webapp.pipeline.outbox import record_many as record_events
from webapp.pipeline.outbox import savepoint, unit_of_work
from webapp.services.models import ClientService
from webapp.sla import tracking as sla_tracking
from webapp.tenancy import NotFound, get_or_404, scoped


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
    asset_id: int | None = None  # the asset its labels named (webapp.assets.routing)


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
    that incident is written; the incidents are written together in one savepoint, and only
    when that write fails, each in a savepoint of its own, so one that fails to write rolls
    back alone (_record_together, _record_alone). The services are locked first, all of them and in id
    order, so two batches, or a batch and a single writer (which holds one service, then its
    incidents), never wait on each other in a circle."""
    outcomes, times = _refused_times(news, utcnow())
    if not times:
        return outcomes  # every one refused: no transaction
    for attempt in range(attempts):
        try:
            with unit_of_work():
                return record_within(company_id, news, actor)
        except IntegrityError:
            # Another transaction opened one of these keyed incidents between our look and our
            # insert, and it was not open any more when we looked again: start again.
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def record_within(company_id: int, news: list[NewIncident], actor: str) -> list[Recorded]:
    """record_many's work inside the caller's open unit of work (which, holding a lock of its
    own first, records only what it still should): nothing is committed here, and an
    IntegrityError (a keyed incident opened and closed again meanwhile) is the caller's to
    retry."""
    now = utcnow()
    outcomes, times = _refused_times(news, now)
    if not times:
        return outcomes
    services = _lock_services(company_id, {news[i].service_id for i in times})
    batch = _Batch(
        services,
        _open_with_keys(company_id, [news[i] for i in times]),
        sla_tracking.pauses_by_service(list(services)),
        # Held here: the session keeps only weak references, and each incident's SLA check
        # would otherwise read the company's row again (its business hours).
        db.session.get(Company, company_id),
    )
    if not _record_together(company_id, batch, news, times, outcomes, actor, now):
        for i, when in times.items():
            outcomes[i] = _record_alone(company_id, batch, news[i], when, actor, now)
    if batch.stale:
        mark_health_stale(batch.stale)  # one UPDATE, not one an incident
    record_events([(event, company_id) for event in batch.events], actor)
    _seen(company_id, news, outcomes, now)
    db.session.flush()
    return outcomes


def _refused_times(news: list[NewIncident], now: dt.datetime) -> tuple[list, dict]:
    """Each incident's refusal for its times (else None), and the times of those not refused."""
    outcomes: list[Recorded | None] = [None] * len(news)
    times = {}
    for i, new in enumerate(news):
        try:
            times[i] = _times(new, now)
        except IncidentRefused as exc:
            outcomes[i] = exc
    return outcomes, times


def check(company_id: int, new: NewIncident) -> None:
    """What record() would refuse this incident for, raised without writing anything: its
    service (NotFound, or not taking incidents) and its times (IncidentRefused)."""
    _times(new, utcnow())
    service = get_or_404(ClientService, company_id, new.service_id)
    if service.status not in sla_tracking.TRACKED:
        raise IncidentRefused(
            f"{service.name} is {service.status.value}; incidents are recorded on active "
            "or suspended services only.",
            field="service_id",
        )


def _times(new: NewIncident, now: dt.datetime):
    opened_at = not_after(new.opened_at or now, now, "opened")
    acknowledged_at, resolved_at = (
        between(t, opened_at, now, what) if t is not None else None
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
    company: Company
    stale: set[int] = field(default_factory=set)  # services whose health is to recalculate
    events: list = field(default_factory=list)  # the incidents' SLA marks reached


def _record_together(company_id, batch: _Batch, news, times, outcomes, actor, now) -> bool:
    """Every incident in one savepoint and one flush: what almost every notification takes.
    A refusal is found before its incident is written, so it needs no savepoint of its own;
    only a write that fails (a key opened by another transaction meanwhile) does. Then the
    whole savepoint is rolled back, `batch` is as it was, and False says: one by one instead
    (_record_alone). A savepoint and a flush per incident were half of an alert's CPU."""
    before = (dict(batch.open_by_key), set(batch.stale))
    found: dict[int, Recorded] = {}
    reached = []
    try:
        with savepoint(), db.session.no_autoflush:
            for i, when in times.items():
                try:
                    incident, is_new, marks = _record_one(
                        company_id, batch, news[i], when, actor, now
                    )
                except (NotFound, IncidentRefused) as exc:
                    found[i] = exc
                    continue
                found[i] = incident, is_new
                reached.append((incident, marks))
            db.session.flush()
    except IntegrityError:
        batch.open_by_key, batch.stale = before
        return False
    for incident, marks in reached:
        batch.events += sla_tracking.announcements(incident, marks)
    for i, outcome in found.items():
        outcomes[i] = outcome
    return True


def _record_alone(company_id, batch: _Batch, new, when, actor, now) -> Recorded:
    """_record_one in a savepoint: what it returns, or why this incident was not recorded."""
    key = (new.source, new.external_key)
    known = batch.open_by_key.get(key)
    try:
        with savepoint():
            incident, is_new, marks = _record_one(company_id, batch, new, when, actor, now)
        # Its SLA events are recorded with the batch's, in two statements (outbox.record_many),
        # once its savepoint has held (and flushed it): a rolled-back incident leaves none.
        batch.events += sla_tracking.announcements(incident, marks)
        return incident, is_new
    except (NotFound, IncidentRefused) as exc:
        _restore(batch.open_by_key, key, known)
        return exc
    except IntegrityError:
        _restore(batch.open_by_key, key, known)
        if not new.external_key:
            raise
        # Another transaction opened this key between our look and our insert (it was not
        # locked out: its service is another one). It is open now, and committed: a repeat.
        existing = actions.open_with_key(company_id, *key)
        if existing is None:
            raise
        batch.open_by_key[key] = existing
        try:
            return _same_service(existing, new.service_id), False
        except IncidentRefused as exc:
            return exc


def _restore(mapping: dict, key, value) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _record_one(company_id, batch: _Batch, new, when, actor, now) -> tuple[Incident, bool, list]:
    """One incident of record_many, in its transaction, not flushed: the incident, whether it
    is new, and the SLA marks it has reached, to announce once it is flushed."""
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
        return _same_service(existing, service.id), False, []
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
        asset_id=new.asset_id,
    )
    # No refusal may be raised below: _record_together catches refusals without a savepoint,
    # trusting that nothing of a refused incident was added.
    db.session.add(incident)
    if new.external_key and resolved_at is None:
        # One recorded resolved (a routed alert that ended) is no later one's to repeat.
        batch.open_by_key[key] = incident
    # Not flushed: the SLA check sets the marks already passed on the new row, so it is
    # written with one INSERT, when the caller flushes.
    marks = sla_tracking.reached(incident, now, batch.pauses[service.id])
    batch.stale.add(service.id)
    return incident, True, marks


def _seen(company_id: int, news: list[NewIncident], outcomes: list, now: dt.datetime) -> None:
    """The assets whose alerts were recorded (new or repeated) were seen now. Locked in id
    order after every service, as all batches do, so two batches never wait in a circle."""
    seen = sorted(
        {
            new.asset_id
            for new, outcome in zip(news, outcomes, strict=True)
            if new.asset_id is not None and isinstance(outcome, tuple)
        }
    )
    if not seen:
        return
    for asset in db.session.scalars(
        select(Asset)
        .where(Asset.company_id == company_id, Asset.id.in_(seen))
        .order_by(Asset.id)
        .with_for_update()
    ):
        if asset.last_seen_at is None or asset.last_seen_at < now:
            asset.last_seen_at = now


def _same_service(existing: Incident, service_id: int) -> Incident:
    if existing.service_id != service_id:
        raise IncidentRefused(
            f"{existing.external_key!r} is the key of incident {existing.id}, open on another "
            "service; resolve that one first or use another key.",
            field="external_key",
        )
    return existing


def _open_with_keys(company_id: int, news: list[NewIncident]) -> dict[tuple[str, str], Incident]:
    """The open incident each keyed one among these would repeat, by (source, key), in one
    query (webapp.incidents.actions.open_with_key's look, for several keys at once)."""
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


def open_keys(company_id: int, source: str, keys: list[str], chunk: int = 500) -> set[str]:
    """Which of these keys of a source have an open incident: what a batch would only repeat."""
    found: set[str] = set()
    unique = sorted(set(keys))
    for start in range(0, len(unique), chunk):
        found.update(
            db.session.scalars(
                select(Incident.external_key).where(
                    Incident.company_id == company_id,
                    Incident.source == source,
                    Incident.external_key.in_(unique[start : start + chunk]),
                    Incident.resolved_at.is_(None),
                )
            )
        )
    return found
