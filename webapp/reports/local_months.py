"""The company's own calendar months, as the health and SLA reports count them: its time zone,
and where a local month begins in UTC.

A breach at 00:30 on 1 April in London is April's even though it was 31 March in UTC.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from webapp.company.models import Company
from webapp.extensions import db


def company_timezone(company_id: int) -> str:
    return db.session.scalar(select(Company.timezone).where(Company.id == company_id)) or "UTC"


def month_start_utc(month: dt.date, timezone: str) -> dt.datetime:
    """Local midnight on the month's first day, as naive UTC. Where the clocks skip midnight
    (a few zones change at 00:00) this is the moment the day began."""
    local = dt.datetime(month.year, month.month, 1, tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)
