"""A CRITICAL job behind 1,000 LOW ones: how many LOW jobs start between its send and its start.

One worker process with one thread (`dramatiq bench.full_app --processes 1 --threads 1`) and
jobs of 5 ms (a short real job: with no-op jobs the count would measure how many jobs fit in
the wake-up's few milliseconds, not the order). The start times come from the job store.
"Next job" is 0: the CRITICAL job starts when the LOW job running at its send ends. Bare
Dramatiq has no per-message priority: its Redis queue is first in, first out, so there the
CRITICAL job waits for every job queued before it (the anchor figure is that count, read from
Redis when the job is sent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from sqlalchemy import text

from bench.workers import dramatiq_worker

#: Milliseconds each job takes.
JOB_MS = 5


@dataclass
class PriorityRun:
    overtaken_by: int
    waiting_at_send: int
    #: Milliseconds from the CRITICAL job's send to its start.
    start_ms: float


def run_once(redis_url: str, env: dict[str, str], low_jobs: int = 1000) -> PriorityRun:
    from bench.full_app import short_job
    from brokers.redis_keys import lane_key
    from core.payloads import Priority
    from db.engine import get_engine
    from runtime.store_buffer import get_buffer

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE queue = 'bench-priority'"))
    short_job.send_many([{"ms": JOB_MS}] * low_jobs, priority=Priority.LOW)
    get_buffer().flush()
    with dramatiq_worker("bench.full_app", 1, 1, env):
        deadline = time.monotonic() + 60
        low_lane = lane_key("dramatiq", "bench-priority", Priority.LOW)
        while client.llen(low_lane) > low_jobs - 100 and time.monotonic() < deadline:
            time.sleep(0.005)
        waiting = int(client.hlen("dramatiq:bench-priority.msgs"))
        critical = short_job.send_with_options(kwargs={"ms": JOB_MS}, priority=Priority.CRITICAL)
        get_buffer().flush()
        while time.monotonic() < deadline:
            with get_engine().connect() as connection:
                state = connection.execute(
                    text("SELECT state FROM jobs WHERE id = :id"), {"id": critical.message_id}
                ).scalar_one_or_none()
            if state == "completed":
                break
            time.sleep(0.05)
    with get_engine().connect() as connection:
        overtaken, start_ms = connection.execute(
            text(
                "SELECT count(j.id), 1000 * extract(epoch FROM c.started_at - c.enqueued_at) FROM jobs c"
                " LEFT JOIN jobs j ON j.queue = 'bench-priority' AND j.id <> c.id"
                " AND j.started_at >= c.enqueued_at AND j.started_at < c.started_at"
                " WHERE c.id = :id GROUP BY c.started_at, c.enqueued_at"
            ),
            {"id": critical.message_id},
        ).one()
    return PriorityRun(overtaken_by=int(overtaken), waiting_at_send=waiting, start_ms=float(start_ms))
