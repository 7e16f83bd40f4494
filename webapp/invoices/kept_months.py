"""The documents' sums per month, currency and line kind (InvoicedKindMonth), kept as documents
are issued, for the reports' invoiced revenue: added to in the issuing transaction, under the
company's lock that issuing holds, so two writers never add to the same row at once."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.invoices.models import InvoicedKindMonth

KEY = ["company_id", "month", "currency", "kind"]


def add(company_id: int, issue_date: dt.date, documents) -> None:
    """Add these documents' lines (each with .currency and .lines of .kind and .amount)."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for document in documents:
        for line in document.lines:
            sums[(document.currency, line.kind)] += to_cents(line.amount)
    if not sums:
        return
    month = issue_date.replace(day=1)
    table = InvoicedKindMonth.__table__
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=KEY, set_={"cents": table.c.cents + statement.excluded.cents}
        ),
        [
            {"company_id": company_id, "month": month, "currency": c, "kind": k, "cents": n}
            for (c, k), n in sorted(sums.items())
        ],
    )


def to_cents(amount: Decimal) -> int:
    return int(Decimal(amount).scaleb(2).to_integral_value())
