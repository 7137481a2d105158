"""Queue metrics and job lookup by id with 10 million job records in the store.

The records are made once, in a database of their own (`adjobs_bench_store`, so the other
benchmarks write to a small store), across ten queues and every state, and kept between runs:
the first `make bench` spends several minutes making them. Against them it times the API's
queue metrics (`control.service.queue_metrics()`: counts by queue and state from the store,
plus Redis) and `jobstore.get_job()` by primary key, 50 calls each, warm.

    python -m bench.store_queries     (DATABASE_URL: the store database; prints JSON)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid

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
    step = 1_000_000
    for start in range(0, RECORDS, step):
        with get_engine().begin() as connection:
            connection.execute(text(SEED.format(queues=QUEUES, start=start, end=start + step - 1)))
        print(f"job records: {start + step:,} of {RECORDS:,}", flush=True)
    with get_engine().begin() as connection:
        connection.execute(text("ANALYZE jobs"))
    print(f"job records made in {time.perf_counter() - started:.0f} s", flush=True)
    return RECORDS


def timings(calls: int = 50) -> dict[str, float]:
    """Median and max milliseconds of queue metrics and of a lookup by id."""
    from control.service import queue_metrics
    from db import jobstore
    from db.engine import get_engine

    metrics_ms, lookup_ms = [], []
    queue_metrics()  # warm: connections, the broker
    for i in range(calls):
        started = time.perf_counter()
        counts = queue_metrics()
        metrics_ms.append((time.perf_counter() - started) * 1000)
        assert sum(counts.get(f"bench-store-{q}", {}).get("completed", 0) for q in range(QUEUES)) >= RECORDS * 0.6
        wanted = _id_of(i * 104729 % RECORDS)
        started = time.perf_counter()
        with get_engine().connect() as connection:
            row = jobstore.get_job(connection, wanted)
        lookup_ms.append((time.perf_counter() - started) * 1000)
        assert row is not None and row["id"] == wanted
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
