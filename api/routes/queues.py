"""Queues and their jobs: counts, listing, sending, cancel, retry, pause, resume, clean, drain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query

from api.auth import require_admin, require_read
from api.envelope import ERRORS, Envelope, ok
from api.errors import Unprocessable
from api.schemas import CleanRequest, JobRequest, unstorable
from control import job_search, service
from runtime import metrics_recorder

router = APIRouter(tags=["queues"], dependencies=[Depends(require_read)], responses=ERRORS)
Admin = [Depends(require_admin)]
State = Literal["waiting", "delayed", "active", "completed", "failed", "dead", "cancelled"]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/queues/metrics", response_model=Envelope, summary="Every queue's counts per state and paused flag")
def all_queue_metrics() -> Any:
    return ok(service.queue_metrics())


@router.get("/queues/throughput", response_model=Envelope, summary="Jobs finished per minute per queue, the last hour")
def throughput(minutes: Annotated[int, Query(ge=1, le=120)] = 60) -> Any:
    return ok(metrics_recorder.throughput(minutes))


@router.get("/queues/{queue}/metrics", response_model=Envelope, summary="One queue: counts and last-hour figures")
def queue_metrics(queue: str) -> Any:
    return ok(service.queue_stats(queue))


@router.get(
    "/queues/{queue}/jobs",
    response_model=Envelope,
    summary="Jobs of a queue, newest first (ties by id); `page` holds the total",
)
def list_jobs(queue: str, status: State | None = None, limit: Limit = 50, offset: Offset = 0) -> Any:
    found = job_search.queue_page(queue, status, limit, offset)
    return ok(found["jobs"], page=job_search.page_meta(found))


@router.post(
    "/queues/{queue}/jobs",
    response_model=Envelope,
    status_code=201,
    dependencies=Admin,
    summary="Send a job (priority, delay, runAt, jobId dedupe)",
)
def send_job(queue: str, request: JobRequest) -> Any:
    if bad := unstorable(request.data):
        raise Unprocessable(f"{bad}: NUL characters and NaN or infinite numbers cannot be stored")
    if request.options.jobId is not None and "\x00" in request.options.jobId:
        raise Unprocessable("options.jobId: NUL characters are not allowed")
    options = request.options.model_dump(exclude_none=True)
    return ok(service.enqueue(queue, request.jobName, request.data, options))


@router.get("/queues/{queue}/jobs/{jobId}", response_model=Envelope, summary="One job")
def get_job(queue: str, jobId: str) -> Any:
    return ok(service.get_job(queue, jobId))


@router.delete(
    "/queues/{queue}/jobs/{jobId}",
    response_model=Envelope,
    dependencies=Admin,
    summary="Cancel a waiting or delayed job",
)
def cancel_job(queue: str, jobId: str) -> Any:
    return ok(service.cancel(queue, jobId))


@router.post(
    "/queues/{queue}/jobs/{jobId}/retry",
    response_model=Envelope,
    dependencies=Admin,
    summary="Re-run a failed or dead job",
)
def retry_job(queue: str, jobId: str) -> Any:
    return ok(service.retry(queue, jobId))


@router.post("/queues/{queue}/pause", response_model=Envelope, dependencies=Admin, summary="Stop starting jobs")
def pause(queue: str) -> Any:
    return ok(service.pause(queue))


@router.post("/queues/{queue}/resume", response_model=Envelope, dependencies=Admin, summary="Start jobs again")
def resume(queue: str) -> Any:
    return ok(service.resume(queue))


@router.post(
    "/queues/{queue}/clean", response_model=Envelope, dependencies=Admin, summary="Remove finished job records"
)
def clean(queue: str, request: Annotated[CleanRequest | None, Body()] = None) -> Any:
    request = request or CleanRequest()
    return ok(service.clean(queue, request.gracePeriod, request.status, request.limit))


@router.post(
    "/queues/{queue}/drain", response_model=Envelope, dependencies=Admin, summary="Remove waiting and delayed jobs"
)
def drain(queue: str) -> Any:
    return ok(service.drain(queue))


@router.get("/jobs/failed", response_model=Envelope, summary="Failed and dead jobs across queues, newest first")
def failed_jobs(limit: Limit = 50, offset: Offset = 0) -> Any:
    found = job_search.across_queues(("failed", "dead"), limit, offset)
    return ok(found["jobs"], page=job_search.page_meta(found))


@router.get("/jobs/active", response_model=Envelope, summary="Running jobs across queues")
def active_jobs(limit: Limit = 50, offset: Offset = 0) -> Any:
    found = job_search.across_queues(("active",), limit, offset)
    return ok(found["jobs"], page=job_search.page_meta(found))
