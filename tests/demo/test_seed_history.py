"""The demo seed's year of history: enough for every report to have months to show."""

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from webapp.clients.models import Contact
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.demo import seeding
from webapp.demo.seed import seed_demo_data
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.invoices.models import (
    CREDIT_NOTE,
    INVOICE,
    ISSUED,
    PAID,
    VOID,
    BillRun,
    Invoice,
    InvoiceLine,
)
from webapp.notifications.models import Notification
from webapp.reports import breaches as breach_reports
from webapp.reports import health_bands as health_reports
from webapp.reports import revenue as revenue_reports


def test_the_reports_have_a_year_of_months_with_every_kind_of_movement(app, work):
    seed_demo_data()
    work()
    company = db.session.scalar(select(Company.id))
    last = utcnow().date().replace(day=1)
    first = (last - dt.timedelta(days=330)).replace(day=1)

    mrr = revenue_reports.mrr_months(company, first, last)
    kinds = {
        kind
        for months in mrr.values()
        for m in months
        for kind in ("new", "expansion", "contraction", "resumed", "churned")
        if getattr(m, kind)
    }
    assert kinds == {"new", "expansion", "contraction", "resumed", "churned"}
    assert sum(1 for m in mrr["USD"] if m.new) >= 5  # activations spread over the months

    bands = health_reports.band_months(company, first, last)
    assert sum(1 for b in bands if b.healthy + b.fair + b.poor + b.critical) >= 10
    breaches = breach_reports.breach_months(company, first, last)
    assert sum(1 for b in breaches if b.total) >= 3
    per_service = db.session.execute(
        select(func.count()).select_from(HealthSnapshot).group_by(HealthSnapshot.service_id)
    ).scalars()
    assert max(per_service) >= 6  # sparklines have a history to draw


def months_between(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    """(year, month) of every month after first's and before last's: the months played whole."""
    months, day = [], (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    while (day.year, day.month) < (last.year, last.month):
        months.append((day.year, day.month))
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def test_the_demo_has_a_year_of_invoices_paid_open_and_voided_mailed_to_billing_contacts(app, work):
    seed_demo_data()
    company = db.session.scalar(select(Company))
    today = utcnow().date()
    documents = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
    invoices = [d for d in documents if d.kind == INVOICE]
    issued_in = {(d.issue_date.year, d.issue_date.month) for d in invoices}
    assert set(months_between(today - dt.timedelta(days=365), today)) <= issued_in
    assert db.session.scalar(select(func.max(BillRun.run_date))) == today  # the last run
    assert not seeding.in_progress(company.id)  # the daily bill run takes over

    # Gapless: each kind's numbers run 1..n per year, in the order the documents were issued.
    for kind in (INVOICE, CREDIT_NOTE):
        for year in {d.year for d in documents if d.kind == kind}:
            mine = [d for d in documents if (d.kind, d.year) == (kind, year)]
            assert [d.sequence for d in mine] == list(range(1, len(mine) + 1))
            assert [d.issue_date for d in mine] == sorted(d.issue_date for d in mine)
    assert len({d.number for d in documents}) == len(documents)

    statuses = Counter(d.status for d in invoices)
    assert statuses[PAID] > len(invoices) / 2
    assert statuses[ISSUED] >= 2
    assert any(d.status == ISSUED and d.due_date < today for d in invoices)  # overdue
    assert statuses[VOID] == 1
    (voided,) = [d for d in invoices if d.status == VOID]
    voiding = db.session.get(Invoice, voided.voided_by_id)
    assert (voiding.kind, voiding.credits_invoice_id, voiding.total) == (
        CREDIT_NOTE,
        voided.id,
        -voided.total,
    )
    # The bill run's own credit notes: a stop or a cut that outweighed the run's charges.
    assert any(d.kind == CREDIT_NOTE and d.bill_run_id is not None for d in documents)

    lines = db.session.scalars(select(InvoiceLine)).all()
    assert {line.kind for line in lines} >= {"period", "setup", "adjustment", "credit"}
    assert max(line.quantity for line in lines if line.kind == "period") > 1  # seats
    rates = {d.client.name: d.tax_rate for d in invoices}
    assert (company.tax_rate, rates["Fjord Shipping"], rates["Harbor Schools"]) == (20, 0, 5)
    assert any(d.tax_rate == 20 for d in invoices)
    assert company.address and all(d.parties["company"]["address"] for d in documents)

    work()
    billing = {c.email for c in db.session.scalars(select(Contact).where(Contact.is_billing)).all()}
    sent_to = db.session.scalars(
        select(Notification.recipient).where(Notification.listener == "notify.invoice_issued")
    ).all()
    assert set(sent_to) <= billing
    assert "accounts@fjord.example" in sent_to
    assert len(sent_to) >= len(invoices)  # every invoice to at least one billing contact
