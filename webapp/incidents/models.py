"""Incidents and their SLA clock marks."""

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.database import TenantMixin, _enum
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    Severity,
)
from webapp.services.models import ClientService


class Incident(TenantMixin, db.Model):
    """Something wrong with a service, recorded by a technician or a monitoring tool.

    The SLA marks (warned, breached; for response and for resolution) are each set once,
    together with their event. `next_check_at` is when the next mark falls due: the sweep
    looks only at incidents whose time has come."""

    __tablename__ = "incidents"
    __table_args__ = (
        # An open incident per monitoring source and key: a repeated alert updates, not adds.
        Index(
            "uq_incidents_open_external_key",
            "company_id",
            "source",
            "external_key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL AND external_key IS NOT NULL"),
            postgresql_where=text("resolved_at IS NULL AND external_key IS NOT NULL"),
        ),
        Index("ix_incidents_service_opened", "service_id", "opened_at"),
        Index("ix_incidents_next_check", "next_check_at"),
        Index("ix_incidents_company_updated", "company_id", "updated_at"),
        # The incidents page shows open ones by default; resolved ones accumulate.
        Index("ix_incidents_company_resolved", "company_id", "resolved_at"),
        # The incidents page, per severity: open ones longest open first (IS NULL is an
        # equality to the index, so opened_at comes in order), then the latest resolved.
        Index(
            "ix_incidents_company_severity_resolved",
            "company_id",
            "severity",
            "resolved_at",
            "opened_at",
        ),
        # A service's page: its open incidents, then its latest resolved ones.
        Index("ix_incidents_company_service_resolved", "company_id", "service_id", "resolved_at"),
        # A client's and an asset's pages: each asset's incidents opened in the last months.
        # With the company first: without planner statistics SQLite otherwise read every
        # incident of the company through ix_incidents_company_updated (1,000,000 at scale).
        Index("ix_incidents_company_asset_opened", "company_id", "asset_id", "opened_at"),
        # SLA breaches by month and by client: most incidents never breach, so these stay small.
        Index(
            "ix_incidents_company_response_breached",
            "company_id",
            "response_breached_at",
            "service_id",
            sqlite_where=text("response_breached_at IS NOT NULL"),
            postgresql_where=text("response_breached_at IS NOT NULL"),
        ),
        Index(
            "ix_incidents_company_resolution_breached",
            "company_id",
            "resolution_breached_at",
            "service_id",
            sqlite_where=text("resolution_breached_at IS NOT NULL"),
            postgresql_where=text("resolution_breached_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"))
    # The asset the alert was about, when it was found by its host (webapp.assets).
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[Severity] = mapped_column(_enum(Severity))
    source: Mapped[str] = mapped_column(String(20), default="ui")  # ui, api, alertmanager
    external_key: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[dt.datetime]
    recorded_by: Mapped[str] = mapped_column(String(120))
    # The technician who has it: whoever recorded it in the UI, else whoever acknowledged it.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    response_warned_at: Mapped[dt.datetime | None]
    response_breached_at: Mapped[dt.datetime | None]
    resolution_warned_at: Mapped[dt.datetime | None]
    resolution_breached_at: Mapped[dt.datetime | None]
    next_check_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    service: Mapped[ClientService] = relationship()
    assignee: Mapped[User | None] = relationship()
