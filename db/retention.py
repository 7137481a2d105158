"""What the cleanup job removes, as queries that count (dry run) or delete in batches.

Job records follow CONTRACT.md's retention: completed (and cancelled) ones are kept 24 hours and
at most 1,000 per queue, failed and dead ones 7 days. `older_than` replaces the age for every
finished state; the 1,000 per queue cap always holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from db.models import ApiToken, JobRecord

COMPLETED_KEEP = timedelta(hours=24)
COMPLETED_MAX_PER_QUEUE = 1000
FAILED_KEEP = timedelta(days=7)
BATCH = 10_000

_CANDIDATES = """
SELECT id FROM (
    SELECT id, state, finished_at,
           row_number() OVER (PARTITION BY queue, state IN ('completed', 'cancelled')
                              ORDER BY finished_at DESC NULLS LAST, id) AS newest
    FROM jobs
    WHERE state IN ('completed', 'cancelled', 'failed', 'dead') AND finished_at IS NOT NULL
) ranked
WHERE (state IN ('completed', 'cancelled') AND (finished_at < :completed_before OR newest > :cap))
   OR (state IN ('failed', 'dead') AND finished_at < :failed_before)
"""


def _bounds(now: datetime, older_than: timedelta | None) -> dict[str, Any]:
    return {
        "completed_before": now - (older_than or COMPLETED_KEEP),
        "failed_before": now - (older_than or FAILED_KEEP),
        "cap": COMPLETED_MAX_PER_QUEUE,
    }


def expired_job_records(connection: Connection, now: datetime, older_than: timedelta | None = None) -> list[str]:
    return list(connection.execute(text(_CANDIDATES), _bounds(now, older_than)).scalars())


def delete_job_records(connection: Connection, ids: list[str]) -> int:
    table = JobRecord.__table__
    removed = 0
    for start in range(0, len(ids), BATCH):
        removed += connection.execute(table.delete().where(table.c.id.in_(ids[start : start + BATCH]))).rowcount
    return removed


def expired_tokens(connection: Connection, now: datetime, older_than: timedelta | None = None) -> list[str]:
    before = now - (older_than or timedelta(0))
    return list(
        connection.execute(
            text("SELECT id FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < :before"), {"before": before}
        ).scalars()
    )


def delete_tokens(connection: Connection, ids: list[str]) -> int:
    if not ids:
        return 0
    return connection.execute(ApiToken.__table__.delete().where(ApiToken.__table__.c.id.in_(ids))).rowcount
