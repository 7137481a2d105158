"""ingested event files, keyed by checksum: `ingest_batches`

One row per event file loaded into `ad_events` (`jobsctl ingest`, the `ingest_events` actor),
written in the same transaction as its events: the file's SHA-256 is the key, so loading the
same bytes again (another name, a redelivered job, a second beat's scan) adds nothing.
Generic DDL: the same table on PostgreSQL and SQLite.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("checksum", sa.String(64), primary_key=True),  # hex SHA-256 of the file's bytes
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_format", sa.String(16), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("publishers", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_ts", sa.DateTime(timezone=True)),
        sa.Column("last_ts", sa.DateTime(timezone=True)),
        sa.Column("rejects_path", sa.Text()),
        sa.Column("loaded_by", sa.String(64), nullable=False, server_default="jobsctl"),
        sa.Column("seconds", sa.Float()),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_ingest_batches_loaded_at", "ingest_batches", ["loaded_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_batches_loaded_at", table_name="ingest_batches")
    op.drop_table("ingest_batches")
