"""The bill run reads its services' events and pauses by service (SQLite only: its plans).

SQLite, without planner statistics, preferred the company's index (an equality) to the
services' (an IN list of up to 2,000), and walked every event of the company once per part:
at 100,000 services (1,000,000 events) the run's reads took 21.8 s, 26 times their time at
10,000. webapp.database.not_by_index keeps the company's condition off the plan."""

import re

import pytest
from sqlalchemy import event

from tests.invoices.test_bill_run import D, bill, started
from tests.support.app import BACKEND
from webapp.extensions import db
from webapp.services import actions as lc

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")

BY_SERVICE = {
    "domain_events": "ix_domain_events_service_id",
    "service_pauses": "ix_service_pauses_service_id",
}


def test_the_bill_run_seeks_its_services_events_and_pauses_not_the_companys(company):
    services = [started(company, D(2026, 1, 10)) for _ in range(3)]
    lc.suspend(company, services[0], "test", "unpaid")
    statements = []

    def remember(_conn, _cursor, sql, params, _context, _many):
        if (
            m := re.search(r"\bFROM (domain_events|service_pauses)\b", sql)
        ) and sql.lstrip().upper().startswith("SELECT"):
            statements.append((m.group(1), sql, params))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        bill(company, D(2026, 3, 10))
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert {table for table, _, _ in statements} == set(BY_SERVICE)
    with db.engine.connect() as conn:
        for table, sql, params in statements:
            plan = " ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert BY_SERVICE[table] in plan, f"{sql}\n  -> {plan}"
