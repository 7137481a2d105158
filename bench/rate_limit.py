"""The rate limit over two worker processes: starts per window against the limit, nothing dead.

`bench` gets a limit of 100 starts per 1-second window (`QUEUES__BENCH__RATE_LIMIT=100`); 600
no-op jobs go to `dramatiq bench.full_app --processes 2 --threads 8`, which could run thousands
a second. The figure is the most starts the job store saw in any whole second, and how long
the 600 took (at least 5 s when the limit holds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from sqlalchemy import text

from bench.workers import dramatiq_worker

LIMIT = 100
JOBS = 600


@dataclass
class RateRun:
    most_per_window: int
    seconds: float
    dead: int
    attempts_max: int


def run_once(redis_url: str, env: dict[str, str]) -> RateRun:
    from bench.full_app import noop
    from db.engine import get_engine
    from runtime.store_buffer import get_buffer

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE queue = 'bench'"))
    for n in range(JOBS):
        noop.send(n=n)
    get_buffer().flush()
    worker_env = {**env, "QUEUES__BENCH__RATE_LIMIT": str(LIMIT), "QUEUES__BENCH__RATE_WINDOW": "1"}
    with dramatiq_worker("bench.full_app", 2, 8, worker_env):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with get_engine().connect() as connection:
                finished = connection.execute(
                    text("SELECT count(*) FROM jobs WHERE queue = 'bench' AND state IN ('completed', 'dead')")
                ).scalar_one()
            if finished >= JOBS:
                break
            time.sleep(0.2)
    with get_engine().connect() as connection:
        row = connection.execute(
            text(
                "SELECT max(n), (SELECT extract(epoch FROM max(started_at) - min(started_at)) FROM jobs"
                "  WHERE queue = 'bench'),"
                " (SELECT count(*) FROM jobs WHERE queue = 'bench' AND state = 'dead'),"
                " (SELECT max(attempts) FROM jobs WHERE queue = 'bench')"
                " FROM (SELECT date_trunc('second', started_at) AS s, count(*) AS n FROM jobs"
                "       WHERE queue = 'bench' GROUP BY 1) per_second"
            )
        ).one()
    return RateRun(most_per_window=int(row[0]), seconds=float(row[1]), dead=int(row[2]), attempts_max=int(row[3]))
