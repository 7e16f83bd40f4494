"""Invoiced revenue per month beside the MRR the ledger says, and what makes them differ.

Invoiced is the net (before tax) of the invoices less the credit notes issued in the month: a
plain sum of net_total, since a credit note's amounts are stored negative; a voided invoice
stays in its month and the credit note voiding it counts in its own. Issue dates are the
company's own dates (a bill run's date), so a month is the calendar month of the issue date.

The MRR beside it is the revenue report's closing figure: MRR at the month's end, or today for
the month under way. The difference is explained by the invoiced lines' kinds: the recurring
periods billed in the month less MRR (timing: a quarterly, semi-annual or annual period is
billed whole in the month it starts; a weekly cycle bills four or five times a month; a period
is billed on its service's anniversary, in advance), plus what MRR never counts (setup fees,
one-time services, adjustments for price and seat changes, credits for unused days, voids).
Those parts add up to the difference to the cent, because a document's net is the sum of its
lines.

For the whole company the sums kept per month, currency and line kind as documents are issued
(webapp.invoices.kept_months) are read: a few dozen rows whatever the number of invoices. For
one client, two statements on its own documents, grouped in SQL by currency and month (and
line kind).
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import extract, func, select

from webapp.extensions import db
from webapp.invoices.models import (
    ADJUSTMENT,
    CREDIT,
    ONCE,
    PERIOD,
    SETUP,
    VOID_LINE,
    Invoice,
    InvoicedKindMonth,
    InvoiceLine,
)
from webapp.reports.revenue import MrrMonth

ZERO = Decimal("0.00")

# Line kind -> the InvoicedMonth field it is summed into.
KIND_FIELDS = {
    PERIOD: "periods",
    SETUP: "setup",
    ONCE: "once",
    ADJUSTMENT: "adjustments",
    CREDIT: "credits",
    VOID_LINE: "voids",
}


@dataclass(frozen=True)
class InvoicedMonth:
    month: dt.date  # the 1st
    currency: str
    mrr: Decimal  # the ledger's MRR at the month's end (today for the month under way)
    invoiced: Decimal  # net of the invoices less the credit notes issued in the month
    periods: Decimal  # recurring periods billed in the month
    setup: Decimal
    once: Decimal  # one-time services
    adjustments: Decimal  # prorated price and quantity changes (signed)
    credits: Decimal  # unused days after a stop (negative)
    voids: Decimal  # lines of the credit notes that void invoices (negative)

    @property
    def difference(self) -> Decimal:
        return self.invoiced - self.mrr

    @property
    def timing(self) -> Decimal:
        """The recurring periods billed less MRR: billing in advance on anniversaries."""
        return self.periods - self.mrr


def invoiced_months(
    company_id: int,
    months: list[dt.date],
    mrr: dict[str, list[MrrMonth]],
    client_id: int | None = None,
) -> dict[str, list[InvoicedMonth]]:
    """Currency -> one InvoicedMonth per month of `months` (first days, in order), beside
    `mrr` (revenue.mrr_months for the same months and client); a currency with neither
    MRR nor an invoice in the months is left out."""
    if not months:
        return {}
    totals, by_kind = _read(company_id, months, client_id)
    closing = {(currency, m.month): m.closing for currency, rows in mrr.items() for m in rows}
    currencies = sorted(
        {currency for currency, rows in mrr.items() if any(m.closing for m in rows)}
        | {currency for currency, _ in totals}
    )
    result = {}
    for currency in currencies:
        result[currency] = [
            InvoicedMonth(
                month=month,
                currency=currency,
                mrr=closing.get((currency, month), ZERO),
                invoiced=totals.get((currency, month), ZERO),
                **{
                    field: by_kind.get((currency, month, kind), ZERO)
                    for kind, field in KIND_FIELDS.items()
                },
            )
            for month in months
        ]
    return result


def _read(company_id: int, months: list[dt.date], client_id: int | None):
    """(currency, month) -> net invoiced, and (currency, month, line kind) -> net of lines:
    for the whole company from the kept sums, for one client from its own documents."""
    if client_id is None:
        return _read_kept(company_id, months)
    i, line = Invoice, InvoiceLine
    after = months[-1].replace(day=28) + dt.timedelta(days=4)
    scope = [
        i.company_id == company_id,
        i.client_id == client_id,
        i.issue_date >= months[0],
        i.issue_date < after.replace(day=1),
    ]
    # extract() is portable: strftime on SQLite, EXTRACT on PostgreSQL (a numeric there).
    year, month = extract("year", i.issue_date), extract("month", i.issue_date)
    totals = {
        (currency, dt.date(int(y), int(m), 1)): _money(amount)
        for currency, y, m, amount in db.session.execute(
            select(i.currency, year, month, func.sum(i.net_total))
            .where(*scope)
            .group_by(i.currency, year, month)
        )
    }
    by_kind = {
        (currency, dt.date(int(y), int(m), 1), kind): _money(amount)
        for currency, y, m, kind, amount in db.session.execute(
            select(i.currency, year, month, line.kind, func.sum(line.amount))
            .join(line, (line.invoice_id == i.id) & (line.company_id == company_id))
            .where(*scope)
            .group_by(i.currency, year, month, line.kind)
        )
    }
    return totals, by_kind


def _read_kept(company_id: int, months: list[dt.date]):
    """_read for the whole company, from the sums kept as documents are issued (a few rows a
    month): a document's net is the sum of its lines, so a month's is the sum of its kinds."""
    k = InvoicedKindMonth
    totals: dict = defaultdict(lambda: ZERO)
    by_kind = {}
    for month, currency, kind, amount in db.session.execute(
        select(k.month, k.currency, k.kind, k.cents).where(
            k.company_id == company_id, k.month >= months[0], k.month <= months[-1]
        )
    ):
        money = Decimal(amount).scaleb(-2)
        by_kind[(currency, month, kind)] = money
        totals[(currency, month)] += money
    return dict(totals), by_kind


def _money(value) -> Decimal:
    # SQLite sums a Numeric column as a float: back through str to the exact cents.
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))
