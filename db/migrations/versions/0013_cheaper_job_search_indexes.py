"""the job search's indexes made cheap for the store's writes (PostgreSQL)

Every state change of a job rewrites its row and, since `state` is indexed, adds an entry to every
index of `jobs`: each index of the search is paid two or three times per job on the hot path.
Migration 0012's two full indexes cost the no-op drain and `send()` about 15% (BENCHMARKS.md);
this one keeps the search's plans at a fraction of that:

- the id column takes the "C" collation, so the primary key's own index serves `id LIKE 'prefix%'`
  (byte order, the same for the hex-and-dash ids whatever the database's collation) and
  `ix_jobs_id_pattern` goes;
- `ix_jobs_enqueued_id`, a B-tree over the listing's order, gives way to a BRIN index over the time
  of enqueue: a few bytes per block range, updated only when a range's summary changes. The listing
  across queues reads the newest window first (`db/job_search.py`: the last hour, day, week, then
  everything), each window a BRIN range scan and a sort of the rows it holds.

`ix_jobs_publisher_enqueued` stays: partial, it costs nothing for jobs without a publisher.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = [
    "DROP INDEX IF EXISTS ix_jobs_id_pattern",
    "DROP INDEX IF EXISTS ix_jobs_enqueued_id",
    'ALTER TABLE jobs ALTER COLUMN id TYPE varchar(36) COLLATE "C"',
    "CREATE INDEX ix_jobs_enqueued_brin ON jobs USING brin (enqueued_at) WITH (pages_per_range = 16)",
]
DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_jobs_enqueued_brin",
    'ALTER TABLE jobs ALTER COLUMN id TYPE varchar(36) COLLATE "default"',
    "CREATE INDEX ix_jobs_id_pattern ON jobs (id varchar_pattern_ops)",
    "CREATE INDEX ix_jobs_enqueued_id ON jobs (enqueued_at DESC NULLS LAST, id DESC)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
