"""invoiced kind months: the documents' sums per month, currency and line kind

Revision ID: 9c4e1f7a2d58
Revises: b2e7d4a1c6f3
Create Date: 2026-12-05 16:20:00.000000

"""

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "9c4e1f7a2d58"
down_revision = "b2e7d4a1c6f3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invoiced_kind_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "month", "currency", "kind"),
    )
    op.create_index(
        "ix_invoiced_kind_months_company_id", "invoiced_kind_months", ["company_id"], unique=False
    )
    _backfill(op.get_bind())


def _backfill(conn):
    """The documents issued so far, summed per issue date in SQL (each line to the cent, as
    webapp.invoices.kept_months does), then per month here: no dialect's date functions."""
    sums = defaultdict(int)
    for company, currency, day, kind, cents in conn.execute(
        sa.text(
            "SELECT i.company_id, i.currency, i.issue_date, l.kind, "
            "SUM(CAST(ROUND(l.amount * 100) AS BIGINT)) "
            "FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id "
            "GROUP BY i.company_id, i.currency, i.issue_date, l.kind"
        )
    ):
        if isinstance(day, str):  # SQLite gives the text it stores
            day = dt.date.fromisoformat(day[:10])
        sums[(company, day.replace(day=1), currency, kind)] += int(cents)
    kept = sa.table(
        "invoiced_kind_months",
        sa.column("company_id", sa.Integer),
        sa.column("month", sa.Date),
        sa.column("currency", sa.String),
        sa.column("kind", sa.String),
        sa.column("cents", sa.BigInteger),
    )
    rows = [
        {"company_id": c, "month": m, "currency": cur, "kind": k, "cents": n}
        for (c, m, cur, k), n in sorted(sums.items())
    ]
    if rows:
        conn.execute(kept.insert(), rows)


def downgrade():
    op.drop_index("ix_invoiced_kind_months_company_id", table_name="invoiced_kind_months")
    op.drop_table("invoiced_kind_months")
