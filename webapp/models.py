"""Tables. Every row carries its company (the MSP): tenancy.py scopes every query by it."""

import datetime as dt
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    BillingCycle,
    BillingStatus,
    DeliveryStatus,
    ServiceLevel,
    ServiceStatus,
    UserRole,
)

Money = Numeric(12, 2)


def _enum(cls):
    # Stored as the enum's value in a VARCHAR (no native type), so adding a member needs no ALTER TYPE.
    return SAEnum(cls, native_enum=False, length=20, values_callable=lambda c: [m.value for m in c])


class Company(db.Model):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Days before term end at which renewal reminders go out, largest first: "30,14,7".
    renewal_reminder_days: Mapped[str] = mapped_column(
        String(40), default="30,14,7", server_default="30,14,7"
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def reminder_days(self) -> list[int]:
        return sorted(
            {int(d) for d in self.renewal_reminder_days.split(",") if d.strip()}, reverse=True
        )


class TenantMixin:
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)


class User(UserMixin, TenantMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    company: Mapped[Company] = relationship()


class Client(TenantMixin, db.Model):
    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ClientService(TenantMixin, db.Model):
    __tablename__ = "client_services"
    __table_args__ = (Index("ix_client_services_company_status", "company_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    account_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    service_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[ServiceStatus] = mapped_column(_enum(ServiceStatus))
    billing_cycle: Mapped[BillingCycle] = mapped_column(_enum(BillingCycle))
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    setup_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    start_date: Mapped[dt.date]
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
    cancelled_at: Mapped[dt.datetime | None]
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
    # Optimistic lock: every transition is UPDATE ... WHERE version = :seen, then version + 1.
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[Client] = relationship()
    billing: Mapped["RecurringBilling | None"] = relationship(back_populates="service")


class RecurringBilling(TenantMixin, db.Model):
    __tablename__ = "recurring_billings"
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


class DomainEvent(TenantMixin, db.Model):
    """The outbox and the audit trail: written in the transition's own transaction."""

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_unenqueued", "enqueued_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(120))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[dt.datetime | None]

    deliveries: Mapped[list["ListenerDelivery"]] = relationship(
        back_populates="event", order_by="ListenerDelivery.id"
    )


class ListenerDelivery(TenantMixin, db.Model):
    """The ledger: one row per event and listener, marked done in the effect's own transaction."""

    __tablename__ = "listener_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "listener"),
        Index("ix_listener_deliveries_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"))
    listener: Mapped[str] = mapped_column(String(80))
    queue: Mapped[str] = mapped_column(String(40))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[dt.datetime | None]

    event: Mapped[DomainEvent] = relationship(back_populates="deliveries")


class Notification(TenantMixin, db.Model):
    """A message a listener decided to send; one per event, listener and recipient."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("event_id", "listener", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"))
    listener: Mapped[str] = mapped_column(String(80))
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class SlaAlert(TenantMixin, db.Model):
    __tablename__ = "sla_alerts"
    __table_args__ = (UniqueConstraint("event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    incident_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


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


class HealthSnapshot(TenantMixin, db.Model):
    """A recalculated health score, kept for the trend."""

    __tablename__ = "health_snapshots"
    __table_args__ = (Index("ix_health_snapshots_service_time", "service_id", "computed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"))
    score: Mapped[int]
    factors: Mapped[list] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
