"""Actors for tests of the machinery (retries, the store, workers) on queue `test-jobs`."""

from __future__ import annotations

import os

import redis

from actors._base import job_actor
from core.payloads import JobPayload, PermanentJobError


class EchoRequest(JobPayload):
    value: int
    label: str = "x"


class FlakyRequest(JobPayload):
    key: str
    fail_times: int = 0


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@job_actor(queue="test-jobs", payload=EchoRequest)
def echo(request: EchoRequest) -> dict[str, object]:
    return {"value": request.value, "label": request.label}


@job_actor(queue="test-jobs", payload=FlakyRequest)
def flaky(request: FlakyRequest) -> int:
    """Fails its first `fail_times` attempts, counting attempts in Redis under `key`."""
    attempt = int(_redis().incr(f"flaky:{request.key}"))
    if attempt <= request.fail_times:
        raise RuntimeError(f"flaky failure {attempt} of {request.fail_times}")
    return attempt


@job_actor(queue="test-jobs", payload=FlakyRequest)
def refuses(request: FlakyRequest) -> None:
    raise PermanentJobError(f"refuses: {request.key} can never succeed")


class SlowRequest(JobPayload):
    key: str
    steps: int = 4
    step_seconds: float = 0.3


@job_actor(queue="test-jobs", payload=SlowRequest)
def slow_steps(request: SlowRequest) -> int:
    """Reports progress after each step, so tests can watch it move while the job runs."""
    import time

    from actors.progress import report_progress

    for step in range(1, request.steps + 1):
        time.sleep(request.step_seconds)
        report_progress(100 * step / request.steps)
    return request.steps


class ProbeRequest(JobPayload):
    key: str
    seconds: float = 0.0


@job_actor(queue="limits-probe", payload=ProbeRequest)
def probe(request: ProbeRequest) -> None:
    """Records its start and end times (Redis server clock) under `key`, sleeping in between."""
    import time

    client = _redis()
    seconds, micros = client.time()
    started = seconds + micros / 1e6
    time.sleep(request.seconds)
    seconds, micros = client.time()
    client.rpush(request.key, f"{started}:{seconds + micros / 1e6}")
