"""Queue history: per-bucket throughput, failures, depth and p95 duration over the last hour, day or week."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.auth import require_read
from api.envelope import ERRORS, Envelope, ok
from control import service
from db import queue_history
from db.engine import read_connection
from db.history_figures import SPANS, window

router = APIRouter(tags=["queues"], dependencies=[Depends(require_read)], responses=ERRORS)

Range = Literal["1h", "24h", "7d"]


@router.get(
    "/queues/history",
    response_model=Envelope,
    summary="Per queue and their sum, a point per minute (1h), 15 minutes (24h) or hour (7d): "
    "completed, failed (retried + dead), depth, p95Ms",
)
def history(
    span: Annotated[Range, Query(alias="range")] = "24h",
    queue: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    queues = [service.check_queue(queue)] if queue is not None else service.queue_names()
    chosen = SPANS[span]
    start, _ = window(chosen, datetime.now(UTC))
    with read_connection() as connection:
        return ok(queue_history.history(connection, chosen, start, queues))
