"""Workers and beats: each worker process with the jobs it runs now and for how long, each beat with its last tick."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.auth import require_read
from api.envelope import ERRORS, Envelope, ok
from observability import workers as who

router = APIRouter(tags=["workers"], dependencies=[Depends(require_read)], responses=ERRORS)


@router.get(
    "/workers",
    response_model=Envelope,
    summary="Worker processes (host, PID, queues, threads, started, last heartbeat, jobs running now); beats",
)
def workers() -> Any:
    return ok(who.report())
