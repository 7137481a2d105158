"""Schedule state in Redis, shared by every beat and worker: claims, watermarks, switches, last runs.

Keys (prefix `adjobs:`):
- `schedule:<name>:claim:<tick>`: SET NX by whoever enqueues that tick; the tick runs once.
- `schedule:<name>:watermark`: the last tick instant evaluated (epoch seconds), only moves forward.
- `schedule:<name>:disabled`: present while the schedule is stopped.
- `schedule:<name>:last_run`: JSON of the last run (tick, time, job ids, how it was triggered).
- `scheduler:last_tick`: epoch seconds of the last dispatcher run (read by /health).
- `scheduler:missed`: a capped list of missed-tick reports, newest first (read by the alerts monitor).

Read and written through the process's one Redis client for the project's keys (`core.redis_client`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core import redis_client

PREFIX = redis_client.PREFIX
#: How long a claim is remembered.
CLAIM_TTL = 8 * 86400
#: Missed ticks kept for the alerts monitor.
MISSED_KEPT = 500

_ADVANCE = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('set', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


def _key(name: str, part: str) -> str:
    return f"{PREFIX}schedule:{name}:{part}"


def claim(name: str, tick: datetime) -> bool:
    stamp = tick.astimezone(UTC).isoformat()
    return bool(redis_client.client().set(_key(name, f"claim:{stamp}"), "1", nx=True, ex=CLAIM_TTL))


def release(name: str, tick: datetime) -> None:
    redis_client.client().delete(_key(name, f"claim:{tick.astimezone(UTC).isoformat()}"))


def watermark(name: str) -> datetime | None:
    raw = redis_client.client().get(_key(name, "watermark"))
    return None if raw is None else datetime.fromtimestamp(float(raw), UTC)


def advance_watermark(name: str, tick: datetime) -> bool:
    """Move the watermark forward to `tick`; False when another dispatcher got there first."""
    return bool(redis_client.client().eval(_ADVANCE, 1, _key(name, "watermark"), repr(tick.timestamp())))


def enabled(name: str) -> bool:
    return not redis_client.client().exists(_key(name, "disabled"))


def set_enabled(name: str, on: bool) -> None:
    if on:
        redis_client.client().delete(_key(name, "disabled"))
    else:
        redis_client.client().set(_key(name, "disabled"), datetime.now(UTC).isoformat())


def record_run(name: str, tick: datetime, job_ids: list[str], trigger: str) -> dict[str, Any]:
    run = {
        "tick": tick.isoformat(),
        "enqueuedAt": datetime.now(UTC).isoformat(),
        "jobIds": job_ids,
        "trigger": trigger,
    }
    redis_client.client().set(_key(name, "last_run"), json.dumps(run))
    return run


def last_run(name: str) -> dict[str, Any] | None:
    raw = redis_client.client().get(_key(name, "last_run"))
    return None if raw is None else json.loads(raw)


def record_missed(name: str, first: datetime, last: datetime, count: int, reason: str) -> None:
    entry = json.dumps(
        {
            "schedule": name,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "count": count,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(),
        }
    )
    pipe = redis_client.client().pipeline()
    pipe.lpush(f"{PREFIX}scheduler:missed", entry)
    pipe.ltrim(f"{PREFIX}scheduler:missed", 0, MISSED_KEPT - 1)
    pipe.execute()


def missed(limit: int = 50) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis_client.client().lrange(f"{PREFIX}scheduler:missed", 0, limit - 1)]


def record_dispatch(now: datetime) -> None:
    redis_client.client().set(f"{PREFIX}scheduler:last_tick", repr(now.timestamp()))


def last_dispatch() -> datetime | None:
    raw = redis_client.client().get(f"{PREFIX}scheduler:last_tick")
    return None if raw is None else datetime.fromtimestamp(float(raw), UTC)
