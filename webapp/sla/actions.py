"""Writes on SLA alerts: acknowledging one."""

from sqlalchemy import update

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.pipeline.outbox import unit_of_work
from webapp.sla.models import SlaAlert
from webapp.tenancy import get_or_404


def acknowledge(company_id: int, alert_id: int, user_id: int) -> SlaAlert:
    """Record who acknowledged the alert and when; the first acknowledgement stands
    (acknowledging again changes nothing). NotFound for another company's alert."""
    with unit_of_work():
        alert = get_or_404(SlaAlert, company_id, alert_id)
        db.session.execute(
            update(SlaAlert)
            .where(SlaAlert.id == alert.id, SlaAlert.acknowledged_at.is_(None))
            .values(acknowledged_at=utcnow(), acknowledged_by_id=user_id)
            .execution_options(synchronize_session=False)
        )
    return alert
