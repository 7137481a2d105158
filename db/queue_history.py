"""Queue history: per queue, per minute and per hour, jobs completed, retried and dead, p95 duration, depth.

One row per (resolution, bucket start, queue) in `queue_history` (migration 0014), written by the
alerts monitor's roll-up (`observability.history_rollup`), never on a job's path:

- completed and dead jobs, and the durations of the completed ones, from the job store (`jobs`, by
  `finished_at`, in UTC minutes); retried attempts from the metrics recorder's per-minute counters,
  passed in; durations as an exact p95 and a histogram (`db.history_figures`);
- queue depth (the broker's: enqueued, delayed, dead letters) sampled by each roll-up and kept on
  the minute that ended last before the sample; an hour holds the last sample of its minutes.

Rolling a minute up again writes the same row (an upsert; a sample already taken stays unless a
newer one comes). Hour rows are made from the hour's minute rows. Minute rows are kept
MINUTE_RETENTION, hour rows HOUR_RETENTION. The figures come from PostgreSQL: on the embedded
default's SQLite nothing rolls history up, and the charts stay empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from db.base import Base
from db.history_figures import BASE_MS, HOUR, MINUTE, QUANTILE, RATIO, TOP, Depth, Figures, Span, combine, series
from db.models import JSONType

#: Minute rows are kept two days (the 24 h chart and a day of margin), hour rows nine days (the 7 d chart).
MINUTE_RETENTION = timedelta(hours=48)
HOUR_RETENTION = timedelta(days=9)

HISTORY = Table(
    "queue_history",
    Base.metadata,
    Column("resolution", String(8), primary_key=True),  # "minute" or "hour"
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("queue", String(64), primary_key=True),
    Column("completed", BigInteger, nullable=False, server_default="0"),
    Column("retried", BigInteger, nullable=False, server_default="0"),
    Column("dead", BigInteger, nullable=False, server_default="0"),
    Column("timed", BigInteger, nullable=False, server_default="0"),  # completed jobs with a duration
    Column("total_ms", Float, nullable=False, server_default="0"),
    Column("max_ms", Float),
    Column("p95_ms", Float),
    Column("histogram", JSONType),  # {"<bucket index>": count}, the buckets with a count
    Column("depth", Integer),  # the broker's enqueued jobs at the end of the bucket
    Column("delayed", Integer),
    Column("dead_letters", Integer),
    Column("sampled_at", DateTime(timezone=True)),
    Column("rolled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

_UTC_MINUTE = "date_trunc('minute', finished_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_COMPLETED = "FILTER (WHERE state = 'completed')"
_COUNTS_SQL = f"""
SELECT queue, {_UTC_MINUTE} AS minute,
       count(*) {_COMPLETED} AS completed, count(*) FILTER (WHERE state = 'dead') AS dead,
       count(duration_ms) {_COMPLETED} AS timed, coalesce(sum(duration_ms) {_COMPLETED}, 0) AS total_ms,
       max(duration_ms) {_COMPLETED} AS max_ms,
       percentile_disc({QUANTILE}) WITHIN GROUP (ORDER BY duration_ms) {_COMPLETED} AS p95_ms
FROM jobs
WHERE state IN ('completed', 'dead') AND finished_at >= :start AND finished_at < :end
GROUP BY 1, 2
"""
#: `history_figures.bucket_index` in SQL.
_HISTOGRAM_SQL = f"""
SELECT queue, {_UTC_MINUTE} AS minute,
       CASE WHEN duration_ms <= {BASE_MS} THEN 0
            ELSE least({TOP}, ceil(ln(duration_ms / {BASE_MS}) / ln({RATIO!r})))::int END AS bucket,
       count(*) AS n
FROM jobs
WHERE state = 'completed' AND duration_ms IS NOT NULL AND finished_at >= :start AND finished_at < :end
GROUP BY 1, 2, 3
"""


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def floor_minute(at: datetime) -> datetime:
    return _utc(at).replace(second=0, microsecond=0)


def floor_hour(at: datetime) -> datetime:
    return _utc(at).replace(minute=0, second=0, microsecond=0)


def finished_figures(connection: Connection, start: datetime, end: datetime) -> dict[tuple[str, datetime], Figures]:
    """{(queue, minute): figures} of the jobs that finished (completed or dead) in [start, end); PostgreSQL only."""
    if connection.dialect.name != "postgresql":
        return {}
    bounds = {"start": start, "end": end}
    found: dict[tuple[str, datetime], Figures] = {}
    for row in connection.execute(text(_COUNTS_SQL), bounds).mappings():
        found[(row["queue"], _utc(row["minute"]))] = Figures(
            completed=row["completed"],
            dead=row["dead"],
            timed=row["timed"],
            total_ms=float(row["total_ms"]),
            max_ms=row["max_ms"],
            p95_ms=row["p95_ms"],
        )
    for queue, minute, bucket, count in connection.execute(text(_HISTOGRAM_SQL), bounds):
        found[(queue, _utc(minute))].histogram[int(bucket)] = int(count)
    return found


def _row(resolution: str, bucket: datetime, queue: str, figures: Figures) -> dict[str, Any]:
    return {
        "resolution": resolution,
        "bucket_start": bucket,
        "queue": queue,
        "completed": figures.completed,
        "retried": figures.retried,
        "dead": figures.dead,
        "timed": figures.timed,
        "total_ms": figures.total_ms,
        "max_ms": figures.max_ms,
        "p95_ms": figures.p95_ms,
        "histogram": {str(index): count for index, count in sorted(figures.histogram.items())},
        "depth": figures.depth,
        "delayed": figures.delayed,
        "dead_letters": figures.dead_letters,
        "sampled_at": figures.sampled_at,
    }


_FIGURES = ("completed", "retried", "dead", "timed", "total_ms", "max_ms", "p95_ms", "histogram")
_SAMPLE = ("depth", "delayed", "dead_letters", "sampled_at")


def _upsert(connection: Connection, rows: list[dict[str, Any]], *, keep_samples: bool) -> None:
    """Insert or replace rows, in key order (two roll-ups at once take the same locks in the same order).

    With `keep_samples` a row written without a sample keeps the one it has."""
    if not rows:
        return
    rows.sort(key=lambda row: (row["resolution"], row["bucket_start"], row["queue"]))
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(HISTORY).values({name: bindparam(name) for name in rows[0]})
    new = statement.excluded
    updates: dict[str, Any] = {name: new[name] for name in _FIGURES}
    for name in _SAMPLE:
        updates[name] = func.coalesce(new[name], HISTORY.c[name]) if keep_samples else new[name]
    updates["rolled_at"] = func.now()
    key = ["resolution", "bucket_start", "queue"]
    connection.execute(statement.on_conflict_do_update(index_elements=key, set_=updates), rows)


def roll_up(
    connection: Connection,
    start: datetime,
    end: datetime,
    *,
    retried: Mapping[tuple[str, datetime], int] | None = None,
    depths: Mapping[str, Depth] | None = None,
    sampled_at: datetime | None = None,
) -> dict[str, int]:
    """Write the minute rows of [start, end) (whole minutes) and the hour rows those minutes fall in.

    `retried` holds the attempts to retry per (queue, minute); `depths` the broker's counts sampled
    at `sampled_at`, kept on the minute before the sample's (which must lie in the span). A queue
    gets a row for each minute where it has a figure or a sample; a row of the span whose figures
    are gone (its job records cleaned) is zeroed and keeps its sample."""
    start, end = floor_minute(start), floor_minute(end)
    figures = finished_figures(connection, start, end)
    for (queue, minute), count in (retried or {}).items():
        if start <= _utc(minute) < end and count:
            figures.setdefault((queue, _utc(minute)), Figures()).retried = int(count)
    if depths and sampled_at is not None:
        minute = floor_minute(sampled_at) - MINUTE
        for queue, depth in depths.items():
            figures.setdefault((queue, minute), Figures()).sample(depth, _utc(sampled_at))
    existing = connection.execute(
        select(HISTORY.c.bucket_start, HISTORY.c.queue).where(
            HISTORY.c.resolution == "minute", HISTORY.c.bucket_start >= start, HISTORY.c.bucket_start < end
        )
    ).all()
    gone = [_row("minute", _utc(at), queue, Figures()) for at, queue in existing if (queue, _utc(at)) not in figures]
    rows = [_row("minute", minute, queue, entry) for (queue, minute), entry in figures.items()]
    _upsert(connection, rows + gone, keep_samples=True)
    hours = sorted({floor_hour(start + i * MINUTE) for i in range(int((end - start) / MINUTE))})
    return {"minutes": len(rows), "hours": roll_hours(connection, hours)}


def roll_hours(connection: Connection, hours: Sequence[datetime]) -> int:
    """Make the hour rows of `hours` from their minute rows; returns how many were written."""
    parts: dict[tuple[datetime, str], list[Figures]] = {}
    for hour in hours:
        query = (
            select(HISTORY)
            .where(
                HISTORY.c.resolution == "minute", HISTORY.c.bucket_start >= hour, HISTORY.c.bucket_start < hour + HOUR
            )
            .order_by(HISTORY.c.queue, HISTORY.c.bucket_start)
        )
        for row in connection.execute(query).mappings():
            parts.setdefault((hour, row["queue"]), []).append(Figures.from_row(dict(row)))
    rows = [_row("hour", hour, queue, combine(minutes)) for (hour, queue), minutes in parts.items()]
    _upsert(connection, rows, keep_samples=False)
    return len(rows)


def last_minute(connection: Connection) -> datetime | None:
    """The newest minute rolled up so far."""
    found = connection.execute(select(func.max(HISTORY.c.bucket_start)).where(HISTORY.c.resolution == "minute"))
    newest = found.scalar()
    return _utc(newest) if newest is not None else None


def prune(connection: Connection, now: datetime) -> int:
    """Drop minute rows older than MINUTE_RETENTION and hour rows older than HOUR_RETENTION."""
    removed = 0
    for resolution, keep in (("minute", MINUTE_RETENTION), ("hour", HOUR_RETENTION)):
        statement = delete(HISTORY).where(HISTORY.c.resolution == resolution, HISTORY.c.bucket_start < now - keep)
        removed += connection.execute(statement).rowcount
    return removed


def history(connection: Connection, span: Span, start: datetime, queues: Sequence[str]) -> dict[str, Any]:
    """The API's answer for a range starting at `start` (`history_figures.window`): points per queue and summed."""
    end = start + span.points * span.step
    query = (
        select(HISTORY)
        .where(
            HISTORY.c.resolution == span.resolution,
            HISTORY.c.bucket_start >= start,
            HISTORY.c.bucket_start < end,
            HISTORY.c.queue.in_(list(queues)),
        )
        .order_by(HISTORY.c.bucket_start)
    )
    rows = [{**row, "bucket_start": _utc(row["bucket_start"])} for row in connection.execute(query).mappings()]
    return series(span, start, rows, queues)
