"""Health bands month by month: what the report draws, kept small.

A company's running services per health band and client, as the last nightly recalculation
of each company-local month left them (health_band_months). Reading "the last snapshot of
each service in each month" from health_snapshots instead would scan about 100,000 rows a
night per large company; this keeps about one row per client and month.
"""

import datetime as dt
from collections import defaultdict

from sqlalchemy import delete, func, insert, select

from webapp.clock import to_local, utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.health.models import HealthBandMonth, HealthSnapshot
from webapp.lifecycle.health import BANDS, band
from webapp.lifecycle.statuses import RUNNING
from webapp.pipeline.outbox import unit_of_work
from webapp.services.models import ClientService

COUNTS = (*BANDS, "unscored")


def local_today(company_id: int) -> dt.date:
    timezone = db.session.scalar(select(Company.timezone).where(Company.id == company_id))
    return to_local(utcnow(), timezone or "UTC").date()


def live_counts(company_id: int, client_id: int | None = None) -> dict[int, dict[str, int]]:
    """{client_id: {band or "unscored": running services}} from the services' own scores:
    one grouped read, banded here (as webapp.overview.queries.service_counts does)."""
    query = (
        select(ClientService.client_id, ClientService.health_score, func.count())
        .where(ClientService.company_id == company_id, ClientService.status.in_(RUNNING))
        .group_by(ClientService.client_id, ClientService.health_score)
    )
    if client_id is not None:
        query = query.where(ClientService.client_id == client_id)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for client, score, n in db.session.execute(query):
        counts[client][band(score) or "unscored"] += n
    return counts


def live_totals(company_id: int, client_id: int | None = None) -> dict[str, int]:
    """{band or "unscored": running services} now. Company-wide it reads the
    (company_id, status, health_score) index alone, like the overview's bands."""
    # Grouped by status too and filtered here, as service_counts does: with the status in
    # the WHERE, SQLite picks the (company_id, health_score) index and reads every row.
    query = (
        select(ClientService.status, ClientService.health_score, func.count())
        .where(ClientService.company_id == company_id)
        .group_by(ClientService.status, ClientService.health_score)
    )
    if client_id is not None:
        query = query.where(ClientService.client_id == client_id)
    totals = dict.fromkeys(COUNTS, 0)
    for status, score, n in db.session.execute(query):
        if status in RUNNING:
            totals[band(score) or "unscored"] += n
    return totals


def record_month(company_id: int, on: dt.date | None = None) -> int:
    """Store the company's bands now as its row for the month holding `on` (default: today
    in the company's zone), replacing any earlier run's; its own write transaction.

    Called at the end of every nightly recalculation: the last run of a month is the one that
    stays. Returns the rows written (one per client with running services)."""
    month = (on or local_today(company_id)).replace(day=1)
    with unit_of_work():
        counts = live_counts(company_id)
        _replace(company_id, {month: counts})
    return len(counts)


def rebuild_from_snapshots(company_id: int) -> int:
    """Every month again: past months from each service's last snapshot in that month (the
    nightly run scores every running service, so one scored in a month was running in it),
    the current month from the services' scores. For the demo seed's history and tests; the
    migration does the same for existing data."""
    timezone = db.session.scalar(select(Company.timezone).where(Company.id == company_id))
    current = local_today(company_id).replace(day=1)
    with unit_of_work():
        last: dict[tuple[dt.date, int], tuple[int, int]] = {}
        for service_id, client_id, score, at in db.session.execute(
            select(
                HealthSnapshot.service_id,
                ClientService.client_id,
                HealthSnapshot.score,
                HealthSnapshot.computed_at,
            )
            .join(ClientService, ClientService.id == HealthSnapshot.service_id)
            .where(HealthSnapshot.company_id == company_id)
            .order_by(HealthSnapshot.computed_at, HealthSnapshot.id)
        ):
            month = to_local(at, timezone or "UTC").date().replace(day=1)
            if month < current:
                last[(month, service_id)] = (client_id, score)
        by_month: dict[dt.date, dict[int, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: dict.fromkeys(COUNTS, 0))
        )
        for (month, _), (client_id, score) in last.items():
            by_month[month][client_id][band(score)] += 1
        by_month[current] = live_counts(company_id)
        db.session.execute(
            delete(HealthBandMonth)
            .where(HealthBandMonth.company_id == company_id)
            .execution_options(synchronize_session=False)
        )
        written = _replace(company_id, by_month)
    return written


def _replace(company_id: int, by_month: dict[dt.date, dict[int, dict[str, int]]]) -> int:
    now = utcnow()
    db.session.execute(
        delete(HealthBandMonth)
        .where(HealthBandMonth.company_id == company_id, HealthBandMonth.month.in_(list(by_month)))
        .execution_options(synchronize_session=False)
    )
    rows = [
        {"company_id": company_id, "month": month, "client_id": client_id, **row, "updated_at": now}
        for month, counts in by_month.items()
        for client_id, row in counts.items()
    ]
    if rows:
        db.session.execute(insert(HealthBandMonth.__table__), rows)
    return len(rows)
