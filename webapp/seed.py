"""Demo data: one MSP with users of each role, clients, and services in every status."""

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import select

from jobs.listeners.billing import reconcile_service
from webapp import health_scores, incidents
from webapp import service_lifecycle as lc
from webapp.auth import set_password
from webapp.clock import today, utcnow
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    RUNNING,
    BillingCycle,
    ServiceLevel,
    ServiceStatus,
    Severity,
    UserRole,
)
from webapp.models import Client, ClientService, Company, User

ACTOR = "seed"
# Demo sign-ins, printed by `make run` on first start. Demo data only: never in production.
DEMO_USERS = [
    ("admin@example.com", "Ada Admin", UserRole.ADMIN, "demo-admin"),
    ("manager@example.com", "Max Manager", UserRole.ACCOUNT_MANAGER, "demo-manager"),
    ("tech@example.com", "Tess Technician", UserRole.TECHNICIAN, "demo-tech"),
    ("viewer@example.com", "Vic Viewer", UserRole.VIEWER, "demo-viewer"),
]
CLIENTS = [
    "Acme Dental",
    "Bluebird Logistics",
    "Cedar Law LLP",
    "Delta Architects",
    "Evergreen Clinic",
    "Fjord Shipping",
    "Granite Accounting",
    "Harbor Schools",
]
CATALOGUE = [
    ("Managed Backup", "backup", "149.00", BillingCycle.MONTHLY),
    ("24x7 Monitoring", "monitoring", "89.00", BillingCycle.MONTHLY),
    ("Microsoft 365 seats (25)", "m365", "1650.00", BillingCycle.ANNUAL),
    ("Firewall Management", "firewall", "390.00", BillingCycle.QUARTERLY),
    ("Endpoint Protection", "security", "12.50", BillingCycle.WEEKLY),
    ("Helpdesk Retainer", "helpdesk", "2400.00", BillingCycle.SEMI_ANNUAL),
]


def seed_demo_data(seed: int = 7) -> str:
    rng = random.Random(seed)
    company = Company(name="Northwind Managed Services", timezone="Europe/London")
    db.session.add(company)
    db.session.flush()
    users = []
    for email, name, role, password in DEMO_USERS:
        user = User(company_id=company.id, email=email, name=name, role=role)
        set_password(user, password)
        users.append(user)
    clients = [
        Client(
            company_id=company.id,
            name=name,
            contact_name="Office Manager",
            contact_email=f"it@{name.split()[0].lower()}.example",
        )
        for name in CLIENTS
    ]
    db.session.add_all(users + clients)
    db.session.commit()
    manager_id = users[1].id
    count = 0
    for client in clients:
        for name, kind, price, cycle in rng.sample(CATALOGUE, k=rng.randint(2, 4)):
            currency = rng.choice(["USD", "USD", "EUR", "GBP"])
            new = lc.NewService(
                client_id=client.id,
                name=name,
                service_type=kind,
                price=Decimal(price),
                currency=currency,
                billing_cycle=cycle,
                term_months=rng.choice([12, 12, 24, 36]),
                service_level=rng.choice(list(ServiceLevel)),
                auto_renew=rng.random() < 0.4,
                account_manager_id=manager_id,
            )
            s = lc.provision(company.id, new, ACTOR)
            _walk(company.id, s.id, rng.random())
            count += 1
    _bring_terms_near(company.id)
    _record_demo_incidents(company.id, rng)
    _score_health(company.id, rng)
    sign_ins = "\n".join(f"  {r.value:<16} {e:<22} password: {p}" for e, _, r, p in DEMO_USERS)
    return (
        f"Seeded {company.name}: {len(clients)} clients, {count} services, {len(users)} users.\n"
        f"Sign in as:\n{sign_ins}"
    )


# (severity, title, opened hours ago, acknowledged after hours, resolved after hours)
DEMO_INCIDENTS = [
    ("critical", "Backups failing on every server", 96, None, None),
    ("high", "VPN tunnel to branch office flapping", 50, 0.3, 5),
    ("critical", "Firewall down after firmware update", 240, 0.1, 8),
    ("medium", "Mailbox quota warnings", 0.5, None, None),
    ("low", "Printer driver missing on two laptops", 1, 0.2, None),
    ("high", "Antivirus definitions out of date", 120, None, None),
]


def _record_demo_incidents(company_id: int, rng: random.Random) -> None:
    """Incidents in every state, recorded as technicians would record them after the fact, so
    SLA alerts and availability show; the old unanswered ones breach as they are recorded."""
    active = db.session.scalars(
        select(ClientService.id).where(
            ClientService.company_id == company_id, ClientService.status == ServiceStatus.ACTIVE
        )
    ).all()
    db.session.rollback()
    now = utcnow()
    for (severity, title, ago, ack, fix), service_id in zip(
        DEMO_INCIDENTS, rng.sample(list(active), k=len(active)), strict=False
    ):
        opened = now - dt.timedelta(hours=ago)
        new = incidents.NewIncident(
            service_id,
            title,
            Severity(severity),
            opened_at=opened,
            acknowledged_at=None if ack is None else opened + dt.timedelta(hours=ack),
            resolved_at=None if fix is None else opened + dt.timedelta(hours=fix),
        )
        incidents.record(company_id, new, ACTOR)


def _walk(company_id: int, service_id: int, roll: float) -> None:
    """Take a service along a plausible path so every status is represented."""
    if roll < 0.1:
        return  # stays pending
    lc.activate(company_id, service_id, ACTOR)
    if roll < 0.6:
        return
    if roll < 0.75:
        lc.suspend(company_id, service_id, ACTOR, reason="Invoice 90 days overdue")
        return
    if roll < 0.85:
        lc.renew(company_id, service_id, ACTOR, months=12)
        return
    lc.cancel(
        company_id, service_id, ACTOR, reason="Client moved to in-house IT", at_term_end=roll < 0.92
    )


def _bring_terms_near(company_id: int) -> None:
    """Demo data only: move a few terms close so the renewals views have something to show."""
    begin_write(db.session)
    active = db.session.scalars(
        select(ClientService)
        .where(ClientService.company_id == company_id, ClientService.status == ServiceStatus.ACTIVE)
        .order_by(ClientService.id)
        .limit(4)
    ).all()
    for days, service in zip((6, 13, 27, 55), active, strict=False):
        service.term_end = today() + dt.timedelta(days=days)
    db.session.commit()
    for service_id in [s.id for s in active]:
        begin_write(db.session)
        reconcile_service(service_id)  # billing records the moved term end too
        db.session.commit()


def _score_health(company_id: int, rng: random.Random) -> None:
    """Demo data only: ratings and reviews, so health scores differ."""
    begin_write(db.session)
    services = db.session.scalars(
        select(ClientService)
        .where(ClientService.company_id == company_id)
        .order_by(ClientService.id)
    ).all()
    for service in services:
        service.satisfaction = rng.choice([None, 3, 5, 7, 8, 9, 10])
        service.last_reviewed_on = rng.choice(
            [None, today() - dt.timedelta(days=rng.randint(10, 300))]
        )
    db.session.commit()
    for service_id in [s.id for s in services if s.status in RUNNING]:
        begin_write(db.session)
        health_scores.recalculate(service_id, actor=ACTOR)
        db.session.commit()
