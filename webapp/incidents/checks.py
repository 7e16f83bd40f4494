"""What every write of an incident shares, recording one (webapp.incidents.recording) or
changing one (webapp.incidents.actions): the checks on the times it is given, refused with
IncidentRefused before anything is written, and what follows the write (the SLA check and
the service's health mark).
"""

import datetime as dt

from sqlalchemy import update

from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.services.models import ClientService
from webapp.sla import tracking as sla_tracking

# Monitoring clocks drift; an incident a little ahead of ours is taken as opened now.
CLOCK_SKEW = dt.timedelta(minutes=5)


class IncidentRefused(ValueError):
    """A change that would make the incident's record wrong; nothing is written.

    `field` names the input at fault when it is not the time being set."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def between(when: dt.datetime, opened_at: dt.datetime, now: dt.datetime, what: str):
    when = not_after(when, now, what)
    if when < opened_at:
        raise IncidentRefused(
            f"The incident opened at {opened_at:%Y-%m-%d %H:%M} UTC; it cannot be {what} "
            "before that."
        )
    return when


def not_after(when: dt.datetime, now: dt.datetime, what: str) -> dt.datetime:
    if when > now + CLOCK_SKEW:
        raise IncidentRefused(
            f"An incident cannot be {what} in the future ({when:%Y-%m-%d %H:%M} UTC)."
        )
    return min(when, now)


def after_write(incident: Incident, actor: str, now: dt.datetime, pauses=None) -> None:
    """In the write's transaction: record any SLA warning or breach the write reveals
    (webapp.sla.tracking.check), and mark the service's health for recalculation."""
    sla_tracking.check(incident, actor, now, pauses)
    mark_health_stale([incident.service_id])


def mark_health_stale(service_ids) -> None:
    """The services' health scores are to be recalculated: their incidents changed."""
    db.session.execute(
        update(ClientService)
        .where(ClientService.id.in_(sorted(set(service_ids))))
        .values(health_stale=True)
        .execution_options(synchronize_session=False)
    )
