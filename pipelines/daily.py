"""The daily pipeline: set-based aggregation → metrics → cache warming.

Built on Dramatiq's `group` and group completion callbacks (`pipelines.steps`): each stage is
a group whose completion callback (`advance_pipeline`) enqueues the next stage once every job
of the stage has succeeded. When a job of a stage dies, the barrier never opens, so later
stages never run; the run reads as failed from its jobs' states (`db.pipelines`), and
`retry_run` runs its failed stage again. Every job carries `pipeline_id`, so the job store,
Sentry and the API can tie it to its run.

Aggregation is set-based: one job per granularity rolls up the day of every publisher of the
run in one statement (`db.rollups.aggregate_days`), registered or not; a run over a named list
of publishers takes them `PUBLISHERS_PER_JOB` at a time. So a day costs 4 aggregation jobs
(not 4 per publisher) under the aggregation queue's rate limit, and 1 metrics job (the three metric
types from the day rollups the aggregation stage has just written, not another scan of the events). A run may
be limited to the publishers of some time zones (the scheduled runs: one per group of zones
whose local day ends at the same instant, `pipelines.scheduled.daily_aggregation`), and its
first stage may be delayed until that instant.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import dramatiq
from dramatiq import pipeline

from actors.aggregation import aggregate_analytics
from actors.cache_warming import warm_cache
from actors.metrics import calculate_metrics
from pipelines.steps import (
    DEFAULT_PIPELINE,
    PipelineRunStarted,
    Stages,
    register_pipeline,
    retry_run,
    start_run,
)

#: `retry_run` is the steps' (any pipeline's run), named here too for the README's `pipelines.daily.retry_run`.
__all__ = ["STAGES", "PipelineRunStarted", "retry_run", "start_daily_pipeline"]

PIPELINE = DEFAULT_PIPELINE
METRIC_TYPES = ("performance", "revenue", "quality")
GRANULARITIES = ("hour", "day", "week", "month")
#: Publishers per aggregation / metrics job when a run names its publishers (one statement each).
PUBLISHERS_PER_JOB = 5000


def _chunks(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The publisher / time zone filters of the run's jobs: one set-based job per chunk."""
    selection: dict[str, Any] = {}
    if params.get("timezones") is not None:
        selection["timezones"] = params["timezones"]
    publishers = params.get("publishers")
    if publishers is None:
        return [selection]
    return [
        {**selection, "publisher_ids": publishers[at : at + PUBLISHERS_PER_JOB]}
        for at in range(0, max(len(publishers), 1), PUBLISHERS_PER_JOB)
    ]


def _aggregation(run_id: str, params: dict[str, Any]) -> list[dramatiq.Message | pipeline]:  # type: ignore[type-arg]
    """Per chunk of publishers (all of them by default), one job per granularity: hour, day, week, month."""
    if params.get("publishers") == []:
        return []  # nothing to roll up: the stage is empty and the next one starts at once
    return [
        aggregate_analytics.message_with_options(
            kwargs={"start_date": params["day"], "end_date": params["day"], "granularity": granularity, **chunk},
            pipeline_id=run_id,
        )
        for chunk in _chunks(params)
        for granularity in GRANULARITIES
    ]


def _metrics(run_id: str, params: dict[str, Any]) -> list[dramatiq.Message]:  # type: ignore[type-arg]
    """Per chunk of publishers, one job computing every metric type from the day rollups the run just wrote."""
    kwargs = {"metric_types": list(METRIC_TYPES), "period": params["day"], "source": "rollups"}
    return [
        calculate_metrics.message_with_options(kwargs={**kwargs, **chunk}, pipeline_id=run_id)
        for chunk in _chunks(params)
    ]


def _cache_warming(run_id: str, params: dict[str, Any]) -> list[dramatiq.Message]:  # type: ignore[type-arg]
    return [warm_cache.message_with_options(kwargs={}, pipeline_id=run_id)]


#: The stages in order: (name, builder of the stage's group children).
STAGES: Stages = (
    ("aggregation", _aggregation),
    ("metrics", _metrics),
    ("cache-warming", _cache_warming),
)
register_pipeline(PIPELINE, STAGES)


def start_daily_pipeline(
    day: date,
    publishers: list[str] | None = None,
    *,
    timezones: list[str] | None = None,
    delay_ms: int | None = None,
) -> PipelineRunStarted:
    """Record a new run for the local day `day` and enqueue its first stage (after `delay_ms`).

    `publishers` None: every publisher with events that day (in its own calendar), registered
    or not; `timezones`: only the publishers whose calendar is one of these (unregistered: UTC).
    Every job of the pipeline is idempotent, so running it again for the same day is safe: a
    new run recomputes the same rollups, metrics and cache entries.
    """
    params: dict[str, Any] = {"day": day.isoformat(), "publishers": publishers}
    if timezones is not None:
        params["timezones"] = timezones
    return start_run(str(uuid.uuid4()), params, delay_ms=delay_ms)
