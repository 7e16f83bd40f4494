"""client services by company and client

Revision ID: b2e7d4a1c6f3
Revises: 3f5e2a7c9b10
Create Date: 2026-12-05 13:20:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "b2e7d4a1c6f3"
down_revision = "3f5e2a7c9b10"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_client_services_company_client",
        "client_services",
        ["company_id", "client_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_client_services_company_client", table_name="client_services")
