"""A scale company made due for a bill run on one day: what the bill-run benchmark and the
bill run's fault tests bill.

seed_scale() gives services with a status, a cycle and a start date, but no invoicing history
(and stopped services without the event that stopped them). make_billing_due() reshapes every
one of them, in bulk, into a service whose billing is due on `run_date`, as if daily bill runs
had billed it so far: each has its cursor (ServiceInvoicing) where the last run left it and a
period starting on the run day. A mix makes the rules' other paths run too: services activated
that day (with setup fees, some one-time), runs missed (periods to catch up), price and seat
changes inside the last period (adjustments), a suspension in an earlier period (the periods
that follow moved by its days), cancellations and expiries inside the last period (credits,
and the clients whose every service stopped get a credit note), a cancellation scheduled for
later. Changes and stops have their events, as the domain functions would have recorded them.

Written as plain rows, not through the domain functions (as seed_scale is): 100,000 services
through the lifecycle actions would take far longer than the run they prepare.
"""

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert, select, update

from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.invoices.models import ServiceInvoicing
from webapp.lifecycle import events as ev
from webapp.lifecycle import invoicing as rules
from webapp.lifecycle.statuses import BillingCycle, ServiceStatus
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.outbox import unit_of_work
from webapp.services.models import ClientService, ServicePause

BATCH = 10_000

# What each service becomes, by weight (out of 100).
KINDS = {
    "steady": 70,  # one period starting on the run day
    "new": 6,  # activated on the run day: first period (and its setup fee, if any)
    "one_time": 1,  # a one-time service activated on the run day
    "behind": 3,  # two runs missed: three periods to catch up
    "price_change": 6,  # a new price inside the last period: adjustment, then the new price
    "seat_change": 4,  # a new quantity inside the last period: the same
    "resumed": 4,  # suspended for a few days in the first period: every start moved
    "cancel_scheduled": 2,  # cancellation at term end, after the run day: still billed
    "cancelled": 3,  # cancelled inside the last period: a credit for the unused days
    "expired": 1,  # its term ended inside the last period: the same
}
STOPPED = ("cancelled", "expired")
# One client in CREDIT_CLIENT_EVERY has every service cancelled: its document is a credit note.
CREDIT_CLIENT_EVERY = 100
SETUP_FEES = (Decimal("0"), Decimal("99.00"), Decimal("250.00"))


@dataclass
class BillingDue:
    run_date: dt.date
    services: int
    kinds: Counter = field(default_factory=Counter)
    events: int = 0
    pauses: int = 0
    cursors: int = 0


def make_billing_due(company_id: int, run_date: dt.date, seed: int = 16) -> BillingDue:
    """Reshape every service of the (scale-seeded) company so that a bill run on `run_date`
    has something to bill for each; the count of each kind made."""
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    clients = list(
        db.session.scalars(
            select(Client.id).where(Client.company_id == company_id).order_by(Client.id)
        )
    )
    crediting = set(clients[CREDIT_CLIENT_EVERY // 2 :: CREDIT_CLIENT_EVERY])
    rows = db.session.execute(
        select(
            ClientService.id,
            ClientService.client_id,
            ClientService.billing_cycle,
            ClientService.price,
            ClientService.currency,
            ClientService.start_date,
            ClientService.version,
        )
        .where(ClientService.company_id == company_id)
        .order_by(ClientService.id)
    ).all()
    db.session.rollback()
    result = BillingDue(run_date, len(rows))
    services, cursors, events, pauses = [], [], [], []
    names, weights = list(KINDS), list(KINDS.values())
    for row in rows:
        kind = "cancelled" if row.client_id in crediting else rng.choices(names, weights)[0]
        plan = _plan(row, kind, run_date, rng, now)
        result.kinds[plan.kind] += 1
        services.append(plan.service)
        if plan.cursor:
            cursors.append({**plan.cursor, "company_id": company_id, "updated_at": now})
        events += [_event_row(company_id, e, when, now) for e, when in plan.events]
        pauses += [{"company_id": company_id, **p} for p in plan.pauses]
    for batch in _batches(services):
        with unit_of_work():
            db.session.execute(update(ClientService), batch)
    _insert(ServiceInvoicing, cursors)
    _insert(DomainEvent, events)
    _insert(ServicePause, pauses)
    result.events, result.pauses, result.cursors = len(events), len(pauses), len(cursors)
    return result


@dataclass
class _Plan:
    kind: str
    service: dict
    cursor: dict | None = None
    events: list = field(default_factory=list)  # (event, occurred_at)
    pauses: list = field(default_factory=list)


def _plan(row, kind: str, day: dt.date, rng: random.Random, now: dt.datetime) -> _Plan:
    cycle = BillingCycle(row.billing_cycle)
    price = Decimal(row.price)
    service = {
        "id": row.id,
        "status": ServiceStatus.ACTIVE,
        "billing_cycle": cycle,
        "price": price,
        "quantity": rng.choice((1, 1, 1, 5, 10, 25)),
        "setup_fee": Decimal(0),
        "term_end": day + dt.timedelta(days=rng.randint(30, 700)),
        "auto_renew": rng.random() < 0.4,
        "suspended_at": None,
        "suspended_since": None,
        "resumed_at": None,
        "cancelled_at": None,
        "cancellation_effective_on": None,
        "expired_at": None,
        "paused_days": 0,
        "version": row.version,
        "updated_at": now,
    }
    if kind in ("new", "one_time"):
        return _new(service, kind, day, rng)
    pause = rng.randint(3, 20) if kind == "resumed" else 0
    k, anchor = _anchor(cycle, day - dt.timedelta(days=pause), row.start_date, rng)
    if anchor is None or (kind == "behind" and k < 3):
        return _new(service, "new", day, rng)
    service["activated_at"] = dt.datetime.combine(anchor, dt.time(9))
    charged = k - 2 if kind == "behind" else k
    next_bill = rules.nominal_start(anchor, cycle, charged) + dt.timedelta(days=pause)
    plan = _Plan(
        kind,
        service,
        cursor={
            "service_id": row.id,
            "anchor": anchor,
            "periods_charged": charged,
            "next_bill_date": next_bill,
            "paid_through": next_bill - dt.timedelta(days=1),
            "settled_version": row.version,
            "done": False,
        },
    )
    # The last charged period: where changes and stops fall.
    last = day - dt.timedelta(days=rules.nominal_length(anchor, cycle, k - 1))
    inside = last + dt.timedelta(days=rng.randint(1, (day - last).days - 1))
    if kind == "resumed":
        start = anchor + dt.timedelta(days=1)
        plan.pauses.append(
            {
                "service_id": row.id,
                "started_at": dt.datetime.combine(start, dt.time(10)),
                "ended_at": dt.datetime.combine(start + dt.timedelta(days=pause), dt.time(10)),
            }
        )
        service["paused_days"] = pause
        service["resumed_at"] = dt.datetime.combine(start + dt.timedelta(days=pause), dt.time(10))
    elif kind in ("price_change", "seat_change"):
        _change(plan, row, kind, inside, rng)
    elif kind == "cancel_scheduled":
        service["cancellation_effective_on"] = day + dt.timedelta(days=rng.randint(1, 60))
        service["auto_renew"] = False
    elif kind in STOPPED:
        _stop(plan, row, kind, inside)
    return plan


def _anchor(cycle: BillingCycle, period_start: dt.date, began: dt.date, rng: random.Random):
    """(k, anchor) such that the service's period k starts on `period_start`, k about the
    cycles since it began (at least 1); (k, None) when no anchor near it gives that day (a
    31st, which months without one cannot end on)."""
    if cycle == BillingCycle.WEEKLY:
        k = max(1, (period_start - began).days // 7)
        return k, period_start - dt.timedelta(weeks=k)
    months = rules.MONTHS[cycle]
    elapsed = relativedelta(period_start, began)
    k = max(1, (elapsed.years * 12 + elapsed.months) // months)
    for n in range(k, k + 12):
        anchor = period_start - relativedelta(months=months * n)
        if rules.nominal_start(anchor, cycle, n) == period_start:
            return n, anchor
    return k, None


def _new(service: dict, kind: str, day: dt.date, rng: random.Random) -> _Plan:
    service["activated_at"] = dt.datetime.combine(day, dt.time(0, 5))
    service["setup_fee"] = rng.choice(SETUP_FEES)
    if kind == "one_time":
        service["billing_cycle"] = BillingCycle.ONE_TIME
    return _Plan(kind, service)


def _change(plan: _Plan, row, kind: str, on: dt.date, rng: random.Random) -> None:
    service = plan.service
    version = service["version"] = row.version + 1
    price, quantity = service["price"], service["quantity"]
    when = dt.datetime.combine(on, dt.time(11))
    if kind == "price_change":
        new = (price * Decimal(rng.choice(("1.05", "1.10", "0.90")))).quantize(Decimal("0.01"))
        service["price"] = new
        event = ev.ServicePriceChanged(
            row.id,
            price,
            new,
            row.currency,
            row.billing_cycle,
            on,
            "price review",
            adjustment=None,
            period_start=None,
            period_end=None,
            quantity=quantity,
            version=version,
        )
    else:
        new = rng.choice([q for q in (1, 2, 5, 10, 25, 40) if q != quantity])
        service["quantity"] = new
        event = ev.ServiceQuantityChanged(
            row.id, quantity, new, price, row.currency, row.billing_cycle, on, "seats", version
        )
    plan.events.append((event, when))


def _stop(plan: _Plan, row, kind: str, on: dt.date) -> None:
    service = plan.service
    service["version"] = row.version + 1
    when = dt.datetime.combine(on, dt.time(12))
    if kind == "cancelled":
        service.update(
            status=ServiceStatus.CANCELLED, cancelled_at=when, cancellation_effective_on=on
        )
        plan.events.append((ev.ServiceCancelled(row.id, "moving on", on, False), when))
    else:
        service.update(status=ServiceStatus.EXPIRED, expired_at=when, term_end=on)
        plan.events.append((ev.ServiceExpired(row.id, on), when))


def _event_row(company_id: int, event: ev.Event, when: dt.datetime, now: dt.datetime) -> dict:
    # Already delivered, as seed_scale's history is: the relay and the workers start idle.
    return {
        "company_id": company_id,
        "type": event.name,
        "service_id": event.service_id,
        "payload": event.payload(),
        "actor": "seed-scale",
        "occurred_at": when,
        "enqueued_at": now,
    }


def _batches(rows: list) -> list[list]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def _insert(model, rows: list[dict]) -> None:
    for batch in _batches(rows):
        with unit_of_work():
            db.session.execute(insert(model.__table__), batch)
