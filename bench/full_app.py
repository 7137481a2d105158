"""Our full stack (every middleware, the job store) with the jobs of `bench.bare_app` on queue `bench`."""

from __future__ import annotations

import os
import time

import redis

import actors.catalog  # noqa: F401  (registers every actor on the process's broker)
from actors._base import job_actor
from core.payloads import JobPayload


class NoopRequest(JobPayload):
    n: int


_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@job_actor(queue="bench", payload=NoopRequest)
def noop(request: NoopRequest) -> None:
    return None


@job_actor(queue="bench", payload=NoopRequest)
def incr(request: NoopRequest) -> None:
    """One Redis round trip, like a job that touches a cache."""
    _redis.incr("bench:incr")


@job_actor(queue="bench", payload=NoopRequest)
def nap(request: NoopRequest) -> None:
    """Waits 1 ms, like a job waiting on a quick remote call."""
    time.sleep(0.001)


class StampRequest(JobPayload):
    sent_at: float
    key: str


@job_actor(queue="bench-latency", payload=StampRequest)
def stamp(request: StampRequest) -> None:
    """Records how long after its `send()` it started (latency benchmark)."""
    _redis.rpush(request.key, time.time() - request.sent_at)


class WaitRequest(JobPayload):
    ms: int


@job_actor(queue="bench-io", payload=WaitRequest)
def wait_io(request: WaitRequest) -> None:
    """Waits like a job waiting on a remote service (scaling benchmark)."""
    time.sleep(request.ms / 1000)


@job_actor(queue="bench-priority", payload=WaitRequest)
def short_job(request: WaitRequest) -> None:
    """A short job of `ms` milliseconds (priority benchmark)."""
    time.sleep(request.ms / 1000)
