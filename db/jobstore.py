"""SQL of the job store: the batched upsert the writer flushes, and the reads operators use.

Events of one job may reach the database out of order (the producer's `waiting` can land
after the worker's `completed`), so every row carries `seq` = attempt * 5 + phase and the
upsert lets a newer event win state-bearing columns while first-seen columns stay put: the
rule of `db.store_order` (`seq_for`, `merge_events`), named here too for the store's callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, bindparam, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from db.models import JobRecord
from db.store_order import (  # noqa: F401  (the rule's names, read here by the store's callers)
    CANCELLED_SEQ,
    FINAL_STATES,
    FIRST_SEEN,
    HOLDS,
    PHASE,
    PHASES,
    REPLACED,
    STATES,
    STICKY,
    merge_events,
    seq_for,
)
from db.store_records import json_bytes

COLUMNS = (
    "id",
    "queue",
    "actor",
    "state",
    "seq",
    "priority",
    "payload",
    "attempts",
    "max_attempts",
    "enqueued_at",
    "run_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "progress",
    "error",
    "traceback",
    "result",
    "dedupe_key",
    "retry_of",
    "pipeline_id",
    "worker",
    "broker_ref",
)


def _insert_for(connection: Connection):  # type: ignore[no-untyped-def]
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _upsert_statement(connection: Connection) -> Any:
    table = JobRecord.__table__
    stmt = _insert_for(connection)(table).values({column: bindparam(column) for column in COLUMNS})
    new = stmt.excluded
    newer = new.seq >= table.c.seq
    updates: dict[str, Any] = {
        "seq": case((newer, new.seq), else_=table.c.seq),
        "attempts": case((new.attempts > table.c.attempts, new.attempts), else_=table.c.attempts),
        "enqueued_at": func.coalesce(table.c.enqueued_at, new.enqueued_at),
        "updated_at": func.now(),
    }
    for column in FIRST_SEEN:
        updates[column] = func.coalesce(table.c[column], new[column])
    for column in STICKY:
        # An older event arriving late (a producer's `waiting` after a worker's `active`) fills gaps only.
        updates[column] = case(
            (newer, func.coalesce(new[column], table.c[column])), else_=func.coalesce(table.c[column], new[column])
        )
    for column in REPLACED:
        updates[column] = case((newer, new[column]), else_=table.c[column])
    return stmt.on_conflict_do_update(index_elements=[table.c.id], set_=updates)


#: The upsert compiled once per process for PostgreSQL: batches go to psycopg as they are.
_PG_UPSERT: str | None = None
JSON_COLUMNS = ("payload", "result")


def upsert_jobs(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write a batch of coalesced job rows (one per id) in one statement.

    JSON columns are encoded by orjson (`store_records.json_bytes`), the encoding the record
    checks made sure each value takes; on SQLite they pass through it too, so both stores
    hold the same JSON.
    """
    global _PG_UPSERT
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        params = []
        for row in rows:
            values = {column: row.get(column) for column in COLUMNS}
            for column in JSON_COLUMNS:
                if values[column] is not None:
                    values[column] = orjson.loads(json_bytes(values[column]))
            params.append(values)
        connection.execute(_upsert_statement(connection), params)
        return
    if _PG_UPSERT is None:
        _PG_UPSERT = str(_upsert_statement(connection).compile(dialect=connection.dialect))
    params = []
    for row in rows:
        values = {column: row.get(column) for column in COLUMNS}
        for column in JSON_COLUMNS:
            if values[column] is not None:
                values[column] = Jsonb(values[column], json_bytes)
        params.append(values)
    connection.exec_driver_sql(_PG_UPSERT, params)


#: The lookup by id on PostgreSQL, prepared once per connection (its columns named, so a
#: later migration that adds one cannot change a prepared statement's result type).
GET_JOB_SQL = "SELECT {} FROM jobs WHERE id = %s".format(", ".join(c.name for c in JobRecord.__table__.columns))


def get_job(connection: Connection, job_id: str) -> dict[str, Any] | None:
    """A job's record by id. On PostgreSQL a prepared statement on the driver's connection:
    the API's most frequent read, at a third of the time of the same SELECT through
    SQLAlchemy's statement and result layers (BENCHMARKS.md)."""
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor(row_factory=dict_row) as cursor:  # type: ignore[union-attr]
            return cursor.execute(GET_JOB_SQL, (job_id,), prepare=True).fetchone()
    row = connection.execute(select(JobRecord.__table__).where(JobRecord.id == job_id)).mappings().first()
    return dict(row) if row else None


def list_jobs(
    connection: Connection,
    *,
    queue: str | None = None,
    states: Iterable[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    table = JobRecord.__table__
    query = select(table)
    if queue is not None:
        query = query.where(table.c.queue == queue)
    if states is not None:
        query = query.where(table.c.state.in_(list(states)))
    # The order of every listing (`db.job_search.ORDER`): newest first, ties broken by id.
    query = query.order_by(table.c.enqueued_at.desc().nulls_last(), table.c.id.desc()).limit(limit).offset(offset)
    return [dict(row) for row in connection.execute(query).mappings()]


def count_by_state(connection: Connection, queue: str | None = None) -> dict[str, dict[str, int]]:
    """{queue: {state: count}} over the store.

    On PostgreSQL from `job_counts`, which triggers keep in step with `jobs` (migration 0006):
    a few rows whatever the store's size. Elsewhere (SQLite) a GROUP BY over `jobs`.
    """
    if connection.dialect.name == "postgresql":
        sql = "SELECT queue, state, n FROM job_counts WHERE n <> 0"
        params: dict[str, Any] = {}
        if queue is not None:
            sql += " AND queue = %(queue)s"
            params["queue"] = queue
        rows = connection.exec_driver_sql(sql, params).all()
    else:
        table = JobRecord.__table__
        query = select(table.c.queue, table.c.state, func.count()).group_by(table.c.queue, table.c.state)
        if queue is not None:
            query = query.where(table.c.queue == queue)
        rows = connection.execute(query).all()
    counts: dict[str, dict[str, int]] = {}
    for queue_name, state, count in rows:
        counts.setdefault(queue_name, dict.fromkeys(STATES, 0))[state] = int(count)
    return counts


def finished_between(connection: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    table = JobRecord.__table__
    query = select(table).where(table.c.finished_at >= start, table.c.finished_at < end)
    return [dict(row) for row in connection.execute(query).mappings()]
