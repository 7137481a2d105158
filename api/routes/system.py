"""`/health` and `/metrics`: no token, for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from observability.health import check_health
from observability.metrics import exposition

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="Health of PostgreSQL, Redis, the queues, the workers and the scheduler",
    responses={503: {"description": "unhealthy: PostgreSQL or Redis cannot be used"}},
)
def health() -> Any:
    report = check_health()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.get("/metrics", summary="Prometheus exposition", response_class=Response)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(content=body, media_type=content_type)
