"""Late events converge: re-aggregate the buckets that loads made stale, then what reads them.

The `late-events` schedule sends `reaggregate_late_events` every LATE_EVENTS_INTERVAL seconds
(a loader may send it right after a load too). One job covers every publisher: it recomputes
exactly the stale hour / day / week / month buckets of already aggregated days in a few
set-based statements (`db.stale_marks`), and is sent with high priority, so it never waits
behind a per-publisher fan-out on the aggregation queue. After the commit it sends the
metrics stored for the touched hours and days again, and re-warms the cache entries that read
the touched publishers' rollups, so neither keeps the old numbers.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from actors._base import job_actor
from actors.cache_warming import warm_cache
from actors.metrics import calculate_metrics
from core.payloads import JobPayload, Priority
from db import cache, stale_marks
from db.engine import get_engine

#: The dedupe key: while one run waits or runs, sending another enqueues nothing.
JOB_ID = "late-events"


class LateEventsRequest(JobPayload):
    """No fields: a run takes every stale mark of an aggregated day."""


@job_actor(queue="analytics-aggregation", payload=LateEventsRequest)
def reaggregate_late_events(request: LateEventsRequest) -> dict[str, Any]:
    with get_engine().begin() as connection:
        result = stale_marks.reaggregate_stale(connection)
        metrics = stale_marks.metric_periods(connection, result.windows)
    followups = _send_followups(result.windows, metrics)
    if result.more:
        request_reaggregation(deduplicate=False)
    return {
        "marks": result.marks,
        "rows": result.rows,
        "publishers": len(result.windows),
        "more": result.more,
        **followups,
    }


def request_reaggregation(*, deduplicate: bool = True) -> dramatiq.Message:  # type: ignore[type-arg]
    """Ask for a run now (after a load); one already waiting makes this a no-op."""
    options: dict[str, Any] = {"priority": Priority.HIGH}
    if deduplicate:
        options["job_id"] = JOB_ID
    return reaggregate_late_events.send_with_options(kwargs={}, **options)


def _send_followups(windows: dict[str, Any], metrics: list[dict[str, str]]) -> dict[str, int]:
    if not windows:
        return {"metrics_jobs": 0, "cache_keys": 0}
    if metrics:
        calculate_metrics.send_many(metrics)
    keys = cache.keys_reading(set(windows), sorted({*cache.popular_keys(), *cache.cached_keys()}))
    if keys:
        warm_cache.send(cache_keys=keys)
    return {"metrics_jobs": len(metrics), "cache_keys": len(keys)}
