"""Actors for tests of tenants: turns between tenants and limits per tenant, on queue `tenant-probe`."""

from __future__ import annotations

import os
import time

import redis

from actors._base import job_actor
from core.payloads import JobPayload


class TenantProbeRequest(JobPayload):
    publisher_id: str
    key: str
    seconds: float = 0.0


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def _now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


@job_actor(queue="tenant-probe", payload=TenantProbeRequest, tenant_field="publisher_id")
def tenant_probe(request: TenantProbeRequest) -> None:
    """Records `<publisher>:<start>:<end>` (Redis server clock) under `key`, sleeping in between."""
    client = _redis()
    started = _now(client)
    time.sleep(request.seconds)
    client.rpush(request.key, f"{request.publisher_id}:{started}:{_now(client)}")


def starts(client: redis.Redis, key: str) -> list[tuple[str, float, float]]:
    """(tenant, start, end) of every job recorded under `key`, in order of start."""
    rows = []
    for item in client.lrange(key, 0, -1):
        tenant, start, end = item.decode().rsplit(":", 2)
        rows.append((tenant, float(start), float(end)))
    return sorted(rows, key=lambda row: row[1])
