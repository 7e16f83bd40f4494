"""The migration's ledger backfill rebuilds, from stored facts, the rows the lifecycle writes."""

import datetime as dt
import importlib.util
from pathlib import Path

import time_machine
from sqlalchemy import delete, select

from tests.support.factories import make_service
from webapp.billing.models import RevenueMovement
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle as C
from webapp.services import actions as lc
from webapp.services import cancellations

MIGRATION = Path(__file__).parents[2] / "migrations/versions/62cec14c3590_revenue_ledger.py"


def _migration():
    spec = importlib.util.spec_from_file_location("revenue_ledger_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ledger():
    return sorted(
        (
            r.service_id,
            r.client_id,
            r.kind,
            r.effective_on,
            r.currency,
            r.cycle,
            r.amount,
            r.services,
        )
        for r in db.session.scalars(select(RevenueMovement))
    )


def test_backfill_gives_the_rows_the_transitions_wrote(company):
    with time_machine.travel(dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC), tick=False) as clock:

        def day(n):
            clock.move_to(dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC) + dt.timedelta(days=n))

        paused_twice = make_service(company, price="100.00")
        cancelled_suspended = make_service(company, price="55.50", cycle=C.QUARTERLY)
        # Cancelled at the end of its one-month term: its churn is written when the scheduler
        # cancels it on that day (issue 14), and the backfill dates it the same.
        at_term_end = make_service(
            company, price="12.00", cycle=C.WEEKLY, currency="EUR", term_months=1
        )
        expired = make_service(company, price="2400.00", cycle=C.ANNUAL, term_months=1)
        one_time = make_service(company, price="999.00", cycle=C.ONE_TIME)
        never_live = make_service(company)
        for service in (paused_twice, cancelled_suspended, at_term_end, expired, one_time):
            lc.activate(company, service, "t")
        day(3)
        lc.suspend(company, paused_twice, "t", reason="unpaid")
        lc.suspend(company, cancelled_suspended, "t", reason="unpaid")
        day(5)
        lc.resume(company, paused_twice, "t")
        lc.cancel(company, cancelled_suspended, "t", reason="gone")
        lc.cancel(company, at_term_end, "t", reason="gone", at_term_end=True)
        lc.cancel(company, never_live, "t", reason="never needed")
        day(9)
        lc.suspend(company, paused_twice, "t", reason="unpaid again")
        day(40)
        lc.expire(company, expired)
        assert cancellations.cancel_due_services() == 1
    written = _ledger()
    assert len(written) == 11  # 4 new, 3 suspensions, 1 resume, 3 ends (none for one-time)

    db.session.execute(delete(RevenueMovement))
    _migration().backfill(db.session.connection())
    db.session.commit()
    assert _ledger() == written
    assert {r.event_id for r in db.session.scalars(select(RevenueMovement))} == {None}


def test_backfill_works_through_services_a_chunk_at_a_time(company, monkeypatch):
    for _ in range(5):
        lc.activate(company, make_service(company), "t")
    written = _ledger()
    db.session.execute(delete(RevenueMovement))
    migration = _migration()
    monkeypatch.setattr(migration, "CHUNK", 2)
    migration.backfill(db.session.connection())
    db.session.commit()
    assert _ledger() == written
