"""Health scores as snapshots, and each company's bands per month."""

import datetime as dt

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import utcnow
from webapp.database import TenantMixin
from webapp.extensions import db


class HealthSnapshot(TenantMixin, db.Model):
    """A recalculated health score, kept for the trend."""

    __tablename__ = "health_snapshots"
    __table_args__ = (Index("ix_health_snapshots_service_time", "service_id", "computed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"))
    score: Mapped[int]
    factors: Mapped[list] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HealthBandMonth(TenantMixin, db.Model):
    """A client's running services per health band, as the last nightly recalculation of a
    (company-local) month left them: the report reads these, not millions of snapshots."""

    __tablename__ = "health_band_months"
    __table_args__ = (UniqueConstraint("company_id", "month", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[dt.date]  # its first day
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    healthy: Mapped[int] = mapped_column(default=0)
    fair: Mapped[int] = mapped_column(default=0)
    poor: Mapped[int] = mapped_column(default=0)
    critical: Mapped[int] = mapped_column(default=0)
    unscored: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
