"""Revenue at risk is summed and sorted in SQL (the reports page at 100,000 services): the SQL
MRR of a service must be, to the cent, what Python's monthly_equivalent says, on SQLite (whose
NUMERIC is a float) and on PostgreSQL alike."""

import random
from decimal import Decimal

from sqlalchemy import select, update

from tests.support.factories import make_service
from webapp.extensions import db
from webapp.lifecycle.billing import monthly_equivalent
from webapp.lifecycle.statuses import BillingCycle as C
from webapp.lifecycle.statuses import ServiceStatus
from webapp.reports.at_risk import mrr_cents
from webapp.services.models import ClientService

CYCLES = [C.WEEKLY, C.MONTHLY, C.QUARTERLY, C.SEMI_ANNUAL, C.ANNUAL, C.ONE_TIME]


def _sql_mrr(service_ids) -> dict[int, Decimal]:
    rows = db.session.execute(
        select(ClientService.id, mrr_cents()).where(ClientService.id.in_(service_ids))
    )
    return {sid: Decimal(int(cents)).scaleb(-2) for sid, cents in rows}


def test_the_sql_mrr_is_pythons_to_the_cent(company):
    services = [make_service(company, price="1.00", cycle=c) for c in CYCLES]
    db.session.execute(
        update(ClientService)
        .where(ClientService.id.in_(services))
        .values(status=ServiceStatus.ACTIVE)
    )
    rng = random.Random(17)
    # Half cents on the boundary (0.06 a year is 0.005 a month), then random amounts.
    cases = [(Decimal("0.06"), 1), (Decimal("0.18"), 1), (Decimal("0.03"), 1), (Decimal("0.15"), 3)]
    cases += [
        (Decimal(rng.randint(1, 999_999)).scaleb(-2), rng.choice((1, 1, 2, 3, 7, 25, 480)))
        for _ in range(400)
    ]
    for price, quantity in cases:
        db.session.execute(
            update(ClientService)
            .where(ClientService.id.in_(services))
            .values(price=price, quantity=quantity)
        )
        got = _sql_mrr(services)
        for service_id, cycle in zip(services, CYCLES, strict=True):
            expected = monthly_equivalent(price * quantity, cycle)
            assert got[service_id] == expected, (price, quantity, cycle)
    db.session.rollback()


def test_a_suspended_service_brings_nothing_in(company):
    active, suspended = (make_service(company, price="90.00") for _ in range(2))
    db.session.execute(
        update(ClientService).where(ClientService.id == active).values(status=ServiceStatus.ACTIVE)
    )
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == suspended)
        .values(status=ServiceStatus.SUSPENDED)
    )
    assert _sql_mrr([active, suspended]) == {active: Decimal("90.00"), suspended: Decimal("0.00")}
    db.session.rollback()
