"""Writes on SLA alerts: acknowledging one, or several at once."""

from dataclasses import dataclass

from sqlalchemy import select, update

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.pipeline.outbox import unit_of_work
from webapp.sla.models import SlaAlert
from webapp.tenancy import NotFound, get_or_404


def acknowledge(company_id: int, alert_id: int, user_id: int) -> SlaAlert:
    """Record who acknowledged the alert and when; the first acknowledgement stands
    (acknowledging again changes nothing). NotFound for another company's alert."""
    with unit_of_work():
        alert = get_or_404(SlaAlert, company_id, alert_id)
        _acknowledge(alert.id, user_id)
    return alert


def _acknowledge(alert_id: int, user_id: int) -> bool:
    """Whether this call acknowledged it: guarded on the row, so of two technicians pressing
    at once only the first is recorded."""
    return bool(
        db.session.execute(
            update(SlaAlert)
            .where(SlaAlert.id == alert_id, SlaAlert.acknowledged_at.is_(None))
            .values(acknowledged_at=utcnow(), acknowledged_by_id=user_id)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


@dataclass(frozen=True)
class Acknowledged:
    done: int  # acknowledged by this call
    already: int  # someone had acknowledged them first


def acknowledge_many(company_id: int, alert_ids: list[int], user_id: int) -> Acknowledged:
    """Acknowledge the selected alerts, all in one transaction, each as acknowledge() does.
    NotFound, with nothing written, if any id is not one of the company's alerts: a page
    only offers its own (alerts are never deleted), so a stranger id is a forged request."""
    wanted = set(alert_ids)
    with unit_of_work():
        found = set(
            db.session.scalars(
                select(SlaAlert.id).where(
                    SlaAlert.company_id == company_id, SlaAlert.id.in_(wanted)
                )
            )
        )
        if missing := wanted - found:
            raise NotFound(f"No SLA alert {min(missing)} in this company.")
        done = sum(_acknowledge(alert_id, user_id) for alert_id in sorted(found))
    return Acknowledged(done, len(found) - done)
