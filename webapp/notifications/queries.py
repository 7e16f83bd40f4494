"""Notifications as Operations lists them: the failed ones, the ones whose sender stopped while
handing them over, and the ones nobody could be sent."""

import datetime as dt

from flask import current_app
from sqlalchemy import select

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.notifications.models import NO_RECIPIENT, Notification
from webapp.services.models import ClientService


def failed(company_id: int, limit: int = 50):
    """Mails and webhook calls that failed, newest first, with their service's name (None for
    mail about a person): RQ's retries may have run out, and then only a person sends them
    again."""
    return db.session.execute(
        select(Notification, ClientService.name)
        .outerjoin(ClientService, Notification.service_id == ClientService.id)
        .where(Notification.company_id == company_id, Notification.status == "failed")
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def uncertain_filter():
    """Handed over by a sender that stopped before it heard back (longer ago than any live
    sender takes): the server may or may not have the message, so only a person resends it."""
    stale = utcnow() - dt.timedelta(seconds=current_app.config["SENDING_STALE_SECONDS"])
    return (Notification.status == "transmitting") & (Notification.sent_at < stale)


def uncertain(company_id: int, limit: int = 50):
    """Notifications whose delivery is uncertain (see uncertain_filter), newest first, with their
    service's name."""
    return db.session.execute(
        select(Notification, ClientService.name)
        .outerjoin(ClientService, Notification.service_id == ClientService.id)
        .where(Notification.company_id == company_id, uncertain_filter())
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def no_recipient(company_id: int, limit: int = 50):
    """Notices that had nobody to go to (no contact with the role, no account manager, no
    webhook), newest first, with their service's name and client (id, name): a person adds
    the missing contact, and later notices reach it."""
    return db.session.execute(
        select(Notification, ClientService.name, Client.id, Client.name)
        .outerjoin(ClientService, Notification.service_id == ClientService.id)
        .outerjoin(Client, ClientService.client_id == Client.id)
        .where(Notification.company_id == company_id, Notification.status == NO_RECIPIENT)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()
