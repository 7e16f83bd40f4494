"""Demo data: one MSP with users of each role, clients, and services in every status."""

import random
from decimal import Decimal

from webapp import service_lifecycle as lc
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, UserRole
from webapp.models import Client, Company, User

ACTOR = "seed"
DEMO_USERS = [
    ("admin@example.com", "Ada Admin", UserRole.ADMIN),
    ("manager@example.com", "Max Manager", UserRole.ACCOUNT_MANAGER),
    ("tech@example.com", "Tess Technician", UserRole.TECHNICIAN),
    ("viewer@example.com", "Vic Viewer", UserRole.VIEWER),
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
    users = [User(company_id=company.id, email=e, name=n, role=r) for e, n, r in DEMO_USERS]
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
    return f"Seeded {company.name}: {len(clients)} clients, {count} services, {len(users)} users."


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
