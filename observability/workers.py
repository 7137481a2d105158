"""Who is working: each worker process with the jobs it runs now and for how long, each beat with its last tick.

Read from the heartbeats (`runtime.heartbeats`) and the dispatcher's last run (`scheduling.state`);
served by `GET /api/v1/workers`, the dashboard's workers page and `jobsctl workers`. Times are ISO
8601 in UTC; durations are seconds as of the moment of the read (`now`), so two readers agree.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from runtime import heartbeats
from scheduling import state
from settings import get_settings


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def _tick(value: Any) -> str | None:
    """A beat's tick as it sent it (periodiq's `scheduled_at`, in the beat's zone), in UTC."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).isoformat()
    except ValueError:
        return str(value)


def _worker(entry: dict[str, Any], now: float) -> dict[str, Any]:
    jobs = [
        {
            "id": job.get("id"),
            "queue": job.get("queue"),
            "name": job.get("name"),
            "startedAt": iso(job.get("startedAt")),
            "runningSeconds": round(max(0.0, now - float(job.get("startedAt") or now)), 1),
        }
        for job in entry.get("jobs", [])
    ]
    return {
        "id": entry["id"],
        "host": entry.get("host"),
        "pid": entry.get("pid"),
        "queues": entry.get("queues", ["*"]),
        "threads": entry.get("threads"),
        "startedAt": iso(entry.get("startedAt")),
        "lastHeartbeat": iso(entry["lastSeen"]),
        "heartbeatAgeSeconds": round(max(0.0, entry["ageSeconds"]), 1),
        "busy": len(jobs),
        "jobs": jobs,
    }


def _beat(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "host": entry.get("host"),
        "pid": entry.get("pid"),
        "startedAt": iso(entry.get("startedAt")),
        "lastHeartbeat": iso(entry["lastSeen"]),
        "heartbeatAgeSeconds": round(max(0.0, entry["ageSeconds"]), 1),
        "lastTick": _tick(entry.get("lastTick")),
    }


def scheduler_status(beats: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """Whether a beat is alive and when the dispatcher last ran (the beat sends it, a worker runs it)."""
    last = state.last_dispatch()
    age = None if last is None else round(max(0.0, now - last.timestamp()), 1)
    max_age = get_settings().scheduler_max_age
    return {
        "beatAlive": bool(beats),
        "beats": len(beats),
        "lastDispatch": None if last is None else last.isoformat(),
        "dispatchAgeSeconds": age,
        "maxAgeSeconds": max_age,
        "dispatching": age is not None and age <= max_age,
    }


def report(now: float | None = None) -> dict[str, Any]:
    """`{"workers": [...], "beats": [...], "scheduler": {...}, "heartbeatTimeoutSeconds"}`, workers by id."""
    now = time.time() if now is None else now
    workers = sorted((_worker(entry, now) for entry in heartbeats.alive(now)), key=lambda worker: worker["id"])
    beats = sorted((_beat(entry) for entry in heartbeats.alive(now, kind=heartbeats.BEAT)), key=lambda b: b["id"])
    return {
        "workers": workers,
        "beats": beats,
        "scheduler": scheduler_status(beats, now),
        "heartbeatTimeoutSeconds": get_settings().worker_heartbeat_timeout,
    }
