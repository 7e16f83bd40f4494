"""The scheduler's side of cancellations at term end: on the day one takes effect, the service
is cancelled (ServiceCancelled, dated that day, by "scheduler"), and its billing stops then.

Safe to run at any time and any number of times: a cancelled service is no longer running, so
a second run finds nothing, and two runs racing for one service make one change (the guarded
UPDATE of webapp.services.actions). A run that comes days late still dates the end on the day
that was scheduled.
"""

import logging

from sqlalchemy import select

from webapp.clock import today
from webapp.extensions import db
from webapp.lifecycle.statuses import RUNNING
from webapp.lifecycle.transitions import TransitionRefused
from webapp.services import actions as service_actions
from webapp.services.models import ClientService

log = logging.getLogger(__name__)


def cancel_due_services() -> int:
    """Cancel the running services whose scheduled cancellation has come; how many."""
    due = db.session.execute(
        select(ClientService.company_id, ClientService.id)
        .where(
            ClientService.status.in_(RUNNING),
            ClientService.cancellation_effective_on <= today(),
        )
        .order_by(ClientService.id)
    ).all()
    db.session.rollback()
    cancelled = 0
    for company_id, service_id in due:
        try:
            service_actions.cancel_when_due(company_id, service_id, actor="scheduler")
            cancelled += 1
        except TransitionRefused as exc:  # undone or cancelled meanwhile; the next run looks
            log.info("not cancelled: %s", exc)
    return cancelled
