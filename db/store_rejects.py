"""Job-store records set aside: refused by `check_record` when made, or by the database when written alone.

Each is kept in `job_store_rejects` (migration 0011) with its reason, its job id and queue
as far as they are text, and the record itself as JSON text (NUL characters escaped, cut to
RECORD_CHARS), so an operator can see what was lost and why. A table rather than only a log
line: the record outlives the process and its log rotation, and reading it needs no access
to the workers. Rows older than RETENTION go whenever new ones are written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from db.base import Base
from db.store_records import storable

#: Kept as long as failed and dead job records (CONTRACT.md: 7 days).
RETENTION = timedelta(days=7)
#: The most characters of a rejected record kept.
RECORD_CHARS = 8000
#: The most characters of a rejected id or queue kept.
NAME_CHARS = 200

REJECTS = Table(
    "job_store_rejects",
    Base.metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", Text),
    Column("queue", Text),
    Column("reason", Text, nullable=False),
    Column("record", Text, nullable=False),
    Column("rejected_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_job_store_rejects_rejected_at", "rejected_at"),
)


@dataclass(frozen=True)
class Reject:
    """A record set aside and why."""

    job_id: str | None
    queue: str | None
    reason: str
    record: str

    @classmethod
    def of(cls, record: dict[str, Any], reason: str) -> Reject:
        return cls(
            job_id=_name(record.get("id")),
            queue=_name(record.get("queue")),
            reason=reason,
            record=_as_text(record)[:RECORD_CHARS],
        )


def _as_text(record: dict[str, Any]) -> str:
    try:
        return orjson.dumps(record, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # a lone surrogate or an integer over 64 bits: the standard library escapes both
        return json.dumps(record, default=repr)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return storable(text)[:NAME_CHARS]


def write(connection: Connection, rejects: list[Reject]) -> None:
    """Insert `rejects` and drop those past RETENTION, in the caller's transaction."""
    if not rejects:
        return
    connection.execute(
        insert(REJECTS),
        [{"job_id": r.job_id, "queue": r.queue, "reason": r.reason, "record": r.record} for r in rejects],
    )
    connection.execute(delete(REJECTS).where(REJECTS.c.rejected_at < datetime.now(UTC) - RETENTION))


def recent(connection: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The newest rejects first."""
    query = select(REJECTS).order_by(REJECTS.c.id.desc()).limit(limit)
    return [dict(row) for row in connection.execute(query).mappings()]
