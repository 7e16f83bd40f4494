"""Jobs the scheduler runs on a clock. Each is safe to run twice or to skip a run."""

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import select

from jobs import notifications
from jobs.context import app_context
from jobs.listeners.billing import reconcile_service
from webapp import health_history, health_scores, outbox, service_lifecycle
from webapp.clock import today, utcnow
from webapp.database import begin_write, chunked
from webapp.extensions import db
from webapp.lifecycle.statuses import RUNNING, BillingStatus, ServiceStatus
from webapp.lifecycle.transitions import TransitionRefused
from webapp.models import ClientService, Company, RecurringBilling
from webapp.queues import redis_connection

log = logging.getLogger(__name__)
HEARTBEAT_KEY = "dashboard:scheduler:heartbeat"


def relay_outbox() -> int:
    """Send outbox rows that were committed but never reached Redis."""
    with app_context():
        redis_connection().set(HEARTBEAT_KEY, utcnow().isoformat(), ex=3600)
        sent = outbox.relay() + notifications.requeue_stalled()
        if sent:
            log.info("relay sent %d", sent)
        return sent


def expire_due_services() -> int:
    """Expire services past term end plus grace without auto-renew; stop billing that has ended."""
    with app_context():
        grace = dt.timedelta(days=current_app.config["EXPIRY_GRACE_DAYS"])
        due = db.session.execute(
            select(ClientService.company_id, ClientService.id).where(
                ClientService.status.in_(RUNNING),
                ClientService.auto_renew.is_(False),
                ClientService.term_end < today() - grace,
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
    # Billing still running for a service that has ended (cancelled at term end, or expired):
    # reconciling stops it once the end date has come, and leaves it alone before.
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
        begin_write(db.session)
        reconcile_service(service_id)
        db.session.commit()


def recalculate_health() -> int:
    """Nightly: every running service's score, so reviews going overdue count too; a chunk of
    services per transaction (see health_scores.recalculate_many). Then each company's bands
    as its row for this month (health_history): the month's last run is the one that stays."""
    with app_context():
        ids = db.session.scalars(
            select(ClientService.id)
            .where(ClientService.status.in_(RUNNING))
            .order_by(ClientService.id)
        ).all()
        db.session.rollback()
        for chunk in chunked(ids):
            begin_write(db.session)
            try:
                degraded_events = health_scores.recalculate_many(chunk, actor="scheduler")
            except BaseException:
                db.session.rollback()
                raise
            outbox.commit_and_publish(degraded_events)
        for company_id in db.session.scalars(select(Company.id).order_by(Company.id)).all():
            health_history.record_month(company_id)
        return len(ids)
