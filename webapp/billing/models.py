"""Recurring billing records, price adjustments and the revenue ledger."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    ForeignKey,
    Index,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import utcnow
from webapp.database import Money, TenantMixin, _enum
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    BillingCycle,
    BillingStatus,
)
from webapp.services.models import ClientService


class RecurringBilling(TenantMixin, db.Model):
    __tablename__ = "recurring_billings"
    # MRR on the overview sums running billing only; stopped records accumulate.
    # Covering: the MRR sum reads the index alone, not 100,000 table rows.
    __table_args__ = (
        Index(
            "ix_recurring_billings_company_status_amount",
            "company_id",
            "status",
            "currency",
            "cycle",
            "amount",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # One record per service; the unique constraint backs up the listeners' row lock.
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), unique=True)
    status: Mapped[BillingStatus] = mapped_column(_enum(BillingStatus))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    cycle: Mapped[BillingCycle] = mapped_column(_enum(BillingCycle))
    next_bill_date: Mapped[dt.date]
    term_end: Mapped[dt.date | None]
    paused_since: Mapped[dt.date | None]
    credited_pause_days: Mapped[int] = mapped_column(default=0)
    ends_on: Mapped[dt.date | None]
    stopped_on: Mapped[dt.date | None]
    final_amount: Mapped[Decimal | None] = mapped_column(Money)
    service_version: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    service: Mapped[ClientService] = relationship(back_populates="billing")


class RevenueMovement(TenantMixin, db.Model):
    """One step in one service's contribution to MRR, written in its transition's transaction.

    Append-only. `amount` is the signed change of the per-cycle amount billing, in the
    service's cycle: the monthly equivalent is taken when it is read (billing.mrr), so the
    reports and the overview round alike. Dated by when it takes effect, which may be ahead
    (a cancellation at term end) or behind (an expiry counts from the term's end)."""

    __tablename__ = "revenue_movements"
    __table_args__ = (
        # Both read the index alone: MRR and churn sum amounts and services up to a date.
        Index(
            "ix_revenue_movements_company_day",
            "company_id",
            "effective_on",
            "currency",
            "cycle",
            "kind",
            "amount",
            "services",
        ),
        Index(
            "ix_revenue_movements_company_client_day",
            "company_id",
            "client_id",
            "effective_on",
            "currency",
            "cycle",
            "kind",
            "amount",
            "services",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    # The change it came with; None for rows the migration rebuilt from stored facts.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("domain_events.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[dt.date]
    currency: Mapped[str] = mapped_column(String(3))
    cycle: Mapped[BillingCycle] = mapped_column(_enum(BillingCycle))
    amount: Mapped[Decimal] = mapped_column(Money)
    services: Mapped[int] = mapped_column(SmallInteger)  # +1 starts billing, -1 ends, else 0
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BillingAdjustment(TenantMixin, db.Model):
    """A prorated charge (or credit, negative) for the rest of a cycle after a price change;
    once per event, with the billing listener's ledger row."""

    __tablename__ = "billing_adjustments"
    __table_args__ = (Index("ix_billing_adjustments_company_day", "company_id", "effective_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    effective_on: Mapped[dt.date]
    period_start: Mapped[dt.date]
    period_end: Mapped[dt.date]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
