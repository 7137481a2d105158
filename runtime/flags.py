"""The shared state of queue control, in Redis: paused queues, cancelled jobs, dedupe keys.

- `adjobs:paused`: a set of queue names.
- `adjobs:cancelled`: a sorted set of job ids (scored by when) that could not be taken off the
  broker because a worker had already fetched them; workers skip them.
- `adjobs:dedupe:<queue>:<key>`: the id of the job holding a dedupe key while it is waiting,
  delayed or active; released when the job ends.

The embedded default (no Redis) keeps the same state in the process.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from core.redis_client import PREFIX, client
from settings import get_settings

PAUSED = PREFIX + "paused"
CANCELLED = PREFIX + "cancelled"
DEDUPE = PREFIX + "dedupe:"
#: A dedupe key outlives a job that never ends (a lost message) by at most this long.
DEDUPE_TTL_SECONDS = 7 * 24 * 3600
#: Cancelled ids older than this are forgotten (their messages are long gone).
CANCELLED_TTL_SECONDS = 7 * 24 * 3600

# Releases a dedupe key only if it still names this job.
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0
"""

_local_lock = threading.Lock()
_local_paused: set[str] = set()
_local_cancelled: dict[str, float] = {}
_local_dedupe: dict[str, str] = {}


def _embedded() -> bool:
    return get_settings().embedded


def _decode(values: Any) -> set[str]:
    return {value.decode() if isinstance(value, bytes) else str(value) for value in values}


# Pause ------------------------------------------------------------------------------------


def pause(queue: str) -> None:
    if _embedded():
        with _local_lock:
            _local_paused.add(queue)
        return
    client().sadd(PAUSED, queue)


def resume(queue: str) -> None:
    if _embedded():
        with _local_lock:
            _local_paused.discard(queue)
        return
    client().srem(PAUSED, queue)


def paused() -> set[str]:
    if _embedded():
        with _local_lock:
            return set(_local_paused)
    return _decode(client().smembers(PAUSED))


# Cancel -----------------------------------------------------------------------------------


def mark_cancelled(job_id: str) -> None:
    if _embedded():
        with _local_lock:
            _local_cancelled[job_id] = time.time()
        return
    client().zadd(CANCELLED, {job_id: time.time()})


def mark_all_cancelled(job_ids: list[str]) -> None:
    """`mark_cancelled` for many jobs in one call (a drain's jobs that workers already hold)."""
    if not job_ids:
        return
    now = time.time()
    if _embedded():
        with _local_lock:
            _local_cancelled.update(dict.fromkeys(job_ids, now))
        return
    client().zadd(CANCELLED, dict.fromkeys(job_ids, now))


def forget_cancelled(job_id: str) -> None:
    if _embedded():
        with _local_lock:
            _local_cancelled.pop(job_id, None)
        return
    client().zrem(CANCELLED, job_id)


def cancelled() -> set[str]:
    if _embedded():
        with _local_lock:
            return set(_local_cancelled)
    connection = client()
    connection.zremrangebyscore(CANCELLED, 0, time.time() - CANCELLED_TTL_SECONDS)
    return _decode(connection.zrange(CANCELLED, 0, -1))


# Dedupe -----------------------------------------------------------------------------------


def dedupe_key(queue: str, key: str) -> str:
    return f"{DEDUPE}{queue}:{key}"


def claim(queue: str, key: str, job_id: str) -> str | None:
    """Take a dedupe key for `job_id`; returns the id of the job holding it already, if any."""
    name = dedupe_key(queue, key)
    if _embedded():
        with _local_lock:
            holder = _local_dedupe.setdefault(name, job_id)
        return None if holder == job_id else holder
    connection = client()
    for _ in range(3):
        if connection.set(name, job_id, nx=True, ex=DEDUPE_TTL_SECONDS):
            return None
        holder = connection.get(name)
        if holder is not None:
            return holder.decode()
        # Released between the two calls: try again.
    return None


def release(queue: str, key: str, job_id: str) -> None:
    name = dedupe_key(queue, key)
    if _embedded():
        with _local_lock:
            if _local_dedupe.get(name) == job_id:
                del _local_dedupe[name]
        return
    client().eval(_RELEASE, 1, name, job_id)
