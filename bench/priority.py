"""A CRITICAL job behind 1,000 LOW ones: how many LOW jobs start between its send and its start.

One worker process with one thread (`dramatiq bench.full_app --processes 1 --threads 1`); the
start times come from the job store. Bare Dramatiq has no per-message priority: its Redis
queue is first in, first out, so there the CRITICAL job waits for every job queued before it
(the anchor figure is that count, read from Redis when the job is sent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from sqlalchemy import text

from bench.workers import dramatiq_worker


@dataclass
class PriorityRun:
    overtaken_by: int
    waiting_at_send: int


def run_once(redis_url: str, env: dict[str, str], low_jobs: int = 1000) -> PriorityRun:
    from actors._base import Priority
    from bench.full_app import noop
    from db.engine import get_engine
    from db.store_buffer import get_buffer

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE queue = 'bench'"))
    for n in range(low_jobs):
        noop.send_with_options(kwargs={"n": n}, priority=Priority.LOW)
    get_buffer().flush()
    with dramatiq_worker("bench.full_app", 1, 1, env):
        deadline = time.monotonic() + 60
        while client.hlen("dramatiq:bench.msgs") > low_jobs - 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        waiting = int(client.hlen("dramatiq:bench.msgs"))
        critical = noop.send_with_options(kwargs={"n": -1}, priority=Priority.CRITICAL)
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
        overtaken = connection.execute(
            text(
                "SELECT count(*) FROM jobs j, jobs c WHERE c.id = :id AND j.queue = 'bench' AND j.id <> c.id"
                " AND j.started_at >= c.enqueued_at AND j.started_at < c.started_at"
            ),
            {"id": critical.message_id},
        ).scalar_one()
    return PriorityRun(overtaken_by=int(overtaken), waiting_at_send=waiting)
