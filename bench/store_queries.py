"""Queue metrics and job lookup by id with 10 million job records in the store.

The records are made once, in a database of their own (`adjobs_bench_store`, so the other
benchmarks write to a small store), across ten queues and every state, and kept between runs:
the first `make bench` spends several minutes making them. Against them it times the API's
queue metrics (`control.service.queue_metrics()`: counts by queue and state from the store,
plus Redis) and the API's job lookup (what `control.service.get_job()` runs: the record by
primary key on a pooled autocommit connection, shaped for the API), 50 calls each, warm.

    python -m bench.store_queries     (DATABASE_URL: the store database; prints JSON)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

RECORDS = 10_000_000
QUEUES = 10
SEED = """
INSERT INTO jobs (id, queue, actor, state, seq, priority, payload, attempts, max_attempts, progress,
                  enqueued_at, started_at, finished_at, duration_ms, updated_at)
SELECT md5(i::text)::uuid::text, 'bench-store-' || (i % {queues}), 'noop',
       (ARRAY['completed','completed','completed','completed','completed','completed','dead','failed',
              'waiting','delayed'])[1 + i % 10],
       0, 5, jsonb_build_object('n', i), 1, 3, 100,
       now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval,
       now() - (i || ' seconds')::interval, 1.0, now()
FROM generate_series({start}, {end}) AS i
"""


def ensure_records() -> int:
    """Make the 10 M records unless they are there; returns how many there are."""
    from db.engine import get_engine

    with get_engine().connect() as connection:
        have = connection.execute(
            text("SELECT coalesce(sum(n), 0) FROM job_counts WHERE queue LIKE 'bench-store-%'")
        ).scalar_one()
    if int(have) >= RECORDS:
        return int(have)
    started = time.perf_counter()
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE queue LIKE 'bench-store-%'"))
        # Loading 10 M rows into five B-trees (one keyed by random ids) is most of the cost:
        # the indexes go while the rows load and are built again at the end, each in one
        # sorted pass. They are read from the catalogue, so they are the migrations' own.
        indexes = _drop_indexes(connection)
    step = 1_000_000

    def load(start: int) -> None:
        with get_engine().begin() as connection:
            connection.execute(text(SEED.format(queues=QUEUES, start=start, end=start + step - 1)))
        print(f"job records: {start + step:,} from {start:,}", flush=True)

    with ThreadPoolExecutor(max_workers=2) as pool:  # two server processes: the load is CPU-bound there
        list(pool.map(load, range(0, RECORDS, step)))
    with get_engine().begin() as connection:
        connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for statement in indexes:
            connection.execute(text(statement))
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE jobs"))
    print(f"job records made in {time.perf_counter() - started:.0f} s", flush=True)
    return RECORDS


def _drop_indexes(connection) -> list[str]:  # type: ignore[no-untyped-def]
    """Drop the primary key and indexes of `jobs`; returns the statements that make them again."""
    constraints = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'jobs'::regclass AND contype = 'p'"
        )
    ).all()
    indexes = connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'jobs'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'jobs'::regclass)"
        )
    ).all()
    remake = []
    for name, definition in constraints:
        connection.execute(text(f'ALTER TABLE jobs DROP CONSTRAINT "{name}"'))
        remake.append(f'ALTER TABLE jobs ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        connection.execute(text(f'DROP INDEX "{name}"'))
        remake.append(definition)
    return remake


def timings(calls: int = 50) -> dict[str, float]:
    """Median and max milliseconds of queue metrics and of a lookup by id."""
    from control.service import job_view, queue_metrics
    from db import jobstore
    from db.engine import read_connection
    from observability.queue_state import broker

    for q in range(QUEUES):  # the API shows queues named in code only: these are the benchmark's own
        broker().declare_queue(f"bench-store-{q}")
    metrics_ms, lookup_ms = [], []
    queue_metrics()  # warm: connections, the broker
    for i in range(200):  # warm, as a running API is: the pool, the prepared statement, the index's upper levels
        with read_connection() as connection:
            jobstore.get_job(connection, _id_of(RECORDS - 1 - i * 7919 % RECORDS))
    for i in range(calls):
        started = time.perf_counter()
        counts = queue_metrics()
        metrics_ms.append((time.perf_counter() - started) * 1000)
        assert sum(counts.get(f"bench-store-{q}", {}).get("completed", 0) for q in range(QUEUES)) >= RECORDS * 0.6
        n = i * 104729 % RECORDS
        wanted = _id_of(n)
        started = time.perf_counter()
        with read_connection() as connection:
            job = job_view(jobstore.get_job(connection, wanted))
        lookup_ms.append((time.perf_counter() - started) * 1000)
        assert job["id"] == wanted and job["queueName"] == f"bench-store-{n % QUEUES}", job
    return {
        "metrics_median": statistics.median(metrics_ms),
        "metrics_max": max(metrics_ms),
        "lookup_median": statistics.median(lookup_ms),
        "lookup_max": max(lookup_ms),
    }


def _id_of(i: int) -> str:
    import hashlib

    return str(uuid.UUID(hashlib.md5(str(i).encode()).hexdigest()))  # the seed's md5(i)::uuid


def store_url(bench_url: str) -> str:
    """The store benchmark's database, beside the bench database."""
    return bench_url.rsplit("/", 1)[0] + "/adjobs_bench_store"


def main() -> int:
    import os

    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    from db.migrate import upgrade

    upgrade()
    records = ensure_records()
    print(json.dumps({"records": records, **timings()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
