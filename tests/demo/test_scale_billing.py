"""The bill-run benchmark's workload (webapp.demo.scale_billing): a scale company made due on
one day bills every service, each kind with the lines it is there for, and nothing the next."""

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from webapp.clock import frozen, today, utcnow
from webapp.demo.scale import seed_scale
from webapp.demo.scale_billing import make_billing_due
from webapp.extensions import db
from webapp.invoices.bill_run import run_bill_run
from webapp.invoices.models import InvoiceLine


def test_every_service_is_due_on_the_day_with_the_lines_of_its_kind(app):
    company_id = seed_scale(services=600, clients=120, incidents=0, events=0).company_id
    due = make_billing_due(company_id, today())
    run = run_bill_run(company_id, today(), "test")

    k = due.kinds
    assert sum(k.values()) == 600 and all(k[kind] for kind in ("steady", "new", "resumed"))
    billed = db.session.scalar(select(func.count(func.distinct(InvoiceLine.service_id))))
    assert billed == 600
    lines = Counter(db.session.scalars(select(InvoiceLine.kind)))
    periods = sum(k[x] for x in ("steady", "new", "price_change", "seat_change", "resumed"))
    assert lines["period"] == periods + k["cancel_scheduled"] + 3 * k["behind"]
    assert lines["adjustment"] == k["price_change"] + k["seat_change"]
    assert lines["credit"] == k["cancelled"] + k["expired"]
    assert lines["once"] == k["one_time"]
    assert run.credit_notes >= 1  # the client whose every service was cancelled

    with frozen(utcnow() + dt.timedelta(days=1)):
        tomorrow = run_bill_run(company_id, today(), "test")
    assert tomorrow.lines == 0
