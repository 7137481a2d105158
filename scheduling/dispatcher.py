"""The dispatcher: once a minute (periodiq) it enqueues every schedule's due ticks exactly once.

Any number of beats may send the dispatcher's message; each run looks at the ticks between
the schedule's watermark and now, and a tick runs only for whoever wins its Redis claim. A
stopped schedule is skipped (and not caught up when started again). After an outage, a
schedule listed in SCHEDULE_CATCH_UP runs its missed ticks (up to SCHEDULE_CATCH_UP_LIMIT);
the others run only ticks less than SCHEDULE_GRACE_SECONDS late and record the rest as missed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from runtime import heartbeats
from scheduling import registry, state
from scheduling.clock import next_runs, ticks_between
from settings import get_settings

logger = logging.getLogger(__name__)


def dispatch(now: datetime | None = None) -> list[dict[str, Any]]:
    """Enqueue the due ticks of every schedule; returns the runs this call made."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    grace = timedelta(seconds=settings.schedule_grace_seconds)
    runs: list[dict[str, Any]] = []
    for schedule in registry.all_schedules():
        since = state.watermark(schedule.name) or (now - grace)
        due = ticks_between(schedule.cron, settings.schedule_tz, since, now)
        if not due:
            continue
        catch_up = schedule.name in settings.schedule_catch_up
        missed: list[datetime] = []
        last = due[-1]
        for index, tick in enumerate(due):
            late = now - tick > grace
            if not state.enabled(schedule.name):
                continue
            if late and (not catch_up or len(due) - index > settings.schedule_catch_up_limit):
                missed.append(tick)
                continue
            try:
                run = _run(schedule, tick, trigger="catch-up" if late else "cron")
            except Exception:
                logger.exception("Schedule %s failed to enqueue its tick at %s.", schedule.name, tick.isoformat())
                last = tick - timedelta(microseconds=1)  # this tick is tried again by the next run
                break
            if run is not None:
                runs.append(run)
        # Only the dispatcher that moves the watermark reports the misses, so they are reported once.
        if state.advance_watermark(schedule.name, last) and missed:
            reason = "beyond SCHEDULE_CATCH_UP_LIMIT" if catch_up else "late, and the schedule does not catch up"
            state.record_missed(schedule.name, missed[0], missed[-1], len(missed), reason)
            logger.warning(
                "Schedule %s missed %d tick(s) from %s to %s.",
                schedule.name,
                len(missed),
                missed[0].isoformat(),
                missed[-1].isoformat(),
            )
    state.record_dispatch(now)
    return runs


def _run(schedule: registry.Schedule, tick: datetime, trigger: str) -> dict[str, Any] | None:
    if not state.claim(schedule.name, tick):
        return None
    try:
        job_ids = schedule.job(tick)
    except Exception:
        state.release(schedule.name, tick)  # let the next dispatcher try this tick again
        raise
    logger.info("Schedule %s enqueued %d job(s) for %s.", schedule.name, len(job_ids), tick.isoformat())
    return {"schedule": schedule.name, **state.record_run(schedule.name, tick, job_ids, trigger)}


def trigger(name: str) -> dict[str, Any]:
    """Run a schedule now, whatever its switch says ("run now" from the API or CLI)."""
    schedule = registry.get(name)
    tick = datetime.now(UTC).astimezone(_zone())
    job_ids = schedule.job(tick)
    return {"schedule": name, **state.record_run(name, tick, job_ids, f"manual:{uuid.uuid4().hex[:8]}")}


def describe(name: str | None = None, runs: int = 5) -> list[dict[str, Any]]:
    """Schedules as the API shows them: name, cron, timezone, enabled, nextRuns, lastRun.

    `enabled` is the schedule's switch only; whether anything runs it is `beatAlive` (a beat heard
    from within WORKER_HEARTBEAT_TIMEOUT) and `lastDispatch` (the dispatcher's last run, UTC).
    """
    settings = get_settings()
    chosen = [registry.get(name)] if name else registry.all_schedules()
    last_dispatch = state.last_dispatch()
    beat_alive = bool(heartbeats.alive(kind=heartbeats.BEAT))
    return [
        {
            "name": schedule.name,
            "cron": schedule.cron,
            "timezone": settings.schedule_tz,
            "description": schedule.description,
            "enabled": state.enabled(schedule.name),
            "catchUp": schedule.name in settings.schedule_catch_up,
            "nextRuns": [tick.isoformat() for tick in next_runs(schedule.cron, settings.schedule_tz, runs)],
            "lastRun": state.last_run(schedule.name),
            "beatAlive": beat_alive,
            "lastDispatch": None if last_dispatch is None else last_dispatch.isoformat(),
        }
        for schedule in chosen
    ]


def set_enabled(name: str, on: bool) -> dict[str, Any]:
    registry.get(name)
    state.set_enabled(name, on)
    return describe(name)[0]


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().schedule_tz)
