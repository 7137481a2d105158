"""This process's Redis client for the project's own keys, with short timeouts so checks never hang.

The one client of the runtime state (flags, heartbeats, the metrics recorder), the schedule
state, the alerts and `/health`. Made on first use and never inherited across a fork. Keys live
under `adjobs:` in REDIS_URL's database; the broker's own keys are the broker's business
(`brokers/`), read through its methods.

`connect(url)` makes every other Redis client of the project (the broker's, the result and
rate-limit backends', the cache's, the outage probe's): a plain client of `url`, or with
REDIS_SENTINELS set, a client of the primary the Sentinels name (`core.redis_sentinel`), which
follows a failover without a restart. Its connections notice a lost host (one that sends no
reset: powered off, cut from the network) in about half a minute rather than TCP's quarter of an
hour: a connect gives up after `CONNECT_TIMEOUT`, TCP keepalive probes an idle or waiting
connection, unacknowledged writes fail after `UNACKED_TIMEOUT_MS`, and a connection idle for
`HEALTH_CHECK_INTERVAL` is pinged before use. No reply timeout is set by default (a blocking read
such as a result's wait must not be cut short); callers that want one pass `socket_timeout`. A
lost host so raises redis-py's `TimeoutError` as well as its `ConnectionError`.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import redis

from core.redis_sentinel import master_client
from settings import get_settings

PREFIX = "adjobs:"
#: Seconds a new connection may take before it fails (redis-py raises `TimeoutError`).
CONNECT_TIMEOUT = 5.0
#: Seconds a connection may sit unused before it is pinged on its next use.
HEALTH_CHECK_INTERVAL = 30
#: TCP keepalive: probes after 10 s of silence, every 5 s, 3 unanswered ones close the connection.
KEEPALIVE = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
#: Milliseconds sent data may stay unacknowledged before the connection fails (Linux TCP_USER_TIMEOUT).
UNACKED_TIMEOUT_MS = 30_000

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
                _client = connect(
                    settings.effective_redis_url,
                    socket_connect_timeout=settings.health_timeout,
                    socket_timeout=max(settings.health_timeout, 5.0),
                )
                _client_pid = os.getpid()
    return _client


def connect(url: str, **kwargs: Any) -> Any:
    """A new `redis.Redis` for `url` (`kwargs`: redis-py connection options over the defaults above); through
    the Sentinels when set."""
    kwargs.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    kwargs.setdefault("health_check_interval", HEALTH_CHECK_INTERVAL)
    if not url.startswith("unix://"):  # a Unix socket has no TCP options
        kwargs.setdefault("socket_keepalive", True)
        kwargs.setdefault("socket_keepalive_options", keepalive_options())
    settings = get_settings()
    if settings.redis_sentinels:
        return master_client(settings, url, **kwargs)
    return redis.Redis.from_url(url, **kwargs)


def keepalive_options() -> dict[int, int]:
    """`KEEPALIVE` and `UNACKED_TIMEOUT_MS` as socket options, those this platform has."""
    options = {getattr(socket, name): value for name, value in KEEPALIVE.items() if hasattr(socket, name)}
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        options[socket.TCP_USER_TIMEOUT] = UNACKED_TIMEOUT_MS
    return options


def forget() -> None:
    """Drop the client (tests that change REDIS_URL)."""
    global _client
    with _lock:
        _client = None
