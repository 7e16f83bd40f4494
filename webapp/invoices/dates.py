"""A service's billing dates as its page shows them: paid through, and the next bill date the
bill run will really use (pushed by suspensions; none once the service is ending)."""

import datetime as dt
from dataclasses import dataclass

from webapp.invoices.bill_run import billing_dates
from webapp.services.models import ClientService
from webapp.tenancy import get_or_404


@dataclass(frozen=True)
class BillingDates:
    paid_through: dt.date | None
    next_bill_date: dt.date | None
    suspended: bool  # its paid days carry over until it resumes


def service_billing_dates(company_id: int, service_id: int) -> BillingDates:
    service = get_or_404(ClientService, company_id, service_id)
    paid_through, next_bill_date = billing_dates(company_id, service_id)
    return BillingDates(paid_through, next_bill_date, service.suspended_since is not None)
