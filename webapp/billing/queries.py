"""Reads of recurring billing: MRR per currency."""

from decimal import Decimal

from sqlalchemy import func, select

from webapp.billing.models import RecurringBilling
from webapp.extensions import db
from webapp.lifecycle.billing import mrr
from webapp.lifecycle.statuses import BillingStatus


def mrr_by_currency(company_id: int) -> dict[str, Decimal]:
    """Monthly recurring revenue of running billing, as each cycle's monthly equivalent."""
    rows = db.session.execute(
        select(RecurringBilling.currency, RecurringBilling.cycle, func.sum(RecurringBilling.amount))
        .where(
            RecurringBilling.company_id == company_id,
            RecurringBilling.status == BillingStatus.ACTIVE,
        )
        .group_by(RecurringBilling.currency, RecurringBilling.cycle)
    ).all()
    by_currency: dict[str, dict] = {}
    for currency, cycle, amount in rows:
        by_currency.setdefault(currency, {})[cycle] = Decimal(amount)
    return {currency: mrr(by_currency[currency]) for currency in sorted(by_currency)}
