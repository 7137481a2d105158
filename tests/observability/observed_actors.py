"""Actors for the observability tests, on queue `test-observability`."""

from __future__ import annotations

import logging
import os
import time

import redis

from actors._base import job_actor
from core.payloads import JobPayload, PermanentJobError

logger = logging.getLogger("adjobs.tests.observed")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


class SecretRequest(JobPayload):
    key: str
    api_token: str
    password: str
    fail_times: int = 99


@job_actor(queue="test-observability", payload=SecretRequest)
def leaky(request: SecretRequest) -> int:
    """Fails its first `fail_times` attempts; its payload holds secrets that must never reach Sentry."""
    api_token = request.api_token  # a local variable Sentry would otherwise send with the frame
    attempt = int(_redis().incr(f"leaky:{request.key}"))
    if attempt <= request.fail_times:
        raise RuntimeError(f"leaky failure {attempt} (token length {len(api_token)})")
    return attempt


@job_actor(queue="test-observability", payload=SecretRequest)
def refuses_secretly(request: SecretRequest) -> None:
    raise PermanentJobError(f"refuses_secretly: {request.key} can never succeed")


class ChattyRequest(JobPayload):
    lines: int = 3
    fail: bool = False


@job_actor(queue="test-observability", payload=ChattyRequest, max_retries=0)
def chatty(request: ChattyRequest) -> int:
    for line in range(request.lines):
        logger.info("chatty line %d", line, extra={"line": line})
    if request.fail:
        raise RuntimeError("chatty failed on purpose")
    return request.lines


class NapRequest(JobPayload):
    key: str
    seconds: float


@job_actor(queue="test-observability", payload=NapRequest)
def nap(request: NapRequest) -> str:
    """Sleeps, counting its starts in Redis under `naps:<key>` (a job started twice shows up)."""
    _redis().hincrby("naps", request.key, 1)
    time.sleep(request.seconds)
    return request.key
