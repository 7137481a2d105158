"""Heartbeats in Redis: every worker process, and every beat, says it is alive every few seconds.

Keys (prefix `adjobs:`): `workers` is a sorted set of worker ids (`host:pid`) scored by their
last heartbeat (epoch seconds); `worker:<id>` holds what the worker publishes (host, PID, queues,
threads, start time and the jobs it runs now, each with its start time), expiring on its own
when the worker dies without saying goodbye. Beats (`periodiq` processes) have the same pair,
`beats` and `beat:<id>`, with the last tick each sent. Dramatiq's own `__heartbeats__` cannot
tell workers from producers (every broker command refreshes it), hence these.

A worker publishes every WORKER_HEARTBEAT_INTERVAL, and soon after a job starts or ends (at most
one write per CHANGE_DELAY however many jobs move), so a running job shows within a second.
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

#: The two kinds of process that beat: `dramatiq` worker processes and `periodiq` beats.
WORKER, BEAT = "worker", "beat"
KEY = redis_client.PREFIX + "workers"
INFO_KEY = redis_client.PREFIX + "worker:"
BEATS_KEY = redis_client.PREFIX + "beats"
BEAT_INFO_KEY = redis_client.PREFIX + "beat:"
_KEYS = {WORKER: (KEY, INFO_KEY), BEAT: (BEATS_KEY, BEAT_INFO_KEY)}
#: Workers silent this many timeouts are dropped from the set.
FORGET_AFTER = 20
#: Seconds a worker waits after a job starts or ends before it publishes, so a burst is one write.
CHANGE_DELAY = 0.5


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(worker: str, info: dict[str, Any], kind: str = WORKER) -> None:
    settings = get_settings()
    members, infos = _KEYS[kind]
    now = time.time()
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.zadd(members, {worker: now})
    pipe.set(infos + worker, json.dumps(info), ex=max(1, int(settings.worker_heartbeat_timeout * 3)))
    pipe.zremrangebyscore(members, 0, now - settings.worker_heartbeat_timeout * FORGET_AFTER)
    pipe.execute()


def remove(worker: str, kind: str = WORKER) -> None:
    members, infos = _KEYS[kind]
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.zrem(members, worker)
    pipe.delete(infos + worker)
    pipe.execute()


def alive(now: float | None = None, kind: str = WORKER) -> list[dict[str, Any]]:
    """Workers (or beats) heard from within WORKER_HEARTBEAT_TIMEOUT, with what they published."""
    now = time.time() if now is None else now
    members_key, infos_key = _KEYS[kind]
    client = redis_client.client()
    members = client.zrangebyscore(members_key, now - get_settings().worker_heartbeat_timeout, "+inf", withscores=True)
    if not members:
        return []
    infos = client.mget([infos_key + member.decode() for member, _ in members])
    workers = []
    for (member, score), raw in zip(members, infos, strict=True):
        info = json.loads(raw) if raw else {}
        workers.append({"id": member.decode(), "lastSeen": score, "ageSeconds": round(now - score, 3), **info})
    return workers


class Heartbeat:
    """A daemon thread that beats every WORKER_HEARTBEAT_INTERVAL seconds until stopped.

    A worker's heartbeat also carries the jobs it runs now (`job_started` / `job_ended`, called
    from the worker's threads); a beat's, its last tick (`update`).
    """

    def __init__(self, info: dict[str, Any], kind: str = WORKER, started_at: float | None = None) -> None:
        self.kind = kind
        self.worker = worker_id()
        self.info = {"pid": os.getpid(), "host": socket.gethostname(), "startedAt": started_at or time.time(), **info}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"{kind}-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=5)
        try:
            remove(self.worker, self.kind)
        except Exception as error:
            logger.warning("Heartbeat: could not remove %s: %s", self.worker, error)

    def update(self, **fields: Any) -> None:
        """Change what is published (a beat's last tick); published soon."""
        with self._lock:
            self.info.update(fields)
        self._changed.set()

    def job_started(self, job_id: str, queue: str, name: str) -> None:
        with self._lock:
            self._jobs[job_id] = {"id": job_id, "queue": queue, "name": name, "startedAt": time.time()}
        self._note_change()

    def job_ended(self, job_id: str) -> None:
        with self._lock:
            ended = self._jobs.pop(job_id, None)
        if ended is not None:
            self._note_change()

    def _note_change(self) -> None:
        """Wake the thread for a change made just before; not again while the flag is up (two calls per
        job otherwise take the event's lock). Safe: the thread lowers the flag before it reads the jobs."""
        if not self._changed.is_set():
            self._changed.set()

    def published(self) -> dict[str, Any]:
        """What the next beat writes: the info, and for a worker the jobs it runs now, oldest first."""
        with self._lock:
            if self.kind != WORKER:
                return dict(self.info)
            return {**self.info, "jobs": sorted(self._jobs.values(), key=lambda job: job["startedAt"])}

    def _run(self) -> None:
        interval = get_settings().worker_heartbeat_interval
        while not self._stop.is_set():
            self._changed.clear()
            self._beat()
            if self._changed.wait(interval) and not self._stop.is_set():
                self._stop.wait(CHANGE_DELAY)  # let a burst of starts and ends settle into one write

    def _beat(self) -> None:
        try:
            beat(self.worker, self.published(), self.kind)
        except Exception as error:  # Redis away: the next beat tries again
            if not self._failing:
                logger.warning("Heartbeat: %s", error)
            self._failing = True
            return
        if self._failing:
            logger.info("Heartbeat: Redis answers again")
        self._failing = False
