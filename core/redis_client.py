"""This process's Redis client for the project's own keys, with short timeouts so checks never hang.

The one client of the runtime state (flags, heartbeats, the metrics recorder), the schedule
state, the alerts and `/health`. Made on first use and never inherited across a fork. Keys live
under `adjobs:` in REDIS_URL's database; the broker's own keys are the broker's business
(`brokers/`), read through its methods.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis

from settings import get_settings

PREFIX = "adjobs:"

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid: int | None = None


def client() -> Any:
    """A `redis.Redis` whose replies are bytes (typed Any: redis-py's stubs cannot say which)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        with _lock:
            if _client is None or _client_pid != os.getpid():
                settings = get_settings()
                _client = redis.Redis.from_url(
                    settings.effective_redis_url,
                    socket_connect_timeout=settings.health_timeout,
                    socket_timeout=max(settings.health_timeout, 5.0),
                )
                _client_pid = os.getpid()
    return _client


def forget() -> None:
    """Drop the client (tests that change REDIS_URL)."""
    global _client
    with _lock:
        _client = None
