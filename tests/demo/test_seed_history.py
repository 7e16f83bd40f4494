"""The demo seed's year of history: enough for every report to have months to show."""

import datetime as dt

from sqlalchemy import func, select

from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.demo.seed import seed_demo_data
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
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
