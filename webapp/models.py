"""Tables. Every row carries its company (the MSP): tenancy.py scopes every query by it."""

import datetime as dt
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
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
    Severity,
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
    # Weekly business hours for SLA clocks, {"0": ["08:00", "18:00"], ...} with Monday as 0;
    # None means Monday to Friday, 08:00 to 18:00 in the company's time zone.
    business_hours: Mapped[dict | None] = mapped_column(JSON)
    # An SLA alert nobody acknowledges within this time is escalated, to this address if set,
    # otherwise to the service's account manager.
    escalate_after_minutes: Mapped[int] = mapped_column(default=30, server_default="30")
    escalation_email: Mapped[str | None] = mapped_column(String(254))
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
    __table_args__ = (
        # The overview's health bands and lowest scores, read from the index alone.
        Index("ix_client_services_company_status_health", "company_id", "status", "health_score"),
        # Renewals: running services by term end, per status (read_models.running_in_order).
        Index("ix_client_services_company_status_term", "company_id", "status", "term_end"),
        # Revenue at risk: cancellations taking effect later (few, among many past ones).
        Index("ix_client_services_company_cancel_on", "company_id", "cancellation_effective_on"),
        # The services list's sorts: the page is read along the index, not sorted whole.
        # (with client_id, the search by service or client name reads the index alone)
        Index("ix_client_services_company_name", "company_id", "name", "client_id"),
        Index("ix_client_services_company_price", "company_id", "price"),
        Index("ix_client_services_company_term", "company_id", "term_end"),
        Index("ix_client_services_company_health", "company_id", "health_score"),
    )

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


class DomainEvent(TenantMixin, db.Model):
    """The outbox and the audit trail: written in the transition's own transaction."""

    __tablename__ = "domain_events"
    __table_args__ = (
        Index("ix_domain_events_unenqueued", "enqueued_at", "id"),
        # The activity page, filtered by kind of change or by who, newest first.
        Index("ix_domain_events_company_type", "company_id", "type", "id"),
        Index("ix_domain_events_company_actor", "company_id", "actor", "id"),
    )

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
        # Failed ones per company (overview, Operations) and /live's count and latest finish,
        # read from the index alone.
        Index("ix_listener_deliveries_company_status", "company_id", "status", "finished_at"),
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
    # When sent; while "sending" or "transmitting", when its sender claimed it (jobs.notifications).
    sent_at: Mapped[dt.datetime | None]


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


class ServicePause(TenantMixin, db.Model):
    """A suspension as an interval: SLA clocks do not run while a service is suspended."""

    __tablename__ = "service_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("client_services.id"), index=True)
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]  # None while the suspension is in force


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


class ApiToken(TenantMixin, db.Model):
    """A company's key for the JSON API. Only its SHA-256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


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
