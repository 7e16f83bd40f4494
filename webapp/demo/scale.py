"""Data at MSP scale for benchmarks: one company with N services and years of history.

Written in bulk (executemany of plain rows, a batch per statement), not through the domain
functions: a million incidents through the SLA clock would take an hour, and what the
benchmarks need is the shape and size of a busy MSP's tables, not the path the rows took.
History is already delivered (every event enqueued, its effects done), so the relay and the
workers start idle; a few incidents are open with their SLA clocks running.
"""

import datetime as dt
import random
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert, select

from webapp.accounts.access import set_password
from webapp.accounts.models import User
from webapp.billing.models import RecurringBilling
from webapp.clients.models import Client, Contact
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.demo.seed import CATALOGUE
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import (
    RUNNING,
    BillingCycle,
    BillingStatus,
    ServiceLevel,
    ServiceStatus,
    Severity,
    UserRole,
)
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.outbox import unit_of_work
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert

BATCH = 10_000

STATUS_WEIGHTS = {
    ServiceStatus.ACTIVE: 70,
    ServiceStatus.SUSPENDED: 8,
    ServiceStatus.CANCELLED: 12,
    ServiceStatus.PENDING: 5,
    ServiceStatus.EXPIRED: 5,
}


SEVERITY_WEIGHTS = {Severity.CRITICAL: 3, Severity.HIGH: 12, Severity.MEDIUM: 40, Severity.LOW: 45}

EVENT_TYPES = ["ServiceProvisioned", "ServiceActivated", "ServiceRenewed", "ServiceDueForRenewal"]

OPEN_INCIDENTS_PER_MILLE = 5

ALERTS_PER_MILLE = 5  # of incidents: breach alerts, some acknowledged


@dataclass
class ScaleSummary:
    company_id: int
    admin_email: str
    # Made for this seed and printed once: a scale company seeded by mistake on a real
    # installation must not open with a password anyone could read in the source.
    admin_password: str
    clients: int
    services: int
    incidents: int
    events: int
    alerts: int
    seconds: float

    def __str__(self) -> str:
        rows = self.clients + self.services + self.incidents + self.events + self.alerts
        return (
            f"Seeded company {self.company_id}: {self.clients:,} clients, {self.services:,} "
            f"services, {self.incidents:,} incidents, {self.events:,} events, {self.alerts:,} "
            f"SLA alerts in {self.seconds:.1f} s ({rows / self.seconds:,.0f} rows/s). "
            f"Sign in as {self.admin_email} / {self.admin_password}."
        )


def seed_scale(
    services: int = 100_000,
    clients: int | None = None,
    incidents: int | None = None,
    events: int | None = None,
    seed: int = 11,
) -> ScaleSummary:
    started = time.perf_counter()
    rng = random.Random(seed)
    clients = clients or max(1, services // 50)
    incidents = services * 10 if incidents is None else incidents
    events = services * 10 if events is None else events
    now = utcnow().replace(microsecond=0)

    admin_password = secrets.token_urlsafe(12)
    with unit_of_work():
        company = Company(name=f"Scale MSP ({services:,} services)", timezone="Europe/London")
        db.session.add(company)
        db.session.flush()
        users = []
        for role in UserRole:
            user = User(
                company_id=company.id,
                email=f"{role.value}.{company.id}@scale.example",
                name=f"Scale {role.value.replace('_', ' ')}",
                role=role,
            )
            # Only the admin's is told; the others' are random and unknown (reset them to use them).
            secret = admin_password if role == UserRole.ADMIN else secrets.token_urlsafe(24)
            set_password(user, secret)
            users.append(user)
        db.session.add_all(users)
    manager_id = next(u.id for u in users if u.role == UserRole.ACCOUNT_MANAGER)
    admin_email = next(u.email for u in users if u.role == UserRole.ADMIN)

    _bulk(
        Client,
        (
            {
                "company_id": company.id,
                "name": f"Client {n:05d}",
                "created_at": now,
            }
            for n in range(clients)
        ),
    )
    client_ids = _ids(Client, company.id)
    _bulk(
        Contact,
        (
            {
                "company_id": company.id,
                "client_id": client_id,
                "name": "Office Manager",
                "email": f"it@client{n:05d}.example",
                "is_primary": True,
                "is_billing": True,
                "is_technical": False,
                "created_at": now,
            }
            for n, client_id in enumerate(client_ids)
        ),
    )
    _bulk(
        ClientService,
        (_service(company.id, n, rng, client_ids, manager_id, now) for n in range(services)),
    )
    service_rows = db.session.execute(
        select(
            ClientService.id,
            ClientService.status,
            ClientService.price,
            ClientService.currency,
            ClientService.billing_cycle,
            ClientService.term_end,
        ).where(ClientService.company_id == company.id)
    ).all()
    db.session.rollback()
    service_ids = [row.id for row in service_rows]
    _bulk(
        RecurringBilling, (_billing(company.id, row, now) for row in service_rows if _billed(row))
    )
    _bulk(DomainEvent, (_event(company.id, rng, service_ids, now) for _ in range(events)))
    _bulk(Incident, (_incident(company.id, rng, service_rows, now) for _ in range(incidents)))
    alerts = _alerts(company.id, rng, incidents, now)
    return ScaleSummary(
        company.id,
        admin_email,
        admin_password,
        clients,
        services,
        incidents,
        events,
        alerts,
        time.perf_counter() - started,
    )


def _bulk(model, rows) -> None:
    """Insert rows batch by batch, each batch one executemany in its own transaction.

    Through the table, not the mapped class: the ORM's bulk insert splits a batch wherever
    rows differ in which columns are None, which made it twenty times slower here."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            with unit_of_work():
                db.session.execute(insert(model.__table__), batch)
            batch = []
    if batch:
        with unit_of_work():
            db.session.execute(insert(model.__table__), batch)


def _ids(model, company_id: int) -> list[int]:
    ids = db.session.scalars(
        select(model.id).where(model.company_id == company_id).order_by(model.id)
    ).all()
    db.session.rollback()
    return list(ids)


def _choice(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _service(company_id, n, rng, client_ids, manager_id, now):
    name, kind, price, cycle, *_ = CATALOGUE[n % len(CATALOGUE)]
    status = _choice(rng, STATUS_WEIGHTS)
    term_months = rng.choice((12, 12, 24, 36))
    start = (now - dt.timedelta(days=rng.randint(0, 3 * 365))).date()
    term_end = start + relativedelta(months=term_months)
    if status in RUNNING and term_end < now.date():
        term_end = now.date() + dt.timedelta(days=rng.randint(1, 365))  # renewed meanwhile
    started = dt.datetime.combine(start, dt.time(9))
    score = None if status == ServiceStatus.PENDING else rng.choice((100, 95, 88, 75, 64, 52, 35))
    return {
        "company_id": company_id,
        "client_id": client_ids[n % len(client_ids)],
        "account_manager_id": manager_id,
        "name": f"{name} #{n}",
        "service_type": kind,
        "status": status,
        "billing_cycle": cycle,
        "price": Decimal(price),
        "currency": rng.choice(("USD", "USD", "EUR", "GBP")),
        "setup_fee": Decimal(0),
        "start_date": start,
        "term_months": term_months,
        "term_end": term_end,
        "auto_renew": rng.random() < 0.4,
        "service_level": rng.choice(list(ServiceLevel)),
        "provisioned_at": started - dt.timedelta(days=7),
        "activated_at": None if status == ServiceStatus.PENDING else started,
        "suspended_at": started if status == ServiceStatus.SUSPENDED else None,
        "suspended_since": started if status == ServiceStatus.SUSPENDED else None,
        "cancelled_at": now if status == ServiceStatus.CANCELLED else None,
        "cancellation_effective_on": now.date() if status == ServiceStatus.CANCELLED else None,
        "expired_at": now if status == ServiceStatus.EXPIRED else None,
        "renewal_count": 0,
        "paused_days": 0,
        "health_score": score,
        "health_factors": []
        if score == 100
        else None
        if score is None
        else [{"label": "incidents in 30 days", "points": score - 100}],
        "health_updated_at": None if score is None else now,
        "health_baseline": score,
        "health_stale": False,
        "version": 2,
        "updated_at": now,
    }


def _billed(row) -> bool:
    return row.status != ServiceStatus.PENDING and row.billing_cycle != BillingCycle.ONE_TIME


def _billing(company_id, row, now):
    running = row.status in RUNNING
    return {
        "company_id": company_id,
        "service_id": row.id,
        "status": BillingStatus.ACTIVE
        if row.status == ServiceStatus.ACTIVE
        else BillingStatus.PAUSED
        if row.status == ServiceStatus.SUSPENDED
        else BillingStatus.STOPPED,
        "amount": row.price,
        "currency": row.currency,
        "cycle": row.billing_cycle,
        "next_bill_date": now.date() + dt.timedelta(days=(row.id % 28) + 1),
        "term_end": row.term_end,
        "paused_since": now.date() if row.status == ServiceStatus.SUSPENDED else None,
        "credited_pause_days": 0,
        "ends_on": None if running else now.date(),
        "stopped_on": None if running else now.date(),
        "final_amount": None if running else row.price,
        "service_version": 2,
        "created_at": now,
        "updated_at": now,
    }


def _payload(kind: str, service_id: int, day: dt.date) -> dict:
    """An event's payload with every field its type has, as pages read them (a renewal's
    months and term end, on the service page)."""
    year_on = (day + dt.timedelta(days=365)).isoformat()
    fields = {
        "ServiceProvisioned": {
            "client_id": None,
            "price": "100.00",
            "currency": "EUR",
            "billing_cycle": "monthly",
        },
        "ServiceActivated": {"activated_on": day.isoformat(), "term_end": year_on},
        "ServiceRenewed": {"months": 12, "term_end": year_on},
        "ServiceDueForRenewal": {"term_end": year_on, "days_before": 30},
    }[kind]
    return {"service_id": service_id, **fields}


def _event(company_id, rng, service_ids, now):
    when = now - dt.timedelta(seconds=rng.randint(60, 3 * 365 * 86400))
    service_id = rng.choice(service_ids)
    kind = rng.choice(EVENT_TYPES)
    return {
        "company_id": company_id,
        "type": kind,
        "service_id": service_id,
        "payload": _payload(kind, service_id, when.date()),
        "actor": "seed-scale",
        "occurred_at": when,
        "enqueued_at": when,
    }


def _incident(company_id, rng, service_rows, now):
    row = rng.choice(service_rows)
    opened = now - dt.timedelta(seconds=rng.randint(600, 2 * 365 * 86400))
    is_open = rng.randrange(1000) < OPEN_INCIDENTS_PER_MILLE and row.status in RUNNING
    if is_open:
        opened = now - dt.timedelta(minutes=rng.randint(1, 600))
    answered = opened + dt.timedelta(minutes=rng.randint(2, 300))
    resolved = answered + dt.timedelta(minutes=rng.randint(10, 3000))
    late = not is_open and answered - opened > dt.timedelta(minutes=240)
    return {
        "company_id": company_id,
        "service_id": row.id,
        "title": rng.choice(("Backup failed", "Disk nearly full", "VPN down", "Host unreachable")),
        "severity": _choice(rng, SEVERITY_WEIGHTS),
        "source": rng.choice(("ui", "api", "alertmanager")),
        "external_key": None,
        "opened_at": opened,
        "recorded_by": "seed-scale",
        "acknowledged_at": None if is_open else answered,
        "acknowledged_by": None if is_open else "seed-scale",
        "resolved_at": None if is_open else resolved,
        "resolved_by": None if is_open else "seed-scale",
        "response_breached_at": opened + dt.timedelta(minutes=240) if late else None,
        # Open incidents are looked at by the next sweep, as after a restart.
        "next_check_at": now if is_open else None,
        "created_at": opened,
        "updated_at": opened if is_open else resolved,
    }


def _alerts(company_id, rng, incidents, now) -> int:
    """Breach alerts for some incidents, each with the event that raised it (the schema asks
    for one), most of them acknowledged."""
    count = incidents * ALERTS_PER_MILLE // 1000
    rows = db.session.execute(
        select(Incident.id, Incident.service_id)
        .where(Incident.company_id == company_id)
        .order_by(Incident.id)
        .limit(count)
    ).all()
    db.session.rollback()
    _bulk(
        DomainEvent,
        (
            {
                "company_id": company_id,
                "type": "ServiceSLABreached",
                "service_id": service_id,
                "payload": {
                    "service_id": service_id,
                    "incident_id": incident_id,
                    "kind": "response",
                },
                "actor": "seed-scale",
                "occurred_at": now,
                "enqueued_at": now,
            }
            for incident_id, service_id in rows
        ),
    )
    event_ids = db.session.scalars(
        select(DomainEvent.id)
        .where(DomainEvent.company_id == company_id, DomainEvent.type == "ServiceSLABreached")
        .order_by(DomainEvent.id)
    ).all()
    db.session.rollback()
    _bulk(
        SlaAlert,
        (
            {
                "company_id": company_id,
                "event_id": event_id,
                "service_id": service_id,
                "incident_id": incident_id,
                "kind": "response",
                "message": f"response target breached (incident #{incident_id})",
                "created_at": now - dt.timedelta(minutes=rng.randint(1, 90 * 1440)),
                "acknowledged_at": None if rng.random() < 0.1 else now,
                # Old unanswered alerts were escalated long ago; the sweep starts idle.
                "escalated_at": now,
            }
            for event_id, (incident_id, service_id) in zip(event_ids, rows, strict=False)
        ),
    )
    return len(rows)
