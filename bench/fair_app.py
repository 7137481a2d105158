"""The jobs of `bench.fairness`: export-like jobs of a publisher, and no-op jobs with and without a tenant."""

from __future__ import annotations

import os
import time

import redis

from actors._base import job_actor
from core.payloads import JobPayload

_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


class ExportLikeRequest(JobPayload):
    publisher_id: str
    ms: int


@job_actor(queue="bench-fair", payload=ExportLikeRequest, tenant_field="publisher_id")
def export_like(request: ExportLikeRequest) -> None:
    """Records `<publisher>:<start>` (Redis server clock), then waits `ms` like a small export."""
    seconds, micros = _redis.time()
    _redis.rpush("bench:fair:starts", f"{request.publisher_id}:{seconds + micros / 1e6}")
    time.sleep(request.ms / 1000)


class NoopRequest(JobPayload):
    publisher_id: str
    n: int


@job_actor(queue="bench-fair-noop", payload=NoopRequest, tenant_field="publisher_id")
def noop_tenant(request: NoopRequest) -> None:
    return None


@job_actor(queue="bench-fair-noop", payload=NoopRequest)
def noop_shared(request: NoopRequest) -> None:
    return None
