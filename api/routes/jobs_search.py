"""Job search across queues: `GET /api/v1/jobs`, one page and the total (`control.job_search`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.auth import require_read
from api.envelope import ERRORS, Envelope, ok
from control import job_search

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_read)], responses=ERRORS)

DESCRIPTION = """Jobs of every queue (or of `queue`) that match every criterion given, newest first
(ties broken by id, so pages keep one order), with the total they make.

- `id`: a job id or the start of one;
- `state`: repeat it or separate states by commas (`state=failed,dead`);
- `publisher`: the publisher the payload names (`publisher_id` or `publisherId`);
- `field.<name>=value`: a payload field reads `value` (its text: `field.format=csv`, `field.dry_run=true`);
  nested fields join their keys by dots (`field.filters.country=US`); repeat for several;
- `since` (inclusive) and `until` (exclusive) on the time of enqueue: ISO 8601 (no offset = UTC)
  or a span back from now (`90m`, `6h`, `7d`).

`data` is `{"jobs": [...], "total", "limit", "offset"}`; each job as `GET /queues/{queue}/jobs/{jobId}` shows it."""


@router.get(
    "/jobs",
    response_model=Envelope,
    summary="Search jobs across queues, paged, with the total",
    description=DESCRIPTION,
)
def search_jobs(
    request: Request,
    id: Annotated[str | None, Query(max_length=200, description="A job id or its first characters.")] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[
        list[str] | None, Query(description="waiting, delayed, active, completed, failed, dead, cancelled")
    ] = None,
    publisher: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601 or a span back from now (6h).")] = None,
    until: Annotated[str | None, Query(max_length=64, description="ISO 8601 or a span back from now.")] = None,
    limit: Annotated[int, Query(ge=1, le=job_search.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=job_search.MAX_OFFSET)] = 0,
) -> Any:
    params = {
        "job_id": id,
        "queue": queue,
        "states": state,
        "publisher": publisher,
        "since": since,
        "until": until,
        "fields": job_search.fields_of_query(request.query_params.multi_items()),
    }
    return ok(job_search.search(params, limit, offset))
