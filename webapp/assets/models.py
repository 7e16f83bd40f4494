"""Assets, their identifiers, which services cover them, and alerts not yet routed."""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.database import TenantMixin
from webapp.extensions import db

KINDS = ("server", "workstation", "network_device", "cloud_tenant", "mailbox", "other")
ACTIVE, RETIRED = "active", "retired"
# What an identifier is; each value is unique within the company whatever its kind, so a
# monitoring label finds one asset at most.
IDENTIFIER_KINDS = ("hostname", "instance", "serial", "rmm_id", "other")


class Asset(TenantMixin, db.Model):
    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_company_client", "company_id", "client_id", "name"),
        Index("ix_assets_company_name", "company_id", "name"),
        Index("ix_assets_company_status", "company_id", "status", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    site: Mapped[str | None] = mapped_column(String(120))
    operating_system: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10), default=ACTIVE)
    # The service that receives its incidents unless an alert names another (service_type or
    # service_id label); one of the services that cover it.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("client_services.id"))
    last_seen_at: Mapped[dt.datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None]

    client: Mapped[Client] = relationship()
    identifiers: Mapped[list["AssetIdentifier"]] = relationship(
        back_populates="asset", order_by="AssetIdentifier.id"
    )


class AssetIdentifier(TenantMixin, db.Model):
    """A name monitoring knows the asset by, stored folded (lower case, trimmed; an instance
    without its port) so that a label matches it as it is written."""

    __tablename__ = "asset_identifiers"
    __table_args__ = (UniqueConstraint("company_id", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(255))

    asset: Mapped[Asset] = relationship(back_populates="identifiers")


class ServiceCoverage(TenantMixin, db.Model):
    """A service covers an asset (many to many)."""

    __tablename__ = "service_coverage"
    __table_args__ = (
        UniqueConstraint("service_id", "asset_id"),
        # Each lookup names the company too: with only a company_id index to match it whole,
        # SQLite (no ANALYZE) would read every coverage row of the company per alert.
        Index("ix_service_coverage_asset", "company_id", "asset_id"),
        Index("ix_service_coverage_service", "company_id", "service_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UnroutedAlert(TenantMixin, db.Model):
    """An alert whose host matched no asset: kept, never lost, until a technician routes it.
    One row per host key; a repeat counts and keeps the latest labels."""

    __tablename__ = "unrouted_alerts"
    __table_args__ = (
        Index(
            "uq_unrouted_alerts_open_host",
            "company_id",
            "host",
            unique=True,
            sqlite_where=text("routed_at IS NULL"),
            postgresql_where=text("routed_at IS NULL"),
        ),
        Index("ix_unrouted_alerts_company_open", "company_id", "routed_at", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))  # the folded label value that matched nothing
    source: Mapped[str] = mapped_column(String(40))  # "alertmanager", "api"
    summary: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str | None] = mapped_column(String(20))
    labels: Mapped[dict] = mapped_column(JSON)
    # What is needed to record the incident once routed (the alert as it came, minus routing).
    alert: Mapped[dict] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]  # the alert resolved before anyone routed it
    routed_at: Mapped[dt.datetime | None]
    routed_by: Mapped[str | None] = mapped_column(String(120))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
