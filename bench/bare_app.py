"""The anchor: bare Dramatiq with its default middleware on the same Redis, and a no-op actor."""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"])
dramatiq.set_broker(broker)
_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop(n: int) -> None:
    return None


@dramatiq.actor(queue_name="bench-latency", max_retries=0)
def stamp(sent_at: float, key: str) -> None:
    """Records how long after its `send()` it started (latency benchmark)."""
    _redis.rpush(key, time.time() - sent_at)


@dramatiq.actor(queue_name="bench-io", max_retries=0)
def wait_io(ms: int) -> None:
    """Waits like a job waiting on a remote service (scaling benchmark)."""
    time.sleep(ms / 1000)
