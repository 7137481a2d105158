"""The machinery of staged pipelines: run records, stages as groups, and `advance_pipeline`, their step actor.

A pipeline is a named table of stages (`register_pipeline`): each stage is a builder of the
messages of one Dramatiq `group`, whose completion callback (`advance_pipeline`) enqueues the
next stage once every job of the stage has succeeded. When a job of a stage dies, the barrier
never opens, so later stages never run; the run reads as failed from its jobs' states
(`db.pipelines`). The pipelines themselves (`pipelines.daily`, `pipelines.backfill`) import
this module and register their stages; `actors.catalog` imports them, so a worker knows every
pipeline its step actor may have to advance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq import group, pipeline

from actors._base import job_actor
from core.payloads import JobPayload
from db import pipelines as store
from db.engine import get_engine
from errors import Conflict, NotFound

#: A stage's group children: messages, or pipelines of messages.
Child = dramatiq.Message | pipeline  # type: ignore[type-arg]
#: A pipeline's stages in order: (name, builder of the stage's children from the run id and the run's params).
Stages = tuple[tuple[str, Callable[[str, dict[str, Any]], Sequence[Child]]], ...]

#: The pipeline of a run whose params name none (daily runs do not).
DEFAULT_PIPELINE = "daily"

_pipelines: dict[str, Stages] = {}


class UnknownRun(NotFound):
    """Raised when no pipeline run has the id given."""


class RunNotFailed(Conflict, ValueError):
    """Raised when a run asked to retry has no failed stage (it is running or completed)."""


@dataclass
class PipelineRunStarted:
    id: str
    job_ids: list[str] = field(default_factory=list)


class AdvanceRequest(JobPayload):
    #: The pipeline run (`pipeline_runs`).
    run_id: str
    #: The stage to start now (every job of the one before it succeeded).
    stage: int


def register_pipeline(name: str, stages: Stages) -> None:
    """Make the pipeline `name` known to `enqueue_stage` (its runs' params carry `"pipeline": name`)."""
    _pipelines[name] = stages


def stages_of(pipeline_name: str) -> Stages:
    """The stages of a registered pipeline; LookupError names one that is not (its module was not imported)."""
    try:
        return _pipelines[pipeline_name]
    except KeyError:
        known = ", ".join(sorted(_pipelines)) or "none"
        raise LookupError(f"pipeline {pipeline_name!r} is not registered (known: {known})") from None


def start_run(run_id: str, params: dict[str, Any], *, delay_ms: int | None = None) -> PipelineRunStarted:
    """Record a new run (of the pipeline `params["pipeline"]`, daily when absent) and enqueue its first stage.

    `delay_ms` holds the first stage back.
    """
    pipeline_name = params.get("pipeline", DEFAULT_PIPELINE)
    stages = stages_of(pipeline_name)
    with get_engine().begin() as connection:
        store.create_run(connection, run_id, pipeline_name, params, [name for name, _ in stages])
    return PipelineRunStarted(id=run_id, job_ids=enqueue_stage(run_id, 0, params, delay_ms=delay_ms))


def retry_run(run_id: str) -> list[str]:
    """Run a failed run's failed stage again (new jobs); the stages after it follow as usual."""
    with get_engine().connect() as connection:
        run = store.get_run(connection, run_id)
    if run is None:
        raise UnknownRun(f"pipeline run {run_id!r} not found")
    for position, stage in enumerate(run["stages"]):
        if stage["state"] in ("failed", "cancelled"):
            # A stage whose jobs failed runs again; one whose callback died was never enqueued.
            return enqueue_stage(run_id, position, run["params"], again=bool(stage["jobs"]))
    raise RunNotFailed(f"pipeline run {run_id!r} is {run['state']}, not failed: nothing to retry")


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
            raise UnknownRun(f"pipeline run {run_id!r} not found")
        params = run["params"]
    stages = stages_of(params.get("pipeline", DEFAULT_PIPELINE))
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
        stage.add_completion_callback(
            advance_pipeline.message_with_options(kwargs={"run_id": run_id, "stage": position + 1}, pipeline_id=run_id)
        )
    stage.run(delay=delay_ms or None)
    return job_ids


@job_actor(queue="pipelines", payload=AdvanceRequest)
def advance_pipeline(request: AdvanceRequest) -> dict[str, object]:
    """A stage's completion callback: enqueue the run's next stage."""
    job_ids = enqueue_stage(request.run_id, request.stage)
    return {"stage": request.stage, "jobs": len(job_ids)}
