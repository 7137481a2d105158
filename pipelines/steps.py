"""`advance_pipeline`: a stage's group completion callback, which enqueues the next stage."""

from __future__ import annotations

from actors._base import JobPayload, job_actor


class AdvanceRequest(JobPayload):
    run_id: str
    stage: int


@job_actor(queue="pipelines", payload=AdvanceRequest)
def advance_pipeline(request: AdvanceRequest) -> dict[str, object]:
    from pipelines.daily import enqueue_stage

    job_ids = enqueue_stage(request.run_id, request.stage)
    return {"stage": request.stage, "jobs": len(job_ids)}
