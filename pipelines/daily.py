"""The daily pipeline: set-based aggregation → metrics → cache warming.

Built on Dramatiq's `group` and group completion callbacks: each stage is a group whose
completion callback (`advance_pipeline`) enqueues the next stage once every job of the
stage has succeeded. When a job of a stage dies, the barrier never opens, so later stages
never run; the run reads as failed from its jobs' states (`db.pipelines`). Every job carries
`pipeline_id`, so the job store, Sentry and the API can tie it to its run.

Aggregation is set-based: one job per granularity rolls up the day of every publisher of the
run in one statement (`db.rollups.aggregate_days`), registered or not; a run over a named list
of publishers takes them `PUBLISHERS_PER_JOB` at a time. So a day costs 4 aggregation jobs
(not 4 per publisher) under the aggregation queue's rate limit, and 3 metrics jobs. A run may
be limited to the publishers of some time zones (the scheduled runs: one per group of zones
whose local day ends at the same instant, `pipelines.scheduled.daily_aggregation`), and its
first stage may be delayed until that instant.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dramatiq
from dramatiq import group, pipeline

from db import pipelines as store
from db.engine import get_engine

PIPELINE = "daily"
METRIC_TYPES = ("performance", "revenue", "quality")
GRANULARITIES = ("hour", "day", "week", "month")
#: Publishers per aggregation / metrics job when a run names its publishers (one statement each).
PUBLISHERS_PER_JOB = 5000


@dataclass
class PipelineRunStarted:
    id: str
    job_ids: list[str] = field(default_factory=list)


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
    from actors.aggregation import aggregate_analytics

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
    from actors.metrics import calculate_metrics

    return [
        calculate_metrics.message_with_options(
            kwargs={"metric_type": metric_type, "period": params["day"], **chunk}, pipeline_id=run_id
        )
        for chunk in _chunks(params)
        for metric_type in METRIC_TYPES
    ]


def _cache_warming(run_id: str, params: dict[str, Any]) -> list[dramatiq.Message]:  # type: ignore[type-arg]
    from actors.cache_warming import warm_cache

    return [warm_cache.message_with_options(kwargs={}, pipeline_id=run_id)]


Child = dramatiq.Message | pipeline  # type: ignore[type-arg]

Stages = tuple[tuple[str, Callable[[str, dict[str, Any]], Sequence[Child]]], ...]

#: The stages in order: (name, builder of the stage's group children).
STAGES: Stages = (
    ("aggregation", _aggregation),
    ("metrics", _metrics),
    ("cache-warming", _cache_warming),
)


def stages_of(pipeline_name: str) -> Stages:
    """The stages of a pipeline: `STAGES` of the module `pipelines.<name>`."""
    if pipeline_name == PIPELINE:
        return STAGES
    module = importlib.import_module(f"pipelines.{pipeline_name}")
    return module.STAGES  # type: ignore[no-any-return]


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
    run_id = str(uuid.uuid4())
    params: dict[str, Any] = {"day": day.isoformat(), "publishers": publishers}
    if timezones is not None:
        params["timezones"] = timezones
    with get_engine().begin() as connection:
        store.create_run(connection, run_id, PIPELINE, params, [name for name, _ in STAGES])
    return PipelineRunStarted(id=run_id, job_ids=enqueue_stage(run_id, 0, params, delay_ms=delay_ms))


def retry_run(run_id: str) -> list[str]:
    """Run a failed run's failed stage again (new jobs); the stages after it follow as usual."""
    with get_engine().connect() as connection:
        run = store.get_run(connection, run_id)
    if run is None:
        raise LookupError(f"pipeline run {run_id!r} not found")
    for position, stage in enumerate(run["stages"]):
        if stage["state"] in ("failed", "cancelled"):
            # A stage whose jobs failed runs again; one whose callback died was never enqueued.
            return enqueue_stage(run_id, position, run["params"], again=bool(stage["jobs"]))
    raise ValueError(f"pipeline run {run_id!r} is {run['state']}, not failed")


def _message_ids(children: Sequence[Child]) -> list[str]:
    ids: list[str] = []
    for child in children:
        if isinstance(child, pipeline):
            ids.extend(message.message_id for message in child.messages)
        else:
            ids.append(child.message_id)
    return ids


def enqueue_stage(
    run_id: str,
    position: int,
    params: dict[str, Any] | None = None,
    *,
    again: bool = False,
    delay_ms: int | None = None,
) -> list[str]:
    """Enqueue stage `position` of a run as a group, with the next stage as its completion callback.

    `delay_ms` holds the stage's jobs back (a scheduled run waits for its local midnight).

    A redelivered callback finds the stage recorded and enqueues nothing twice; `again` replaces
    a failed stage's jobs with new ones.
    """
    if params is None:
        with get_engine().connect() as connection:
            run = store.get_run(connection, run_id)
        if run is None:
            raise LookupError(f"pipeline run {run_id!r} not found")
        params = run["params"]
    stages = stages_of(params.get("pipeline", PIPELINE))
    name, build = stages[position]
    children = build(run_id, params)
    job_ids = _message_ids(children)
    # Record the stage before its jobs can finish, so a reader never sees jobs without their stage.
    with get_engine().begin() as connection:
        existing = store.stage_job_ids(connection, run_id, position, for_update=True)
        if existing is not None and not again:
            return existing
        store.record_stage(connection, run_id, position, name, job_ids, replace=existing is not None)
    if not children:
        # An empty stage (no publishers) has no barrier to open: go straight to the next one.
        return enqueue_stage(run_id, position + 1, params) if position + 1 < len(stages) else []
    stage = group(children)
    if position + 1 < len(stages):
        from pipelines.steps import advance_pipeline

        stage.add_completion_callback(
            advance_pipeline.message_with_options(kwargs={"run_id": run_id, "stage": position + 1}, pipeline_id=run_id)
        )
    stage.run(delay=delay_ms or None)
    return job_ids
