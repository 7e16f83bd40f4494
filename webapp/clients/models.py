"""Clients, the MSP's customers, and the people at each client it writes to."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import utcnow
from webapp.database import TenantMixin
from webapp.extensions import db


class Client(TenantMixin, db.Model):
    """Never deleted: an archived client keeps its history and leaves the pickers."""

    __tablename__ = "clients"
    __table_args__ = (
        # Import matches rows by the id the client had in the tool it came from.
        Index("ux_clients_company_external_id", "company_id", "external_id", unique=True),
        Index("ix_clients_company_name", "company_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    payment_terms_days: Mapped[int | None]  # None: the company's default
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # None: the company's rate
    # On invoices and in their UBL (EN 16931's buyer country, BT-55, and VAT identifier, BT-48).
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    vat_id: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="client", order_by="Contact.name"
    )

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Contact(TenantMixin, db.Model):
    """A person at a client. Roles say which notices reach them (DESIGN.md): primary contacts
    get lifecycle notices, billing contacts invoices and price changes, technical contacts
    incident notices."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ux_contacts_company_external_id", "company_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(default=False)
    is_billing: Mapped[bool] = mapped_column(default=False)
    is_technical: Mapped[bool] = mapped_column(default=False)
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship(back_populates="contacts")

    @property
    def roles(self) -> list[str]:
        flags = (("primary", self.is_primary), ("billing", self.is_billing))
        return [name for name, on in (*flags, ("technical", self.is_technical)) if on]
