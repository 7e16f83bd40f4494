"""The documents' sums per month, currency and line kind (InvoicedKindMonth), kept as documents
are issued, for the reports' invoiced revenue: added to in the issuing transaction, under the
company's lock that issuing holds, so two writers never add to the same row at once.

rebuild() makes a company's sums again from its documents' lines (`flask billing
rebuild-sums`): once after the upgrade that added them, for the documents the previous release
issued while the migration ran."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import BigInteger, cast, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.invoices.models import Invoice, InvoicedKindMonth, InvoiceLine

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
    module = sqlite if db.session.get_bind().dialect.name == "sqlite" else postgresql
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


def rebuild(company_id: int) -> int:
    """The company's sums made again from its documents' lines, in the caller's unit of work,
    which holds the company's lock (documents.lock_company): the rows written. Summed per
    issue date in SQL, each line to the cent, then per month here."""
    sums: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    cents = func.sum(cast(func.round(InvoiceLine.amount * 100), BigInteger))
    for currency, day, kind, total in db.session.execute(
        select(Invoice.currency, Invoice.issue_date, InvoiceLine.kind, cents)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(Invoice.company_id == company_id)
        .group_by(Invoice.currency, Invoice.issue_date, InvoiceLine.kind)
    ):
        sums[(day.replace(day=1), currency, kind)] += int(total)
    db.session.execute(delete(InvoicedKindMonth).where(InvoicedKindMonth.company_id == company_id))
    rows = [
        {"company_id": company_id, "month": m, "currency": c, "kind": k, "cents": n}
        for (m, c, k), n in sorted(sums.items())
    ]
    if rows:
        db.session.execute(insert(InvoicedKindMonth.__table__), rows)
    return len(rows)
