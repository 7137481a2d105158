"""Bulk actions (`control.bulk_actions`): retry all, retry a search's jobs, purge dead letters, clean, promote.

Each is an admin call that acts on many jobs, so each asks for an explicit `"confirm": true` in its
body: without it the answer is 422 `confirmation_required`, naming the field, and nothing changes.
`"dryRun": true` instead answers how many jobs the call would touch (`count`), also changing
nothing. Every reply is `{"action", "queue", "dryRun", "count", ...}`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_admin
from api.envelope import ERRORS, Envelope, ok
from control import bulk_actions, job_search
from errors import InvalidInput

router = APIRouter(tags=["bulk actions"], dependencies=[Depends(require_admin)], responses=ERRORS)

#: The most jobs one call may be told to act on (`limit`); without a limit it acts on all.
MAX_LIMIT = 10_000_000
Limit = Annotated[int | None, Field(default=None, ge=1, le=MAX_LIMIT, description="act on at most this many jobs")]


class ConfirmationRequired(InvalidInput):
    """Raised when a bulk call has neither `"confirm": true` nor `"dryRun": true` in its body."""

    code = "confirmation_required"


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(default=False, description="true to act; without it (or dryRun) the call is refused")
    dryRun: bool = Field(default=False, description="true to count what the call would touch, changing nothing")


Body_ = TypeVar("Body_", bound=BulkBody)


class RetryAllBody(BulkBody):
    status: Literal["failed", "dead"] | None = Field(default=None, description="failed, dead, or both when absent")
    limit: Limit = None


class RetrySearchBody(BulkBody):
    """The criteria of `GET /api/v1/jobs`; payload fields as an object (`{"format": "csv"}`)."""

    id: str | None = Field(default=None, max_length=200)
    queue: str | None = Field(default=None, max_length=64)
    state: str | list[str] | None = Field(default=None, description="failed, dead or both (the default)")
    publisher: str | None = Field(default=None, max_length=64)
    since: str | None = Field(default=None, max_length=64)
    until: str | None = Field(default=None, max_length=64)
    fields: dict[str, str] = Field(default_factory=dict, max_length=job_search.MAX_FIELDS)
    limit: Limit = None


class CleanAllBody(BulkBody):
    status: Literal["completed", "failed", "dead", "cancelled"] = "completed"
    gracePeriod: int = Field(default=0, ge=0, le=10 * 365 * 24 * 3600, description="seconds since finishing")
    limit: Limit = None


class PromoteBody(BulkBody):
    limit: Limit = None


def _confirmed(body: Body_ | None, action: str) -> Body_:
    """The body of a confirmed call or of a dry run; refused otherwise."""
    if body is None or not (body.confirm or body.dryRun):
        raise ConfirmationRequired(
            f'confirm: {action} acts on many jobs: send "confirm": true to do it, or "dryRun": true to count them'
        )
    return body


@router.post(
    "/queues/{queue}/retry-all",
    response_model=Envelope,
    summary="Retry every failed and/or dead job of a queue (confirm or dryRun)",
)
def retry_all(queue: str, body: Annotated[RetryAllBody | None, Body()] = None) -> Any:
    body = _confirmed(body, "retry-all")
    return ok(bulk_actions.retry_queue(queue, body.status, dry_run=body.dryRun, limit=body.limit))


@router.post(
    "/jobs/retry",
    response_model=Envelope,
    summary="Retry the failed and dead jobs a search keeps (the criteria of GET /jobs; confirm or dryRun)",
)
def retry_search(body: Annotated[RetrySearchBody | None, Body()] = None) -> Any:
    body = _confirmed(body, "retry")
    states = [body.state] if isinstance(body.state, str) else body.state
    search = job_search.build_filter(
        job_id=body.id,
        queue=body.queue,
        states=states,
        publisher=body.publisher,
        since=body.since,
        until=body.until,
        fields=list(body.fields.items()),
    )
    return ok(bulk_actions.retry_search(search, dry_run=body.dryRun, limit=body.limit))


@router.post(
    "/queues/{queue}/dead-letters/purge",
    response_model=Envelope,
    summary="Drop every dead letter of a queue and its job records (confirm or dryRun)",
)
def purge_dead_letters(queue: str, body: Annotated[BulkBody | None, Body()] = None) -> Any:
    body = _confirmed(body, "purge")
    return ok(bulk_actions.purge_dead_letters(queue, dry_run=body.dryRun))


@router.post(
    "/queues/{queue}/clean-all",
    response_model=Envelope,
    summary="Remove every record of a queue's finished jobs older than gracePeriod seconds (confirm or dryRun)",
)
def clean_all(queue: str, body: Annotated[CleanAllBody | None, Body()] = None) -> Any:
    body = _confirmed(body, "clean-all")
    return ok(bulk_actions.clean(queue, body.status, body.gracePeriod, dry_run=body.dryRun, limit=body.limit))


@router.post(
    "/queues/{queue}/promote",
    response_model=Envelope,
    summary="Run a queue's delayed jobs now (Redis; confirm or dryRun)",
)
def promote(queue: str, body: Annotated[PromoteBody | None, Body()] = None) -> Any:
    body = _confirmed(body, "promote")
    return ok(bulk_actions.promote(queue, dry_run=body.dryRun, limit=body.limit))
