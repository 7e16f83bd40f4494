"""SLA alerts: at-risk warnings, breaches and health alerts, acknowledged by technicians."""

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import utcnow
from webapp.database import TenantMixin
from webapp.extensions import db


class SlaAlert(TenantMixin, db.Model):
    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("event_id"),
        # The escalation sweep reads only alerts nobody has answered yet.
        Index(
            "ix_sla_alerts_unanswered",
            "created_at",
            sqlite_where=text("acknowledged_at IS NULL AND escalated_at IS NULL"),
            postgresql_where=text("acknowledged_at IS NULL AND escalated_at IS NULL"),
        ),
        # Open (or acknowledged) alerts per company, and /live's count and latest changes,
        # read from the index alone.
        Index(
            "ix_sla_alerts_company_acknowledged", "company_id", "acknowledged_at", "escalated_at"
        ),
        # An incident's page lists the alerts it raised.
        Index("ix_sla_alerts_incident", "incident_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    incident_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    escalated_at: Mapped[dt.datetime | None]
