"""The worst assets of one client over the report's months: the incidents opened on each in
those (company-local) months and their SLA breaches, most incidents first. Only for one client:
across every client the list would name devices, not where the trouble lies."""

import datetime as dt

from dateutil.relativedelta import relativedelta

from webapp.assets.queries import AssetIncidents, incidents_by_asset
from webapp.reports.local_months import company_timezone, month_start_utc

SHOWN = 10


def worst_assets(
    company_id: int,
    first: dt.date,
    last: dt.date,
    client_id: int | None,
    limit: int | None = SHOWN,
) -> list[AssetIncidents]:
    if client_id is None:
        return []
    timezone = company_timezone(company_id)
    start = month_start_utc(first.replace(day=1), timezone)
    end = month_start_utc(last.replace(day=1) + relativedelta(months=1), timezone)
    return incidents_by_asset(company_id, start, end, client_id=client_id, limit=limit)
