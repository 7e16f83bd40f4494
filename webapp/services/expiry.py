"""Expiry: services past term end plus grace without auto-renew, and billing that has ended.

The same periodic run first carries out the cancellations at term end whose day has come
(webapp.services.cancellations): those services end by cancellation, never by expiry.
"""

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import select

from webapp.billing.listeners import reconcile_service
from webapp.billing.models import RecurringBilling
from webapp.clock import today
from webapp.extensions import db
from webapp.lifecycle.statuses import RUNNING, BillingStatus, ServiceStatus
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.outbox import unit_of_work
from webapp.services import actions as service_lifecycle
from webapp.services.cancellations import cancel_due_services
from webapp.services.models import ClientService

log = logging.getLogger(__name__)


def expire_due_services() -> int:
    """Cancel services whose cancellation at term end has come; expire services past term end
    plus grace without auto-renew; stop billing that has ended. Returns how many expired."""
    cancelled = cancel_due_services()
    if cancelled:
        log.info("cancelled at term end: %s", cancelled)
    grace = dt.timedelta(days=current_app.config["EXPIRY_GRACE_DAYS"])
    due = db.session.execute(
        select(ClientService.company_id, ClientService.id).where(
            ClientService.status.in_(RUNNING),
            ClientService.auto_renew.is_(False),
            ClientService.term_end < today() - grace,
            ClientService.cancellation_effective_on.is_(None),
        )
    ).all()
    db.session.rollback()
    expired = 0
    for company_id, service_id in due:
        try:
            service_lifecycle.expire(company_id, service_id, actor="scheduler")
            expired += 1
        except TransitionRefused as exc:  # changed meanwhile; the next run looks again
            log.info("not expired: %s", exc)
    _stop_ended_billing()
    return expired


def _stop_ended_billing() -> None:
    # Billing still running for a service that has ended (expired, or cancelled with a later
    # end date before cancellations at term end were scheduled instead): reconciling stops it
    # once the end date has come, and leaves it alone before.
    ended = db.session.scalars(
        select(RecurringBilling.service_id)
        .join(ClientService)
        .where(
            RecurringBilling.status != BillingStatus.STOPPED,
            ClientService.status.in_([ServiceStatus.CANCELLED, ServiceStatus.EXPIRED]),
        )
    ).all()
    db.session.rollback()
    for service_id in ended:
        with unit_of_work():
            reconcile_service(service_id)
