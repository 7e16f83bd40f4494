"""Terms ending soon, a page at a time."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.clock import today
from webapp.extensions import db
from webapp.lifecycle.statuses import RUNNING
from webapp.services.models import ClientService
from webapp.services.queries import running_in_order

RENEWALS_PER_PAGE = 50


@dataclass(frozen=True)
class RenewalPage:
    services: list
    total: int
    page: int
    pages: int


def _term_ends_filters(company_id: int, days: int) -> list:
    until = today() + dt.timedelta(days=days)
    return [ClientService.company_id == company_id, ClientService.term_end <= until]


def term_ends(company_id: int, days: int, limit: int, offset: int = 0):
    return running_in_order(
        _term_ends_filters(company_id, days),
        (ClientService.term_end, ClientService.id),
        limit,
        offset,
    )


def term_ends_page(company_id: int, days: int, page: int = 1) -> RenewalPage:
    """One page of the terms ending within `days`: a big MSP has thousands in 90 days."""
    total = db.session.scalar(
        select(func.count()).where(
            ClientService.status.in_(RUNNING), *_term_ends_filters(company_id, days)
        )
    )
    pages = max(1, -(-total // RENEWALS_PER_PAGE))
    page = min(max(1, page), pages)
    offset = (page - 1) * RENEWALS_PER_PAGE
    return RenewalPage(term_ends(company_id, days, RENEWALS_PER_PAGE, offset), total, page, pages)
