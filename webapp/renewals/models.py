"""Renewal reminders, one per service, term and threshold."""

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import utcnow
from webapp.database import TenantMixin
from webapp.extensions import db


class RenewalReminder(TenantMixin, db.Model):
    """One row per service, term and threshold: the guarantee that a reminder goes out once.

    A threshold passed while the scheduler did not run is recorded as skipped when a nearer
    one is sent in its place, so a client never gets three reminders on one morning.
    """

    __tablename__ = "renewal_reminders"
    __table_args__ = (UniqueConstraint("service_id", "term_end", "days_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"))
    term_end: Mapped[dt.date]
    days_before: Mapped[int]
    event_id: Mapped[int | None] = mapped_column(ForeignKey("domain_events.id"))
    status: Mapped[str] = mapped_column(String(10))  # "sent" or "skipped"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
