"""Demo data: one MSP with users of each role, clients, and services in every status, with a
year of history behind them, so the reports have months to show.

The history is played through the real domain functions with the clock set to each moment
(clock.frozen): activations spread over the year, price changes, suspensions and resumptions,
cancellations, incidents (some breaching), and each month's nightly health run. Its events reach
the worker when it starts, like any others; their notifications land in the local mailbox."""

import datetime as dt
import random
from contextlib import suppress
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from webapp.accounts.access import set_password
from webapp.accounts.models import User
from webapp.billing.listeners import reconcile_service
from webapp.clients.models import Client, Contact
from webapp.clock import frozen, today, utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.health import history as health_history
from webapp.health import scores as health_scores
from webapp.incidents import recording
from webapp.lifecycle.statuses import (
    RUNNING,
    BillingCycle,
    ServiceLevel,
    ServiceStatus,
    Severity,
    UserRole,
)
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.outbox import unit_of_work
from webapp.services import actions as service_actions
from webapp.services import expiry
from webapp.services.models import ClientService

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


HISTORY_DAYS = 365


def seed_demo_data(seed: int = 7) -> str:
    rng = random.Random(seed)
    now = utcnow()
    began = now - dt.timedelta(days=HISTORY_DAYS)
    with frozen(began):
        company, clients, manager_id, users = _company()
    plans = []
    for client in clients:
        for name, kind, price, cycle in rng.sample(CATALOGUE, k=rng.randint(2, 4)):
            plans.append(_plan(rng, client.id, name, kind, price, cycle, manager_id, began, now))
    _play(company.id, plans, began, now, rng)
    _bring_terms_near(company.id)
    _record_demo_incidents(company.id, rng)
    _score_health(company.id, rng)
    sign_ins = "\n".join(f"  {r.value:<16} {e:<22} password: {p}" for e, _, r, p in DEMO_USERS)
    return (
        f"Seeded {company.name}: {len(clients)} clients, {len(plans)} services with a year of"
        f" history, {len(users)} users.\nSign in as:\n{sign_ins}"
    )


def _company():
    with unit_of_work():
        company = Company(name="Northwind Managed Services", timezone="Europe/London")
        db.session.add(company)
        db.session.flush()
        users = []
        for email, name, role, password in DEMO_USERS:
            user = User(company_id=company.id, email=email, name=name, role=role)
            set_password(user, password)
            users.append(user)
        clients = [
            Client(company_id=company.id, name=name, address=f"1 High Street, {name.split()[0]}")
            for name in CLIENTS
        ]
        db.session.add_all(users + clients)
        db.session.flush()
        for client in clients:
            domain = client.name.split()[0].lower()
            db.session.add_all(
                [
                    Contact(
                        company_id=company.id,
                        client_id=client.id,
                        name="Office Manager",
                        email=f"it@{domain}.example",
                        is_primary=True,
                        is_billing=True,
                    ),
                    Contact(
                        company_id=company.id,
                        client_id=client.id,
                        name="IT Lead",
                        email=f"tech@{domain}.example",
                        phone="+44 20 7946 0000",
                        is_technical=True,
                    ),
                ]
            )
    return company, clients, users[1].id, users


def _at(began: dt.datetime, now: dt.datetime, rng: random.Random, lo: float, hi: float):
    """A moment between the fractions lo and hi of the history, in working hours."""
    moment = began + (now - began) * rng.uniform(lo, hi)
    return moment.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59))


def _plan(rng, client_id, name, kind, price, cycle, manager_id, began, now) -> list:
    """One service's life as (when, step) pairs; a step is a callable of (company, service)."""
    new = service_actions.NewService(
        client_id=client_id,
        name=name,
        service_type=kind,
        price=Decimal(price),
        currency=rng.choice(["USD", "USD", "EUR", "GBP"]),
        billing_cycle=cycle,
        term_months=rng.choice([12, 12, 24, 36]),
        service_level=rng.choice(list(ServiceLevel)),
        auto_renew=rng.random() < 0.4,
        account_manager_id=manager_id,
    )
    roll = rng.random()
    start = _at(began, now, rng, 0.0, 0.85)
    steps = [(start, ("provision", new))]
    if roll < 0.1:
        return steps  # stays pending
    live = start + dt.timedelta(days=rng.randint(1, 10))
    steps.append((live, ("activate",)))
    later = (live - began) / (now - began)
    if rng.random() < 0.3:  # a price change: more seats, or fewer
        factor = Decimal(rng.choice(["1.2", "1.5", "0.8", "0.9"]))
        new_price = (Decimal(price) * factor).quantize(Decimal("0.01"))
        steps.append((_at(began, now, rng, later + 0.02, later + 0.1), ("price", new_price)))
        later += 0.1
    if roll < 0.5:
        return steps
    if roll < 0.62:  # suspended and back after a few weeks
        paused = _at(began, now, rng, later + 0.02, 0.8)
        steps.append((paused, ("suspend",)))
        steps.append((paused + dt.timedelta(days=rng.randint(14, 42)), ("resume",)))
    elif roll < 0.75:
        steps.append((_at(began, now, rng, later + 0.02, 0.97), ("suspend",)))
    elif roll < 0.85:
        steps.append((_at(began, now, rng, later + 0.02, 0.97), ("renew",)))
    else:
        steps.append((_at(began, now, rng, later + 0.02, 0.97), ("cancel", roll < 0.92)))
    return steps


def _play(company_id, plans, began, now, rng) -> None:
    """Every step of every plan in time order, each at its own moment, with the month-end
    runs between: expiries, the nightly health scores and the month's health bands."""
    ids: dict[int, int] = {}
    timeline = [(when, i, step) for i, plan in enumerate(plans) for when, step in plan]
    month_end = began.replace(day=1, hour=21, minute=0) + relativedelta(months=1, days=-1)
    while month_end < now:
        timeline.append((month_end, -1, ("month end",)))
        month_end = (month_end + dt.timedelta(days=1)).replace(day=1) + relativedelta(
            months=1, days=-1
        )
    timeline += [(when, -2, ("incident",)) for when in _incident_times(began, now, rng)]
    for when, i, step in sorted(timeline, key=lambda t: t[:2]):
        if when >= now:
            continue
        # A step the month-end expiry got to first is refused: that service's story ends there.
        with frozen(when), suppress(TransitionRefused):
            _step(company_id, ids, i, step, rng)


def _incident_times(began, now, rng) -> list[dt.datetime]:
    return sorted(_at(began, now, rng, 0.05, 0.97) for _ in range(30))


def _step(company_id, ids, i, step, rng) -> None:
    kind = step[0]
    if kind == "provision":
        ids[i] = service_actions.provision(company_id, step[1], ACTOR).id
    elif kind == "activate":
        service_actions.activate(company_id, ids[i], ACTOR)
    elif kind == "price":
        service_actions.change_price(company_id, ids[i], ACTOR, step[1], note="seats changed")
    elif kind == "suspend":
        service_actions.suspend(company_id, ids[i], ACTOR, reason="Invoice 90 days overdue")
    elif kind == "resume":
        service_actions.resume(company_id, ids[i], ACTOR)
    elif kind == "renew":
        service_actions.renew(company_id, ids[i], ACTOR, months=12)
    elif kind == "cancel":
        reason = "Client moved to in-house IT"
        service_actions.cancel(company_id, ids[i], ACTOR, reason=reason, at_term_end=step[1])
    elif kind == "incident":
        _past_incident(company_id, rng)
    elif kind == "month end":
        expiry.expire_due_services()
        running = db.session.scalars(
            select(ClientService.id).where(
                ClientService.company_id == company_id, ClientService.status.in_(RUNNING)
            )
        ).all()
        with unit_of_work():
            health_scores.recalculate_many(list(running), actor=ACTOR)
        health_history.record_month(company_id)


# (severity, title, answered after minutes or None, resolved after hours or None)
PAST_INCIDENTS = [
    ("high", "Backup job failed overnight", 45, 6),
    ("critical", "Site-to-site VPN down", 20, 3),
    ("medium", "Disk 90% full on file server", 240, 30),
    ("low", "Licence renewal warning", 600, 72),
    ("critical", "Mail flow stopped", 90, 9),
    ("high", "Firewall CPU at 100%", 10, 2),
]


def _past_incident(company_id, rng) -> None:
    """An incident that started a few hours ago (at the frozen now), answered and resolved
    already; some answers come late, so their breaches are in that month's figures."""
    active = db.session.scalars(
        select(ClientService.id).where(
            ClientService.company_id == company_id, ClientService.status == ServiceStatus.ACTIVE
        )
    ).all()
    if not active:
        return
    severity, title, answer, fix = rng.choice(PAST_INCIDENTS)
    opened = utcnow() - dt.timedelta(hours=fix + 1)
    new = recording.NewIncident(
        rng.choice(list(active)),
        title,
        Severity(severity),
        opened_at=opened,
        acknowledged_at=opened + dt.timedelta(minutes=answer * rng.uniform(0.5, 3)),
        resolved_at=opened + dt.timedelta(hours=fix),
    )
    recording.record(company_id, new, ACTOR)


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
        new = recording.NewIncident(
            service_id,
            title,
            Severity(severity),
            opened_at=opened,
            acknowledged_at=None if ack is None else opened + dt.timedelta(hours=ack),
            resolved_at=None if fix is None else opened + dt.timedelta(hours=fix),
        )
        recording.record(company_id, new, ACTOR)


def _bring_terms_near(company_id: int) -> None:
    """Demo data only: move a few terms close so the renewals views have something to show."""
    with unit_of_work():
        active = db.session.scalars(
            select(ClientService)
            .where(
                ClientService.company_id == company_id,
                ClientService.status == ServiceStatus.ACTIVE,
                # A scheduled cancellation ends on its term end: moving that would leave it
                # ending on a day that is no longer the end of its term.
                ClientService.cancellation_effective_on.is_(None),
            )
            .order_by(ClientService.id)
            .limit(4)
        ).all()
        for days, service in zip((6, 13, 27, 55), active, strict=False):
            service.term_end = today() + dt.timedelta(days=days)
    for service_id in [s.id for s in active]:
        with unit_of_work():
            reconcile_service(service_id)  # billing records the moved term end too


def _score_health(company_id: int, rng: random.Random) -> None:
    """Demo data only: ratings and reviews, so health scores differ."""
    with unit_of_work():
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
    for service_id in [s.id for s in services if s.status in RUNNING]:
        with unit_of_work():
            health_scores.recalculate(service_id, actor=ACTOR)
