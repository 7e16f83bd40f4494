"""Changing a recorded incident: acknowledge (the first response) and resolve, by id or by
the monitoring tool's key; and lock, the order every writer of an incident takes its locks in.

The UI, the JSON API and the Alertmanager endpoint all come through here (recording one is
webapp.incidents.recording). Each change is one write transaction that also marks the service's
health for recalculation and records any SLA warning or breach the change reveals
(webapp.incidents.checks.after_write); events are published after commit.
"""

from sqlalchemy import select

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents.checks import after_write, between
from webapp.incidents.models import Incident
from webapp.pipeline.outbox import unit_of_work
from webapp.sla import tracking as sla_tracking
from webapp.tenancy import NotFound


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
    """Resolve the open incident a monitoring tool knows by this key, if there is one.

    Never refused for its time: a tool's end before the incident's opening (Alertmanager sends
    one when an alert is sent again with other times) resolves it at its opening, and a note on
    the incident says so. Refusing would leave it open for ever, its SLA clocks running, since
    the tool does not send its "resolved" again."""
    open_one = open_with_key(company_id, source, key)
    db.session.rollback()
    if open_one is None:
        return None

    def change(incident, when):
        if incident.resolved_at is not None:
            return False
        incident.resolved_at, incident.resolved_by = when, actor
        if at is not None and at < incident.opened_at:
            note = (
                f"Resolved at its start: the reported end ({at:%Y-%m-%d %H:%M:%S} UTC) is "
                f"before the recorded start ({incident.opened_at:%Y-%m-%d %H:%M:%S} UTC)."
            )
            incident.description = "\n\n".join(filter(None, (incident.description, note)))
        return True

    return _update(company_id, open_one.id, actor, at, change, not_before_opening=True)


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


def _update(company_id, incident_id, actor, at, change, not_before_opening=False) -> Incident:
    now = utcnow()
    with unit_of_work():
        incident = lock(company_id, incident_id)
        if not_before_opening and at is not None:
            at = max(at, incident.opened_at)
        when = between(at or now, incident.opened_at, now, "answered or resolved")
        if change(incident, when):
            after_write(incident, actor, now)
    return incident


def open_with_key(company_id: int, source: str, key: str) -> Incident | None:
    """The open incident a source knows by this key (at most one: a partial unique index)."""
    return db.session.scalars(
        select(Incident).where(
            Incident.company_id == company_id,
            Incident.source == source,
            Incident.external_key == key,
            Incident.resolved_at.is_(None),
        )
    ).first()
