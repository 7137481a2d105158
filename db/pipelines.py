"""Pipeline runs in the store: a run, its stages and their job ids; states derived from the jobs.

A stage's state is read from its jobs' states in the job store rather than stored twice:
`failed` when one of its jobs is dead, `completed` when all completed, `running` otherwise,
`pending` before it is enqueued. A run is failed when a stage failed, completed when its
last stage completed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from db.models import JobRecord, PipelineRun, PipelineStage


def create_run(connection: Connection, run_id: str, name: str, params: dict[str, Any], stages: Sequence[str]) -> None:
    connection.execute(insert(PipelineRun).values(id=run_id, name=name, params=params, stage_names=list(stages)))


def stage_job_ids(connection: Connection, run_id: str, position: int, *, for_update: bool = False) -> list[str] | None:
    """The job ids of a stage already enqueued, or None. `for_update` locks the run's row."""
    if for_update:
        connection.execute(select(PipelineRun.id).where(PipelineRun.id == run_id).with_for_update())
    return connection.execute(
        select(PipelineStage.job_ids).where(PipelineStage.run_id == run_id, PipelineStage.position == position)
    ).scalar_one_or_none()


def record_stage(
    connection: Connection, run_id: str, position: int, name: str, job_ids: list[str], *, replace: bool = False
) -> None:
    """Record a stage's jobs; `replace` swaps the jobs of a stage run again and forgets the stages after it."""
    now = datetime.now(UTC)
    if replace:
        connection.execute(
            update(PipelineStage)
            .where(PipelineStage.run_id == run_id, PipelineStage.position == position)
            .values(job_ids=job_ids, enqueued_at=now)
        )
        connection.execute(
            delete(PipelineStage).where(PipelineStage.run_id == run_id, PipelineStage.position > position)
        )
        return
    connection.execute(
        insert(PipelineStage).values(run_id=run_id, position=position, name=name, job_ids=job_ids, enqueued_at=now)
    )


def _stage_state(states: list[str]) -> str:
    if not states:
        return "completed"
    if any(state == "dead" for state in states):
        return "failed"
    if any(state == "cancelled" for state in states):
        return "cancelled"
    if states and all(state == "completed" for state in states):
        return "completed"
    return "running"


def get_run(connection: Connection, run_id: str) -> dict[str, Any] | None:
    run = connection.execute(select(PipelineRun.__table__).where(PipelineRun.id == run_id)).first()
    if run is None:
        return None
    stored = {
        stage.position: stage
        for stage in connection.execute(select(PipelineStage.__table__).where(PipelineStage.run_id == run_id))
    }
    all_ids = [job_id for stage in stored.values() for job_id in stage.job_ids]
    jobs = (
        {
            row.id: row
            for row in connection.execute(
                select(
                    JobRecord.id,
                    JobRecord.state,
                    JobRecord.actor,
                    JobRecord.queue,
                    JobRecord.error,
                    JobRecord.started_at,
                    JobRecord.finished_at,
                ).where(JobRecord.id.in_(all_ids))
            )
        }
        if all_ids
        else {}
    )
    stages: list[dict[str, Any]] = []
    failed_job: dict[str, Any] | None = None
    for position, name in enumerate(run.stage_names):
        stage = stored.get(position)
        if stage is None:
            stages.append({"name": name, "state": "pending", "jobs": [], "startedAt": None, "finishedAt": None})
            continue
        rows = [jobs.get(job_id) for job_id in stage.job_ids]
        states = [row.state if row is not None else "waiting" for row in rows]
        state = _stage_state(states)
        started = [row.started_at for row in rows if row is not None and row.started_at is not None]
        finished = [row.finished_at for row in rows if row is not None and row.finished_at is not None]
        for job_id, row in zip(stage.job_ids, rows, strict=True):
            if row is not None and row.state == "dead" and failed_job is None:
                failed_job = {"jobId": job_id, "name": row.actor, "stage": name, "failedReason": row.error}
        stages.append(
            {
                "name": name,
                "state": state,
                "enqueuedAt": stage.enqueued_at,
                "startedAt": min(started) if started else None,
                "finishedAt": max(finished) if state in ("completed", "failed") and finished else None,
                "jobs": [
                    {
                        "jobId": job_id,
                        "state": job_state,
                        "name": row.actor if row is not None else None,
                        "queue": row.queue if row is not None else None,
                        "failedReason": row.error if row is not None else None,
                    }
                    for job_id, job_state, row in zip(stage.job_ids, states, rows, strict=True)
                ],
            }
        )
    if failed_job is None:
        # A stage's completion callback that died: the stage it was to enqueue is still pending.
        for dead in connection.execute(
            select(JobRecord.id, JobRecord.actor, JobRecord.error, JobRecord.payload).where(
                JobRecord.pipeline_id == run_id, JobRecord.state == "dead"
            )
        ):
            dead_stage = dead.payload.get("stage") if isinstance(dead.payload, dict) else None
            if isinstance(dead_stage, int) and dead_stage < len(stages) and stages[dead_stage]["state"] == "pending":
                stages[dead_stage]["state"] = "failed"
                failed_job = {
                    "jobId": dead.id,
                    "name": dead.actor,
                    "stage": stages[dead_stage]["name"],
                    "failedReason": dead.error,
                }
                break
    if failed_job is not None:
        run_state = "failed"
    elif stages and stages[-1]["state"] == "completed":
        run_state = "completed"
    else:
        run_state = "running"
    return {
        "id": run.id,
        "name": run.name,
        "params": run.params,
        "state": run_state,
        "createdAt": run.created_at,
        "finishedAt": stages[-1]["finishedAt"] if run_state == "completed" else None,
        "failedJob": failed_job,
        "stages": stages,
    }


def list_runs(connection: Connection, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
    """Runs, newest first; runs made in the same instant by id, so pages keep one order."""
    query = select(PipelineRun.id).order_by(PipelineRun.created_at.desc(), PipelineRun.id.desc())
    ids = connection.execute(query.limit(limit).offset(offset)).scalars().all()
    return [run for run_id in ids if (run := get_run(connection, run_id)) is not None]


def count_runs(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(PipelineRun)).scalar_one())


def runs_of_jobs(connection: Connection, job_ids: Sequence[str]) -> list[str]:
    """The ids of the runs the jobs `job_ids` belong to (their job store records' `pipeline_id`), oldest first."""
    if not job_ids:
        return []
    rows = connection.execute(
        select(PipelineRun.id)
        .join(JobRecord, JobRecord.pipeline_id == PipelineRun.id)
        .where(JobRecord.id.in_(list(job_ids)))
        .group_by(PipelineRun.id, PipelineRun.created_at)
        .order_by(PipelineRun.created_at, PipelineRun.id)
    )
    return list(rows.scalars())
