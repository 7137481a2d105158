"""The anchor: bare Dramatiq with its default middleware on the same Redis: a no-op job, a job that makes one
Redis round trip and one that sleeps 1 ms, all on queue `bench`."""

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


@dramatiq.actor(queue_name="bench", max_retries=0)
def incr(n: int) -> None:
    """One Redis round trip, like a job that touches a cache."""
    _redis.incr("bench:incr")


@dramatiq.actor(queue_name="bench", max_retries=0)
def nap(n: int) -> None:
    """Waits 1 ms, like a job waiting on a quick remote call."""
    time.sleep(0.001)


@dramatiq.actor(queue_name="bench-latency", max_retries=0)
def stamp(sent_at: float, key: str) -> None:
    """Records how long after its `send()` it started (latency benchmark)."""
    _redis.rpush(key, time.time() - sent_at)


@dramatiq.actor(queue_name="bench-io", max_retries=0)
def wait_io(ms: int) -> None:
    """Waits like a job waiting on a remote service (scaling benchmark)."""
    time.sleep(ms / 1000)
