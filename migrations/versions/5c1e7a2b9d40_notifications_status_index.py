"""notifications by status and claim time

The relay looks for queued and failed notifications whose job Redis lost, requeue_stalled for
stale "sending" ones and Operations for stale "transmitting" ones: each by status and sent_at,
on every relay pass, so an index spares a scan of every notification ever sent. The queued ones
are looked up by channel and age (mail waits queued while no mail server is set), hence the
second.

Revision ID: 5c1e7a2b9d40
Revises: 1dfae9394da9
Create Date: 2026-12-05 03:00:00

"""

from alembic import op

revision = "5c1e7a2b9d40"
down_revision = "1dfae9394da9"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_status_sent_at", ["status", "sent_at"], unique=False
        )
        batch_op.create_index(
            "ix_notifications_status_channel_created_at",
            ["status", "channel", "created_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_status_channel_created_at")
        batch_op.drop_index("ix_notifications_status_sent_at")
