"""Notifications as Operations lists them."""

from sqlalchemy import select

from webapp.extensions import db
from webapp.notifications.models import Notification
from webapp.services.models import ClientService


def failed(company_id: int, limit: int = 50):
    """Mails and webhook calls that failed, newest first, with their service's name: RQ's
    retries may have run out, and then only a person sends them again."""
    return db.session.execute(
        select(Notification, ClientService.name)
        .join(ClientService, Notification.service_id == ClientService.id)
        .where(Notification.company_id == company_id, Notification.status == "failed")
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()
