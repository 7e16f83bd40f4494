"""A service's own SLA policy, saved together with the rescheduling of its open incidents.

Each value left empty (None) means the service level's default. The new clocks of the open
incidents are worked out in the same write transaction, so a target made shorter than the
time already spent records its warning or breach (and event) at once, committed with it.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.events import ServiceSLAChanged
from webapp.pipeline.outbox import record, unit_of_work
from webapp.services.models import ClientService
from webapp.sla import tracking as sla_tracking
from webapp.tenancy import get_or_404


@dataclass(frozen=True)
class SlaPolicy:
    response_minutes: int | None = None
    resolution_minutes: int | None = None
    availability_target: Decimal | None = None
    warning_percent: int | None = None
    around_the_clock: bool | None = None


class PolicyRefused(ValueError):
    """A policy that cannot hold as a whole; `field` names the value to change."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def save(company_id: int, service_id: int, policy: SlaPolicy, actor: str) -> int:
    """Store the policy and reschedule the open incidents; returns how many were rescheduled.

    The change is recorded as a ServiceSLAChanged event, in the same transaction, so the audit
    trail says who changed which targets."""
    with unit_of_work():
        service = get_or_404(ClientService, company_id, service_id)
        service.sla_response_minutes = policy.response_minutes
        service.sla_resolution_minutes = policy.resolution_minutes
        service.sla_availability_target = policy.availability_target
        service.sla_warning_percent = policy.warning_percent
        service.sla_around_the_clock = policy.around_the_clock
        effective = sla_tracking.policy_for(service)
        if effective.resolution_minutes < effective.response_minutes:
            raise PolicyRefused(
                "resolution_minutes",
                f"Resolution ({effective.resolution_minutes} min) cannot be sooner than "
                f"response ({effective.response_minutes} min).",
            )
        db.session.flush()
        open_incidents = db.session.scalar(
            select(func.count()).where(
                Incident.service_id == service.id, Incident.resolved_at.is_(None)
            )
        )
        sla_tracking.reschedule(service.id)
        changed = ServiceSLAChanged(
            service_id=service.id,
            response_minutes=policy.response_minutes,
            resolution_minutes=policy.resolution_minutes,
            availability_target=(
                None if policy.availability_target is None else str(policy.availability_target)
            ),
            warning_percent=policy.warning_percent,
            around_the_clock=policy.around_the_clock,
        )
        record(changed, company_id, actor)
    return open_incidents
