"""`/health` and `/metrics`: no token, for load balancers, orchestrators and Prometheus.

Without a valid token `/health` says only the overall status and each service's status
word; host names, worker ids (host:pid), queue figures and error texts need a read or
admin token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security.utils import get_authorization_scheme_param

from api.auth import role_of
from observability.health import check_health
from observability.prometheus_exposition import exposition

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="Health of PostgreSQL, Redis, the queues, the workers and the scheduler",
    responses={503: {"description": "unhealthy: PostgreSQL or Redis cannot be used"}},
)
def health(request: Request) -> Any:
    report = check_health()
    status_code = 503 if report["status"] == "unhealthy" else 200
    # Read by hand, not as a dependency: the OpenAPI document must not say a token is required.
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not token.strip() or role_of(token.strip()) is None:
        report = summary(report)
    return JSONResponse(report, status_code=status_code)


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without details: `{"status", "services": {name: {"status"}}}`."""
    services = report.get("services", {})
    return {"status": report["status"], "services": {name: {"status": s["status"]} for name, s in services.items()}}


@router.get("/metrics", summary="Prometheus exposition", response_class=Response)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(content=body, media_type=content_type)
