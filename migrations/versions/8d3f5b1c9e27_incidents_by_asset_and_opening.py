"""incidents by company, asset and opening

Revision ID: 8d3f5b1c9e27
Revises: 5e2c0a7d41b9
Create Date: 2026-12-05 12:50:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "8d3f5b1c9e27"
down_revision = "5e2c0a7d41b9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_incidents_company_asset_opened",
        "incidents",
        ["company_id", "asset_id", "opened_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_incidents_company_asset_opened", table_name="incidents")
