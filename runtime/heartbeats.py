"""Worker heartbeats in Redis: every worker process says it is alive every few seconds.

Keys (prefix `adjobs:`): `workers` is a sorted set of worker ids (`host:pid`) scored by
their last heartbeat (epoch seconds); `worker:<id>` holds what the worker consumes, expiring
on its own when the worker dies without saying goodbye. Dramatiq's own `__heartbeats__`
cannot tell workers from producers (every broker command refreshes it), hence these.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from core import redis_client
from settings import get_settings

logger = logging.getLogger(__name__)

KEY = redis_client.PREFIX + "workers"
INFO_KEY = redis_client.PREFIX + "worker:"
#: Workers silent this many timeouts are dropped from the set.
FORGET_AFTER = 20


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(worker: str, info: dict[str, Any]) -> None:
    settings = get_settings()
    now = time.time()
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.zadd(KEY, {worker: now})
    pipe.set(INFO_KEY + worker, json.dumps(info), ex=max(1, int(settings.worker_heartbeat_timeout * 3)))
    pipe.zremrangebyscore(KEY, 0, now - settings.worker_heartbeat_timeout * FORGET_AFTER)
    pipe.execute()


def remove(worker: str) -> None:
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.zrem(KEY, worker)
    pipe.delete(INFO_KEY + worker)
    pipe.execute()


def alive(now: float | None = None) -> list[dict[str, Any]]:
    """Workers heard from within WORKER_HEARTBEAT_TIMEOUT, with what they consume."""
    now = time.time() if now is None else now
    client = redis_client.client()
    members = client.zrangebyscore(KEY, now - get_settings().worker_heartbeat_timeout, "+inf", withscores=True)
    if not members:
        return []
    infos = client.mget([INFO_KEY + member.decode() for member, _ in members])
    workers = []
    for (member, score), raw in zip(members, infos, strict=True):
        info = json.loads(raw) if raw else {}
        workers.append({"id": member.decode(), "lastSeen": score, "ageSeconds": round(now - score, 3), **info})
    return workers


class Heartbeat:
    """A daemon thread that beats every WORKER_HEARTBEAT_INTERVAL seconds until stopped."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.worker = worker_id()
        self.info = {"pid": os.getpid(), "host": socket.gethostname(), "startedAt": time.time(), **info}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            remove(self.worker)
        except Exception as error:
            logger.warning("Heartbeat: could not remove %s: %s", self.worker, error)

    def _run(self) -> None:
        interval = get_settings().worker_heartbeat_interval
        while not self._stop.is_set():
            try:
                beat(self.worker, self.info)
            except Exception as error:  # Redis away: the next beat tries again
                logger.warning("Heartbeat: %s", error)
            self._stop.wait(interval)
