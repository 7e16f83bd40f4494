"""Clients' recurring services, and the spans a service was suspended."""

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.database import Money, TenantMixin, _enum
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    RUNNING,
    BillingCycle,
    ServiceLevel,
    ServiceStatus,
)

if TYPE_CHECKING:
    from webapp.billing.models import RecurringBilling


class ClientService(TenantMixin, db.Model):
    __tablename__ = "client_services"
    __table_args__ = (
        # The overview's health bands and lowest scores, read from the index alone.
        Index("ix_client_services_company_status_health", "company_id", "status", "health_score"),
        # Renewals: running services by term end, per status
        # (webapp.services.queries.running_in_order).
        Index("ix_client_services_company_status_term", "company_id", "status", "term_end"),
        # Revenue at risk: cancellations taking effect later (few, among many past ones).
        Index("ix_client_services_company_cancel_on", "company_id", "cancellation_effective_on"),
        # The services list's sorts: the page is read along the index, not sorted whole.
        # (with client_id, the search by service or client name reads the index alone)
        Index("ix_client_services_company_name", "company_id", "name", "client_id"),
        Index("ix_client_services_company_price", "company_id", "price"),
        Index("ix_client_services_company_term", "company_id", "term_end"),
        Index("ix_client_services_company_health", "company_id", "health_score"),
        Index("ux_client_services_company_external_id", "company_id", "external_id", unique=True),
        # "Mine": a manager's own services.
        Index("ix_client_services_company_manager", "company_id", "account_manager_id"),
        # A client's services (its page, the clients list's figures): with the company, so
        # SQLite without statistics does not read the company's by ix_client_services_company_*.
        Index("ix_client_services_company_client", "company_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    # The id the service had in the tool it was imported from; import matches on it.
    external_id: Mapped[str | None] = mapped_column(String(100))
    account_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    service_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[ServiceStatus] = mapped_column(_enum(ServiceStatus))
    billing_cycle: Mapped[BillingCycle] = mapped_column(_enum(BillingCycle))
    price: Mapped[Decimal] = mapped_column(Money)  # per unit and cycle
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")  # seats, devices
    # Seats follow devices: the quantity is the number of active assets it covers, changed
    # through the domain as assets come and go (webapp.assets).
    quantity_follows_assets: Mapped[bool] = mapped_column(
        default=False, server_default=text("false")
    )
    currency: Mapped[str] = mapped_column(String(3))
    setup_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    start_date: Mapped[dt.date]
    # The length of one term as agreed when it was provisioned (or imported): what
    # auto-renewal adds at each term end and what the renew form offers. Renewals do not
    # change it; the months each one added are in its ServiceRenewed event, and the span
    # from start_date to term_end is the contract so far.
    term_months: Mapped[int]
    term_end: Mapped[dt.date]
    auto_renew: Mapped[bool] = mapped_column(default=False)
    service_level: Mapped[ServiceLevel] = mapped_column(_enum(ServiceLevel))

    provisioned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[dt.datetime | None]
    suspended_at: Mapped[dt.datetime | None]
    # Start of the suspension in force: cleared on resume, kept if cancelled or expired meanwhile.
    suspended_since: Mapped[dt.datetime | None]
    resumed_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]  # when it was cancelled (None while only scheduled)
    # The day it ends: set when cancelled, and while a cancellation at term end is scheduled
    # (the service still running); cleared when that is undone.
    cancellation_effective_on: Mapped[dt.date | None]
    expired_at: Mapped[dt.datetime | None]
    last_renewed_at: Mapped[dt.datetime | None]
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    renewal_count: Mapped[int] = mapped_column(default=0)
    paused_days: Mapped[int] = mapped_column(default=0)
    # Health inputs kept on the service; the score and its factors are recalculated from them.
    satisfaction: Mapped[int | None]  # the client's latest rating, 1-10
    last_reviewed_on: Mapped[dt.date | None]
    availability_pct: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    health_score: Mapped[int | None] = mapped_column(index=True)
    health_factors: Mapped[list | None] = mapped_column(JSON)
    health_updated_at: Mapped[dt.datetime | None]
    # What a drop is measured from: the highest score since the last ServiceHealthDegraded.
    health_baseline: Mapped[int | None]
    # Set when an incident changes, cleared by the recalculation the SLA sweep runs each minute:
    # a storm of alerts on one service costs one recalculation, not one per alert.
    health_stale: Mapped[bool] = mapped_column(
        default=False, server_default=text("false"), index=True
    )
    # The service's own SLA policy where it differs from its level's defaults (None: default).
    sla_response_minutes: Mapped[int | None]
    sla_resolution_minutes: Mapped[int | None]
    sla_availability_target: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    sla_warning_percent: Mapped[int | None]
    sla_around_the_clock: Mapped[bool | None]
    # Optimistic lock: every transition is UPDATE ... WHERE version = :seen, then version + 1.
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[Client] = relationship()
    billing: Mapped["RecurringBilling | None"] = relationship(back_populates="service")

    @property
    def ends_on(self) -> dt.date | None:
        """The day a scheduled cancellation takes effect, while the service runs until then."""
        return self.cancellation_effective_on if self.status in RUNNING else None


class ServicePause(TenantMixin, db.Model):
    """A suspension as an interval: SLA clocks do not run while a service is suspended."""

    __tablename__ = "service_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]  # None while the suspension is in force
