"""health and SLA report tables

Revision ID: b7d41c2e9a10
Revises: aaa788443b21
Create Date: 2027-01-05 09:00:00.000000

"""

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7d41c2e9a10"
down_revision = "aaa788443b21"
branch_labels = None
depends_on = None

RUNNING = ("active", "suspended")


def upgrade():
    op.create_table(
        "health_band_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("healthy", sa.Integer(), nullable=False),
        sa.Column("fair", sa.Integer(), nullable=False),
        sa.Column("poor", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("unscored", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "month", "client_id"),
    )
    op.create_index(
        "ix_health_band_months_company_id", "health_band_months", ["company_id"], unique=False
    )
    for kind in ("response", "resolution"):
        op.create_index(
            f"ix_incidents_company_{kind}_breached",
            "incidents",
            ["company_id", f"{kind}_breached_at", "service_id"],
            unique=False,
            sqlite_where=sa.text(f"{kind}_breached_at IS NOT NULL"),
            postgresql_where=sa.text(f"{kind}_breached_at IS NOT NULL"),
        )
    op.create_index(
        "ix_client_services_company_cancel_on",
        "client_services",
        ["company_id", "cancellation_effective_on"],
    )
    _backfill_band_months(op.get_bind())


def _band(score):
    if score is None:
        return "unscored"
    return "healthy" if score >= 80 else "fair" if score >= 60 else "poor" if score >= 40 else (
        "critical"
    )


def _backfill_band_months(conn):
    """Past months from the snapshots (each service's last one in a company-local month: the
    nightly run scores every running service, so a service scored in a month was running in
    it), the current month from the services' scores. Self-contained (no app imports), so
    it stays right whatever the models become; read in one pass, fine at demo and test sizes
    (scale_seed writes its rows in bulk instead)."""
    now = dt.datetime.now(dt.UTC)
    companies = conn.execute(sa.text("SELECT id, timezone FROM companies")).all()
    for company_id, timezone in companies:
        zone = ZoneInfo(timezone or "UTC")
        current = now.astimezone(zone).date().replace(day=1)
        last = {}  # (month, service) -> (client, score), the latest snapshot wins
        for service_id, client_id, score, at in conn.execute(
            sa.text(
                "SELECT s.service_id, c.client_id, s.score, s.computed_at "
                "FROM health_snapshots s JOIN client_services c ON c.id = s.service_id "
                "WHERE s.company_id = :company ORDER BY s.computed_at, s.id"
            ),
            {"company": company_id},
        ):
            if isinstance(at, str):  # SQLite hands raw SQL's times back as text
                at = dt.datetime.fromisoformat(at)
            month = at.replace(tzinfo=dt.UTC).astimezone(zone).date().replace(day=1)
            if month < current:
                last[(month, service_id)] = (client_id, score)
        counts = {}
        for (month, _), (client_id, score) in last.items():
            row = counts.setdefault((month, client_id), dict.fromkeys(_COUNTS, 0))
            row[_band(score)] += 1
        for client_id, status, score in conn.execute(
            sa.text(
                "SELECT client_id, status, health_score FROM client_services "
                "WHERE company_id = :company AND status IN ('active', 'suspended')"
            ),
            {"company": company_id},
        ):
            row = counts.setdefault((current, client_id), dict.fromkeys(_COUNTS, 0))
            row[_band(score)] += 1
        if counts:
            conn.execute(
                sa.text(
                    "INSERT INTO health_band_months (company_id, month, client_id, healthy, "
                    "fair, poor, critical, unscored, updated_at) VALUES (:company, :month, "
                    ":client, :healthy, :fair, :poor, :critical, :unscored, :at)"
                ),
                [
                    {"company": company_id, "month": month, "client": client_id, **row,
                     "at": now.replace(tzinfo=None)}
                    for (month, client_id), row in counts.items()
                ],
            )


_COUNTS = ("healthy", "fair", "poor", "critical", "unscored")


def downgrade():
    op.drop_index("ix_client_services_company_cancel_on", table_name="client_services")
    for kind in ("response", "resolution"):
        op.drop_index(f"ix_incidents_company_{kind}_breached", table_name="incidents")
    op.drop_index("ix_health_band_months_company_id", table_name="health_band_months")
    op.drop_table("health_band_months")
