"""The company: the MSP that owns every other row."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import utcnow
from webapp.extensions import db


class Company(db.Model):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The currency new services and clients start in.
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    address: Mapped[str | None] = mapped_column(Text)
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
    # Whether the clients' technical contacts are told of incidents on their services.
    incident_notices_to_clients: Mapped[bool] = mapped_column(
        default=False, server_default=text("false")
    )
    # Invoicing: numbers are the prefix, the year if wanted, and a gapless sequence per kind
    # and year ("INV-2026-00042"); tax and payment terms are the defaults a client may override.
    invoice_prefix: Mapped[str] = mapped_column(String(20), default="INV-", server_default="INV-")
    credit_note_prefix: Mapped[str] = mapped_column(String(20), default="CN-", server_default="CN-")
    number_with_year: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0), server_default="0")
    payment_terms_days: Mapped[int] = mapped_column(default=14, server_default="14")
    # Periods starting before this day were billed by the tool used before: the bill run
    # charges none of them (an installation that had services before invoicing existed gets
    # the day it was upgraded, so its first run does not bill them back to their activation).
    invoicing_starts_on: Mapped[dt.date | None]
    # On invoices and in their UBL (EN 16931's seller country, BT-40, and VAT identifier, BT-31).
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    vat_id: Mapped[str | None] = mapped_column(String(40))
    # Alert labels that name the asset, tried in order (an instance without its port).
    routing_labels: Mapped[str] = mapped_column(
        String(200),
        default="asset_id,instance,hostname,host",
        server_default="asset_id,instance,hostname,host",
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def reminder_days(self) -> list[int]:
        return sorted(
            {int(d) for d in self.renewal_reminder_days.split(",") if d.strip()}, reverse=True
        )
