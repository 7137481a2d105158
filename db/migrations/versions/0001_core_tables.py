"""core tables: ad events, rollups, job store

Revision ID: 0001
Revises:
Create Date: 2026-11-24 21:05:28.070517
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publishers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishers")),
    )
    op.create_table(
        "ad_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("publisher_id", sa.String(length=64), nullable=False),
        sa.Column("ad_unit_id", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("ad_requests", sa.Integer(), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_events")),
    )
    with op.batch_alter_table("ad_events", schema=None) as batch_op:
        batch_op.create_index("ix_ad_events_ts_publisher", ["ts", "publisher_id"], unique=False)

    op.create_table(
        "analytics_rollups",
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("publisher_id", sa.String(length=64), nullable=False),
        sa.Column("ad_unit_id", sa.String(length=64), nullable=False),
        sa.Column("ad_requests", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("ctr", sa.Float(), nullable=True),
        sa.Column("fill_rate", sa.Float(), nullable=True),
        sa.Column("ecpm", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint(
            "granularity", "bucket_start", "publisher_id", "ad_unit_id", name=op.f("pk_analytics_rollups")
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("retry_of", sa.String(length=36), nullable=True),
        sa.Column("pipeline_id", sa.String(length=36), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("broker_ref", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_dedupe_key", ["queue", "dedupe_key"], unique=False)
        batch_op.create_index("ix_jobs_pipeline_id", ["pipeline_id"], unique=False)
        batch_op.create_index("ix_jobs_queue_state_enqueued", ["queue", "state", "enqueued_at"], unique=False)
        batch_op.create_index("ix_jobs_state_finished", ["state", "finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_finished")
        batch_op.drop_index("ix_jobs_queue_state_enqueued")
        batch_op.drop_index("ix_jobs_pipeline_id")
        batch_op.drop_index("ix_jobs_dedupe_key")

    op.drop_table("jobs")
    op.drop_table("analytics_rollups")
    with op.batch_alter_table("ad_events", schema=None) as batch_op:
        batch_op.drop_index("ix_ad_events_ts_publisher")

    op.drop_table("ad_events")
    op.drop_table("publishers")
