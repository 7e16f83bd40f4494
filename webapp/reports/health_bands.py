"""The reports' health bands by month: running services per band, past months as the nightly
run stored them and the current (company-local) month live. Scoped by company (and optionally
one client); one grouped statement on the monthly rows, whatever the company's size.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.clock import to_local, utcnow
from webapp.extensions import db
from webapp.health.history import live_totals
from webapp.health.models import HealthBandMonth
from webapp.reports.local_months import company_timezone
from webapp.reports.revenue import months_between


@dataclass(frozen=True)
class BandMonth:
    month: dt.date
    healthy: int
    fair: int
    poor: int
    critical: int
    unscored: int
    live: bool = False  # the current month: the services' scores now, not a stored row


def band_months(
    company_id: int,
    first: dt.date,
    last: dt.date,
    client_id: int | None = None,
    today: dt.date | None = None,
) -> list[BandMonth]:
    """Running services per band, month by month up to the current one (`today`: the
    company's local date by default). Past months are the rows the nightly run stored (zeros
    where it did not run); the current month is live, the overview's own figure."""
    today = today or to_local(utcnow(), company_timezone(company_id)).date()
    current = today.replace(day=1)
    months = [m for m in months_between(first, last) if m <= current]
    if not months:
        return []
    query = (
        select(
            HealthBandMonth.month,
            func.sum(HealthBandMonth.healthy),
            func.sum(HealthBandMonth.fair),
            func.sum(HealthBandMonth.poor),
            func.sum(HealthBandMonth.critical),
            func.sum(HealthBandMonth.unscored),
        )
        .where(
            HealthBandMonth.company_id == company_id,
            HealthBandMonth.month >= months[0],
            HealthBandMonth.month <= months[-1],
            HealthBandMonth.month < current,
        )
        .group_by(HealthBandMonth.month)
    )
    if client_id is not None:
        query = query.where(HealthBandMonth.client_id == client_id)
    stored = {month: [int(n or 0) for n in counts] for month, *counts in db.session.execute(query)}
    result = []
    for month in months:
        if month == current:
            result.append(BandMonth(month, **live_totals(company_id, client_id), live=True))
        else:
            result.append(BandMonth(month, *stored.get(month, [0] * 5)))
    return result
