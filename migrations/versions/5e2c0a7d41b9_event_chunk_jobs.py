"""each event's job, when events are enqueued in chunks

Revision ID: 5e2c0a7d41b9
Revises: 1c27d1bb63ae
Create Date: 2026-12-05 12:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5e2c0a7d41b9"
down_revision = "1c27d1bb63ae"
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column with no default: SQLite adds it without rebuilding the table, and
    # every event enqueued before this has the job it always had, `event-<id>`.
    op.add_column("domain_events", sa.Column("job_id", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("domain_events") as batch_op:
        batch_op.drop_column("job_id")
