"""Notifications (mail and webhook sends) and the webhooks they go to."""

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import utcnow
from webapp.database import TenantMixin
from webapp.extensions import db

# A notice nobody could be sent (no contact with the role, no manager, no webhook) is kept as
# one row with this channel and status, its error saying why: Operations lists it, and the
# sender never sends it.
NO_CHANNEL, NO_RECIPIENT = "none", "no_recipient"

# A notification that can never be sent as it is (its mail cannot be built, the server refused
# its recipient or message for good, its webhook is gone): it failed once, its error saying
# why, and nothing sends it again on its own; Operations lists it with the failed ones, and a
# person may send it again once the cause is fixed (webapp.notifications.sending).
UNDELIVERABLE = "undeliverable"


class Notification(TenantMixin, db.Model):
    """A message a listener decided to send; one per event, listener and recipient."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "listener", "recipient"),
        # The relay's and Operations' look-ups by state and claim time (see the migration).
        Index("ix_notifications_status_sent_at", "status", "sent_at"),
        Index("ix_notifications_status_channel_created_at", "status", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"))
    listener: Mapped[str] = mapped_column(String(80))
    # None for mail about a person (an invitation, a password reset).
    service_id: Mapped[int | None] = mapped_column(ForeignKey("client_services.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # queued, sending, transmitting, sent, failed (retried), undeliverable (not retried);
    # "no_recipient" when nobody was there to tell (channel "none"), so a notice with no
    # recipient is shown, not lost.
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When sent; while "sending" or "transmitting", when its sender claimed it
    # (webapp.notifications.sending).
    sent_at: Mapped[dt.datetime | None]


class Webhook(TenantMixin, db.Model):
    """A chat or integration endpoint that receives the company's notifications."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "slack", "teams" or "generic"
    url: Mapped[str] = mapped_column(String(2000))
    # Generic webhooks sign each body with HMAC-SHA256 under this secret.
    secret: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
