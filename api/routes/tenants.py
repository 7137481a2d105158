"""Tenants: a queue's top tenants by backlog (waiting, active, tier), and setting a publisher's tier."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_admin, require_read
from api.envelope import ERRORS, Envelope, ok
from control import publisher_tiers, service
from observability import tenants

router = APIRouter(tags=["tenants"], dependencies=[Depends(require_read)], responses=ERRORS)


class TierBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: str = Field(min_length=1, max_length=32, description="standard, premium, or one named by TIERS__<TIER>__...")


@router.get(
    "/queues/{queue}/tenants",
    response_model=Envelope,
    summary="A queue's tenants with the most jobs waiting: waiting, active, tier",
)
def queue_tenants(queue: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Any:
    service.check_queue(queue)
    return ok(tenants.queue_tenants(queue, limit))


@router.put(
    "/publishers/{publisherId}/tier",
    response_model=Envelope,
    dependencies=[Depends(require_admin)],
    summary="Set a publisher's tier (its jobs' default priority and limit factor)",
)
def set_tier(publisherId: str, body: TierBody) -> Any:
    return ok(publisher_tiers.set_publisher_tier(publisherId, body.tier))
