"""Active jobs of a queue per publisher, from the job store (the tenants of publisher-scoped jobs)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from db.models import JobRecord


def active_by_publisher(connection: Connection, queue: str) -> dict[str, int]:
    """Publisher id -> jobs of `queue` the store reads `active`, for payloads that name a publisher."""
    publisher = JobRecord.payload["publisher_id"].as_string()
    query = (
        select(publisher, func.count())
        .where(JobRecord.queue == queue, JobRecord.state == "active", publisher.is_not(None))
        .group_by(publisher)
    )
    return {str(row[0]): int(row[1]) for row in connection.execute(query)}
