"""A company's settings: time zone, business hours, escalation and renewal reminders; and
invoicing (numbers, tax rate, payment terms, the company's country and VAT number), saved on
their own.

Saved in one write transaction; when the time zone or the business hours change, the open
incidents of every service are rescheduled in it, so their SLA clocks follow the new hours.
"""

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select

from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.sla import BusinessHours
from webapp.pipeline.outbox import unit_of_work
from webapp.sla import tracking as sla_tracking

MAX_REMINDERS = 8  # "365,180,..." still fits the column

MAX_REMINDER_DAYS = 365


@dataclass(frozen=True)
class CompanySettings:
    timezone: str
    week: dict[int, tuple[dt.time, dt.time]]  # weekday (Monday 0) -> opens, closes; else closed
    escalate_after_minutes: int
    escalation_email: str | None
    reminder_days: tuple[int, ...]  # largest first
    incident_notices_to_clients: bool = False  # the clients' technical contacts are told


@functools.cache
def zone_names() -> tuple[str, ...]:
    """The IANA zone names zoneinfo knows, sorted (read from the system once per process)."""
    return tuple(sorted(available_timezones()))


def valid_timezone(name: str) -> bool:
    """An IANA zone name zoneinfo knows ("Europe/London"), not a file path or an alias typo."""
    if name not in zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ValueError, OSError):
        return False
    return True


def parse_reminder_days(text: str) -> tuple[int, ...]:
    """ "30, 14,7" -> (30, 14, 7); ValueError with a message to show when it is not that."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("Enter at least one number of days, such as 30,14,7.")
    days = set()
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= MAX_REMINDER_DAYS:
            raise ValueError(
                f"“{part}” is not a whole number of days from 1 to {MAX_REMINDER_DAYS}."
            )
        days.add(int(part))
    if len(days) > MAX_REMINDERS:
        raise ValueError(f"At most {MAX_REMINDERS} reminders.")
    return tuple(sorted(days, reverse=True))


def current(company: Company) -> CompanySettings:
    return CompanySettings(
        timezone=company.timezone or "UTC",
        week=sla_tracking.hours_for(company).week,
        escalate_after_minutes=company.escalate_after_minutes,
        escalation_email=company.escalation_email,
        reminder_days=tuple(company.reminder_days),
        incident_notices_to_clients=company.incident_notices_to_clients,
    )


@dataclass(frozen=True)
class Saved:
    clock_changed: bool
    rescheduled: int  # open incidents whose SLA clocks were worked out again


def save(company_id: int, settings: CompanySettings) -> Saved:
    with unit_of_work():
        company = db.session.get(Company, company_id)
        before = sla_tracking.hours_for(company)
        hours = BusinessHours(settings.timezone, dict(settings.week))
        company.timezone = settings.timezone
        company.business_hours = hours.to_json()
        company.escalate_after_minutes = settings.escalate_after_minutes
        company.escalation_email = settings.escalation_email or None
        company.renewal_reminder_days = ",".join(str(d) for d in settings.reminder_days)
        company.incident_notices_to_clients = settings.incident_notices_to_clients
        db.session.flush()
        changed = hours != before
        rescheduled = 0
        if changed:
            open_on = db.session.scalars(
                select(Incident.service_id).where(
                    Incident.company_id == company_id, Incident.resolved_at.is_(None)
                )
            ).all()
            for service_id in sorted(set(open_on)):
                sla_tracking.reschedule(service_id)
            rescheduled = len(open_on)
    return Saved(changed, rescheduled)


@dataclass(frozen=True)
class InvoicingSettings:
    invoice_prefix: str
    credit_note_prefix: str
    number_with_year: bool
    tax_rate: Decimal  # percent; a client may have its own
    payment_terms_days: int  # a client may have its own
    country: str | None = None  # ISO 3166-1 alpha-2 (webapp.countries)
    vat_id: str | None = None
    invoicing_starts_on: dt.date | None = None  # periods before it were billed elsewhere


def invoicing(company: Company) -> InvoicingSettings:
    return InvoicingSettings(
        invoice_prefix=company.invoice_prefix,
        credit_note_prefix=company.credit_note_prefix,
        number_with_year=company.number_with_year,
        tax_rate=company.tax_rate,
        payment_terms_days=company.payment_terms_days,
        country=company.country,
        vat_id=company.vat_id,
        invoicing_starts_on=company.invoicing_starts_on,
    )


def save_invoicing(company_id: int, settings: InvoicingSettings) -> None:
    """From the next document on: issued ones keep their numbers, tax and due dates."""
    with unit_of_work():
        company = db.session.get(Company, company_id)
        company.invoice_prefix = settings.invoice_prefix
        company.credit_note_prefix = settings.credit_note_prefix
        company.number_with_year = settings.number_with_year
        company.tax_rate = settings.tax_rate
        company.payment_terms_days = settings.payment_terms_days
        company.country = settings.country
        company.vat_id = settings.vat_id
        company.invoicing_starts_on = settings.invoicing_starts_on


def save_routing_labels(company_id: int, labels: tuple[str, ...]) -> None:
    """The alert labels that name the asset, tried in this order from the next alert on."""
    with unit_of_work():
        db.session.get(Company, company_id).routing_labels = ",".join(labels)
