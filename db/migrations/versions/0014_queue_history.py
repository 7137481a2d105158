"""queue history: per queue, per minute and per hour, jobs completed, retried and dead, p95 duration, depth

The dashboard's history charts (`GET /api/v1/queues/history`) read `queue_history`; the alerts
monitor fills it from the job store, the metrics recorder's counters and the broker's depths
(`db/queue_history.py`). Keyed (resolution, bucket_start, queue): reads of a range and the
prune of old rows walk the primary key.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_history",
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("completed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("retried", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("dead", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("timed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_ms", sa.Float(), server_default="0", nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=True),
        sa.Column("p95_ms", sa.Float(), nullable=True),
        sa.Column("histogram", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=True),
        sa.Column("delayed", sa.Integer(), nullable=True),
        sa.Column("dead_letters", sa.Integer(), nullable=True),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rolled_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("resolution", "bucket_start", "queue", name=op.f("pk_queue_history")),
    )


def downgrade() -> None:
    op.drop_table("queue_history")
