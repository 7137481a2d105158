"""Data freshness: per publisher and local day, when its rollups were last brought up to date."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import require_read
from api.envelope import ERRORS, Envelope, ok
from api.errors import Unprocessable
from core.send_limits import EARLIEST_DATE, LATEST_DATE
from db.engine import get_engine
from db.freshness import freshness

router = APIRouter(tags=["analytics"], dependencies=[Depends(require_read)], responses=ERRORS)

#: The longest range one request may ask for, in days.
MAX_DAYS = 366


@router.get(
    "/analytics/freshness",
    response_model=Envelope,
    summary="Per publisher and day: refreshedAt, and whether events arrived since (stale, staleSince)",
)
def rollup_freshness(
    start_date: Annotated[date, Query(alias="startDate")],
    end_date: Annotated[date, Query(alias="endDate")],
    publisher_id: Annotated[str | None, Query(alias="publisherId", min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    for name, day in (("startDate", start_date), ("endDate", end_date)):
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            raise Unprocessable(f"{name}: {day} is outside {EARLIEST_DATE} to {LATEST_DATE}")
    if end_date < start_date:
        raise Unprocessable(f"endDate: {end_date} is before startDate {start_date}")
    if (end_date - start_date).days >= MAX_DAYS:
        raise Unprocessable(f"endDate: the range may span at most {MAX_DAYS} days")
    if publisher_id is not None and "\x00" in publisher_id:
        raise Unprocessable("publisherId: NUL characters are not allowed")
    with get_engine().connect() as connection:
        return ok(freshness(connection, start_date, end_date, publisher_id, limit, offset))
