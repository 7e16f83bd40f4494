"""The outbox (domain events) and each listener's delivery ledger row."""

import datetime as dt

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import utcnow
from webapp.database import TenantMixin, _enum
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    DeliveryStatus,
)


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
    # None for a change that is not about one service (a client, a person, an import).
    service_id: Mapped[int | None] = mapped_column(ForeignKey("client_services.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(120))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[dt.datetime | None]
    # The RQ job that runs its listeners when it was one of a chunk (webapp.pipeline.publishing);
    # None for `event-<id>`.
    job_id: Mapped[str | None] = mapped_column(String(64))

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
