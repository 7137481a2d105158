"""The admin API and dashboard application: `create_app()` for uvicorn (`jobsctl api`).

Every error leaves as the envelope `{"success": false, "error": {"code", "message"}}`:
401/403 from the token check, 404 for unknown queues, jobs, schedules, pipeline runs and
exports, 405 with the path's `Allow`, 409 for an operation the job's state does not allow,
413 for a body over API_MAX_BODY_BYTES (refused before it is read), 422 for invalid input,
503 when Redis or PostgreSQL cannot be reached. Anything else is a bug, answered 500 and
logged. Every reply carries the security headers of `api.security_headers`.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from api.auth import AuthError
from api.body_limit import BodyLimit
from api.envelope import error
from api.errors import Conflict, NotFound, Unprocessable
from api.security_headers import HEADERS, POLICY, SecureASGIMiddleware
from settings import get_settings

logger = logging.getLogger(__name__)

_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "bad_media"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    message = f"{_field(tuple(first.get('loc', ())))}: {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route fully serves at this path (Starlette's 405 names only the first route's).

    Asked of the routes themselves, method by method, so routers included in routers count too.
    Mounts (static files) match every method and answer their own 405, so they are left out.
    """
    routes = [route for route in app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def _install_error_handlers(app: FastAPI) -> None:
    from actors._base import InvalidPayload
    from control.service import InvalidJobState, InvalidRequest, JobNotFound, UnknownQueue
    from db.exports import ExportNotFound
    from scheduling.registry import UnknownSchedule

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that cannot be read as JSON: an invalid body like any other
            return error(422, "invalid_request", f"body: {exc.detail}")
        headers = dict(exc.headers) if exc.headers else None
        detail = str(exc.detail)
        if exc.status_code == 405 and (allowed := _allowed_methods(app, request)):
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error(exc.status_code, code, detail, headers)

    def answer(status: int, code: str) -> Any:
        async def handler(_: Request, exc: Exception) -> JSONResponse:
            return error(status, code, str(exc))

        return handler

    for kind in (UnknownQueue, JobNotFound, UnknownSchedule, ExportNotFound, NotFound):
        app.add_exception_handler(kind, answer(404, "not_found"))
    for kind in (InvalidJobState, Conflict):
        app.add_exception_handler(kind, answer(409, "invalid_state"))
    for kind in (InvalidRequest, InvalidPayload, Unprocessable):
        app.add_exception_handler(kind, answer(422, "invalid_request"))

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("%s %s: a backing service is unreachable: %s", request.method, request.url.path, exc)
        return error(503, "unavailable", "Redis or PostgreSQL cannot be reached; try again shortly")

    for kind in (redis.ConnectionError, redis.TimeoutError, OperationalError):
        app.add_exception_handler(kind, unavailable)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        # Sent by the outermost middleware, past the security headers' one: they are added here.
        return error(500, "internal_error", "an internal error occurred; it has been logged", HEADERS)


def create_app() -> FastAPI:
    from jobsctl.runtime import load_actors

    load_actors()
    import schedules  # noqa: F401  (registers the schedule table)
    from api import dashboard, docs
    from api.routes import exports, freshness, operations, queues, system

    limit = get_settings().api_max_body_bytes
    app = FastAPI(
        title="adjobs admin API",
        version="1",
        description="Queues, jobs, schedules, pipelines and exports of the ad-analytics job system.",
        openapi_url="/openapi.json",
        docs_url=None,  # `api.docs` serves Swagger UI from local files
        redoc_url=None,
    )
    _install_error_handlers(app)
    # The last added runs first: security headers on every reply, then the body limit.
    app.add_middleware(BodyLimit, limit=limit)
    app.add_middleware(SecureASGIMiddleware, secure=POLICY)
    app.include_router(system.router)
    app.include_router(queues.router, prefix="/api/v1")
    app.include_router(operations.router, prefix="/api/v1")
    app.include_router(exports.router, prefix="/api/v1")
    app.include_router(freshness.router, prefix="/api/v1")
    docs.install(app)
    dashboard.install(app)
    return app
