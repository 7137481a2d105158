"""indexes of the job search: id prefix, publisher, newest first across queues (PostgreSQL)

`GET /api/v1/jobs` and `jobsctl jobs` find jobs by an id prefix, by the publisher their payload
names and by the time they were enqueued, across queues, newest first (`db/job_search.py`):

- `id varchar_pattern_ops`: `id LIKE 'prefix%'` whatever the database's collation (the primary
  key's index serves it only under the C collation);
- the publisher, as `db.job_search.publisher_expression` spells it (the actors' `publisher_id`
  or the API's `publisherId`), with the time of enqueue; partial: jobs without a publisher
  (cache warming, cleanup) add nothing to it;
- `(enqueued_at DESC NULLS LAST, id DESC)`: the listing's order, so a page of every queue is read
  from the index instead of sorting the store.

A payload field other than the publisher has no index: it is compared on the rows the other
criteria leave. SQLite, the embedded default, gets none of these (its store stays small).
Plain CREATE INDEX, like the earlier migrations: writes to `jobs` wait while they are built.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PUBLISHER = "COALESCE(payload ->> 'publisher_id', payload ->> 'publisherId')"
CREATE = [
    "CREATE INDEX ix_jobs_id_pattern ON jobs (id varchar_pattern_ops)",
    f"CREATE INDEX ix_jobs_publisher_enqueued ON jobs (({PUBLISHER}), enqueued_at) WHERE {PUBLISHER} IS NOT NULL",
    "CREATE INDEX ix_jobs_enqueued_id ON jobs (enqueued_at DESC NULLS LAST, id DESC)",
]
DROP = [
    "DROP INDEX IF EXISTS ix_jobs_enqueued_id",
    "DROP INDEX IF EXISTS ix_jobs_publisher_enqueued",
    "DROP INDEX IF EXISTS ix_jobs_id_pattern",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in CREATE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DROP:
        op.execute(statement)
