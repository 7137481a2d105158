"""publisher metrics

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 03:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "publisher_metrics",
        sa.Column("metric_type", sa.String(length=16), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("publisher_id", sa.String(length=64), nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "metric_type", "granularity", "period_start", "publisher_id", name=op.f("pk_publisher_metrics")
        ),
    )


def downgrade() -> None:
    op.drop_table("publisher_metrics")
