"""Demo data: one MSP with users of each role, clients, and services in every status, with a
year of history behind them, so the reports have months to show.

The history is played through the real domain functions with the clock set to each moment
(clock.frozen): activations spread over the year, price and seat changes, suspensions and
resumptions, cancellations, incidents (some breaching), each month's nightly health run, and the
nightly bill run, so a year of invoices, adjustments and credit notes follows from it; most
invoices are paid some days after they are issued, one is voided. The devices behind the
services, the alerts routed to them by host and those left unrouted come from
webapp.demo.seed_assets. Its events reach the worker when it starts, like any others; their
notifications land in the local mailbox."""

import datetime as dt
import heapq
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
from webapp.demo import seed_assets, seeding
from webapp.extensions import db
from webapp.health import history as health_history
from webapp.health import scores as health_scores
from webapp.incidents import recording
from webapp.invoices import actions as invoice_actions
from webapp.invoices.bill_run import run_bill_run
from webapp.invoices.models import INVOICE, Invoice
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

COMPANY_ADDRESS = "Unit 4, Riverside Works\n12 Canal Street\nManchester M1 3HE\nUnited Kingdom"

# Clients whose invoices differ from the company's defaults: (tax rate, payment terms in days,
# a separate accounts contact who gets the invoices). None: the company's.
CLIENT_TERMS = {
    "Cedar Law LLP": (None, 30, True),
    "Fjord Shipping": (Decimal("0.00"), None, True),  # abroad: reverse charge
    "Harbor Schools": (Decimal("5.00"), 45, False),
}


# (name, type, unit price, cycle, setup fee, seats at signing)
CATALOGUE = [
    ("Managed Backup", "backup", "149.00", BillingCycle.MONTHLY, "199.00", 1),
    ("24x7 Monitoring", "monitoring", "89.00", BillingCycle.MONTHLY, "0", 1),
    ("Microsoft 365", "m365", "66.00", BillingCycle.ANNUAL, "0", 25),
    ("Firewall Management", "firewall", "390.00", BillingCycle.QUARTERLY, "450.00", 1),
    ("Endpoint Protection", "security", "2.50", BillingCycle.WEEKLY, "0", 5),
    ("Helpdesk Retainer", "helpdesk", "2400.00", BillingCycle.SEMI_ANNUAL, "0", 1),
]


HISTORY_DAYS = 365


def seed_demo_data(seed: int = 7) -> str:
    rng = random.Random(seed)
    now = utcnow()
    began = now - dt.timedelta(days=HISTORY_DAYS)
    with frozen(began):
        company, clients, manager_id, users = _company()
    # The devices have an rng of their own too, and so do the payments: the rest of the
    # history is the same with or without them.
    fleet = seed_assets.Fleet(company.id, ACTOR, random.Random(f"{seed}-assets"))
    try:
        with frozen(began):
            for n, client in enumerate(clients):
                fleet.inventory(client.id, client.name, n)
        plans = []
        for client in clients:
            for offer in rng.sample(CATALOGUE, k=rng.randint(2, 4)):
                plans.append(_plan(rng, client.id, offer, manager_id, began, now))
        devices = _device_steps(plans, began, now)
        _play(company.id, plans, began, now, rng, random.Random(f"{seed}-payments"), fleet, devices)
        _bring_terms_near(company.id)
        run_bill_run(company.id, today(), ACTOR)  # what the last day's changes left to bill
        _record_demo_incidents(company.id, rng)
        fleet.alert(len(devices), resolved_after=None)  # still firing
        fleet.unrouted()
        _score_health(company.id, rng)
    finally:
        seeding.unmark(company.id)
    sign_ins = "\n".join(f"  {r.value:<16} {e:<22} password: {p}" for e, _, r, p in DEMO_USERS)
    return (
        f"Seeded {company.name}: {len(clients)} clients, {len(plans)} services with a year of"
        f" history, {len(users)} users.\nSign in as:\n{sign_ins}"
    )


def _company():
    with unit_of_work():
        company = Company(
            name="Northwind Managed Services",
            timezone="Europe/London",
            address=COMPANY_ADDRESS,
            tax_rate=Decimal("20.00"),
            payment_terms_days=14,
        )
        db.session.add(company)
        db.session.flush()
        seeding.mark(company.id)  # before the company is there to see: no daily bill run yet
        users = []
        for email, name, role, password in DEMO_USERS:
            user = User(company_id=company.id, email=email, name=name, role=role)
            set_password(user, password)
            users.append(user)
        clients = [
            Client(
                company_id=company.id,
                name=name,
                address=f"1 High Street\n{name.split()[0]}ton",
                tax_rate=CLIENT_TERMS.get(name, (None,))[0],
                payment_terms_days=CLIENT_TERMS.get(name, (None, None))[1],
            )
            for name in CLIENTS
        ]
        db.session.add_all(users + clients)
        db.session.flush()
        for client in clients:
            domain = client.name.split()[0].lower()
            accounts = CLIENT_TERMS.get(client.name, (None, None, False))[2]
            db.session.add_all(
                [
                    Contact(
                        company_id=company.id,
                        client_id=client.id,
                        name="Office Manager",
                        email=f"it@{domain}.example",
                        is_primary=True,
                        is_billing=not accounts,
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
            if accounts:
                db.session.add(
                    Contact(
                        company_id=company.id,
                        client_id=client.id,
                        name="Accounts Payable",
                        email=f"accounts@{domain}.example",
                        is_billing=True,
                    )
                )
    return company, clients, users[1].id, users


def _at(began: dt.datetime, now: dt.datetime, rng: random.Random, lo: float, hi: float):
    """A moment between the fractions lo and hi of the history, in working hours."""
    moment = began + (now - began) * rng.uniform(lo, hi)
    return moment.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59))


def _plan(rng, client_id, offer, manager_id, began, now) -> list:
    """One service's life as (when, step) pairs; a step is a tuple _step knows."""
    name, kind, price, cycle, setup_fee, seats = offer
    new = service_actions.NewService(
        client_id=client_id,
        name=name,
        service_type=kind,
        price=Decimal(price),
        currency=rng.choice(["USD", "USD", "EUR", "GBP"]),
        billing_cycle=cycle,
        term_months=rng.choice([12, 12, 24, 36]),
        service_level=rng.choice(list(ServiceLevel)),
        setup_fee=Decimal(setup_fee),
        auto_renew=rng.random() < 0.4,
        account_manager_id=manager_id,
    )
    roll = rng.random()
    start = _at(began, now, rng, 0.0, 0.85)
    steps = [(start, ("provision", new, seats))]
    if roll < 0.1:
        return steps  # stays pending
    live = start + dt.timedelta(days=rng.randint(1, 10))
    steps.append((live, ("activate",)))
    later = (live - began) / (now - began)
    if rng.random() < 0.3:  # more seats or fewer; a service sold whole changes its price
        factor = Decimal(rng.choice(["1.2", "1.5", "0.8", "0.9"]))
        when = _at(began, now, rng, later + 0.02, later + 0.1)
        if seats > 1:
            steps.append((when, ("seats", int((seats * factor).to_integral_value()))))
        else:
            steps.append((when, ("price", (Decimal(price) * factor).quantize(Decimal("0.01")))))
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


BILL_RUN_HOUR = 2  # the nightly bill run's hour (UTC): a day's changes go to the next night's
# When, as fractions of the history, an Alertmanager alert names a device by its instance.
ALERT_MOMENTS = (0.2, 0.33, 0.47, 0.6, 0.71, 0.83, 0.92)


def _device_steps(plans, began, now) -> list[tuple]:
    """(when, step) of the devices' own story: the routed alerts, and for the one service whose
    seats follow its devices (an Endpoint Protection service live from early in the year to
    now), a laptop added and a workstation retired while it runs. Its plan loses its seat
    changes by hand: the devices set its seats."""
    steps = [
        (began + (now - began) * at, ("alert", n, dt.timedelta(hours=1 + n % 3)))
        for n, at in enumerate(ALERT_MOMENTS)
    ]
    for i, plan in enumerate(plans):
        provision = plan[0][1]
        kinds = [step[0] for _, step in plan]
        if provision[1].service_type != seed_assets.FOLLOWING_KIND or "activate" not in kinds:
            continue
        live = next(when for when, step in plan if step[0] == "activate")
        if (
            set(kinds) - {"provision", "activate", "seats", "renew"}
            or live > began + (now - began) * 0.75
        ):
            continue  # suspended, cancelled or late: not a year of seats to show
        plan[:] = [(when, step) for when, step in plan if step[0] != "seats"]
        plan[0] = (plan[0][0], (*provision, "follows"))
        client_id = provision[1].client_id
        steps.append((live + (now - live) * 0.35, ("device added", i, client_id)))
        steps.append((live + (now - live) * 0.7, ("device retired", i, client_id)))
        break
    return steps


def _play(company_id, plans, began, now, rng, pay_rng, fleet, devices) -> None:
    """Every step of every plan in time order, each at its own moment, with the nightly bill
    runs and the month-end runs between (expiries, the nightly health scores and the month's
    health bands). Each bill run's invoices add their payments (or their void) to the timeline."""
    ids: dict[int, int] = {}
    timeline = [(when, i, step) for i, plan in enumerate(plans) for when, step in plan]
    night = dt.datetime.combine(began.date() + dt.timedelta(days=1), dt.time(BILL_RUN_HOUR))
    while night < now:
        timeline.append((night, -3, ("bill run",)))
        night += dt.timedelta(days=1)
    month_end = began.replace(day=1, hour=21, minute=0) + relativedelta(months=1, days=-1)
    while month_end < now:
        timeline.append((month_end, -1, ("month end",)))
        month_end = (month_end + dt.timedelta(days=1)).replace(day=1) + relativedelta(
            months=1, days=-1
        )
    timeline += [(when, -2, ("incident",)) for when in _incident_times(began, now, rng)]
    timeline += [(when, -5, step) for when, step in devices]
    # A heap rather than one sort: payments join it as the invoices they pay are issued.
    queue = [(when, i, n, step) for n, (when, i, step) in enumerate(timeline)]
    heapq.heapify(queue)
    payments = _Payments(company_id, began, pay_rng, len(queue))
    while queue:
        when, i, _, step = heapq.heappop(queue)
        if when >= now:
            continue
        # A step the month-end expiry got to first is refused: that service's story ends there.
        with frozen(when), suppress(TransitionRefused):
            if step[0] == "bill run":
                for later in payments.of(run_bill_run(company_id, when.date(), ACTOR)):
                    heapq.heappush(queue, later)
            elif step[0] in ("paid", "void"):
                payments.make(step)
            else:
                _step(company_id, ids, i, step, rng, fleet)


class _Payments:
    """When each invoice is paid: most within their terms, some late, a few not at all (so
    some are overdue), and one is voided by a credit note a few days after it was issued."""

    def __init__(self, company_id, began, rng, first_n):
        self.company_id = company_id
        self.void_from = (began + dt.timedelta(days=150)).date()
        self.voided = False
        self.rng = rng
        self.n = first_n  # heap entries' tie-breaker, after the timeline's own

    def of(self, result) -> list[tuple]:
        invoices = db.session.execute(
            select(Invoice.id, Invoice.number, Invoice.issue_date, Invoice.due_date, Invoice.total)
            .where(
                Invoice.company_id == self.company_id,
                Invoice.id.in_(result.document_ids),
                Invoice.kind == INVOICE,
            )
            .order_by(Invoice.id)
        ).all()
        later = []
        for invoice_id, number, issued, due, total in invoices:
            self.n += 1
            if not self.voided and issued >= self.void_from and total > 0:
                self.voided = True
                when = _on(issued + dt.timedelta(days=3), 10)
                later.append((when, -4, self.n, ("void", invoice_id)))
                continue
            roll = self.rng.random()
            if roll < 0.06:
                continue  # never paid: overdue by now
            terms = (due - issued).days
            days = self.rng.randint(1, terms) if roll < 0.8 else terms + self.rng.randint(1, 20)
            when = _on(issued + dt.timedelta(days=days), self.rng.randint(9, 16))
            later.append((when, -4, self.n, ("paid", invoice_id, f"Bank transfer {number}")))
        return later

    def make(self, step) -> None:
        if step[0] == "void":
            reason = "Waived: goodwill credit agreed with the client after the VPN outage"
            invoice_actions.void(self.company_id, step[1], ACTOR, reason)
        else:
            _, invoice_id, reference = step
            invoice_actions.mark_paid(self.company_id, invoice_id, ACTOR, today(), reference)


def _on(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 0))


def _incident_times(began, now, rng) -> list[dt.datetime]:
    return sorted(_at(began, now, rng, 0.05, 0.97) for _ in range(30))


def _step(company_id, ids, i, step, rng, fleet) -> None:
    kind = step[0]
    if kind == "provision":
        new = step[1]
        ids[i] = service_actions.provision(company_id, new, ACTOR).id
        if step[2] > 1:  # the seats it goes live with
            service_actions.change_quantity(company_id, ids[i], ACTOR, step[2], note="signed")
        fleet.provisioned(new.client_id, ids[i], new.service_type, follows=len(step) > 3)
    elif kind == "device added":
        fleet.add_workstation(step[2], ids[step[1]])
    elif kind == "device retired":
        fleet.retire_workstation(step[2])
    elif kind == "alert":
        fleet.alert(step[1], resolved_after=step[2])
    elif kind == "activate":
        service_actions.activate(company_id, ids[i], ACTOR)
    elif kind == "price":
        service_actions.change_price(company_id, ids[i], ACTOR, step[1], note="scope changed")
    elif kind == "seats":
        service_actions.change_quantity(company_id, ids[i], ACTOR, step[1], note="seats changed")
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
