"""job-store records set aside, with their reasons

A record the database refuses (or a check refuses when it is made) is kept here instead of
blocking every later write of the process's job store (runtime/store_buffer.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_store_rejects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_store_rejects")),
    )
    with op.batch_alter_table("job_store_rejects", schema=None) as batch_op:
        batch_op.create_index("ix_job_store_rejects_rejected_at", ["rejected_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_store_rejects", schema=None) as batch_op:
        batch_op.drop_index("ix_job_store_rejects_rejected_at")
    op.drop_table("job_store_rejects")
