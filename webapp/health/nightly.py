"""The nightly health run: every running service scored, then the month's bands."""

from sqlalchemy import select

from webapp.company.models import Company
from webapp.database import chunked
from webapp.extensions import db
from webapp.health import history as health_history
from webapp.health import scores as health_scores
from webapp.lifecycle.statuses import RUNNING
from webapp.pipeline.outbox import unit_of_work
from webapp.services.models import ClientService


def recalculate_health() -> int:
    """Nightly: every running service's score, so reviews going overdue count too; a chunk of
    services per transaction (see webapp.health.scores.recalculate_many). Then each company's
    bands as its row for this month (webapp.health.history.record_month): the month's last run
    is the one that stays."""
    ids = db.session.scalars(
        select(ClientService.id).where(ClientService.status.in_(RUNNING)).order_by(ClientService.id)
    ).all()
    db.session.rollback()
    for chunk in chunked(ids):
        with unit_of_work():
            health_scores.recalculate_many(chunk, actor="scheduler")
    for company_id in db.session.scalars(select(Company.id).order_by(Company.id)).all():
        health_history.record_month(company_id)
    return len(ids)
