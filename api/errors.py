"""The API's one error mapping: every error leaves as the envelope, with the status its kind carries.

A project error (`errors.JobsError` and its kinds) answers its `http_status` and `code`; a
driver's "server away" answers as `errors.ServiceUnavailable` (503); FastAPI's validation
errors and a body that is not JSON answer 422; Starlette's own statuses (404 no route, 405
with the path's `Allow`, 413 body over the limit) keep theirs. Anything else is a bug:
500, logged. The routes raise the kinds re-exported here (`NotFound`, `Conflict`,
`Unprocessable`) or the services' own errors, which subclass them.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from api.envelope import error
from api.security_headers import HEADERS
from errors import Conflict, InvalidInput, JobsError, NotFound, ServiceUnavailable, Unauthorized
from errors.drivers import UNREACHABLE, UNREACHABLE_MESSAGE, as_jobs_error

__all__ = ["Conflict", "NotFound", "Unprocessable", "install_error_handlers"]

logger = logging.getLogger(__name__)

#: `error.code` of the statuses Starlette raises itself.
_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "bad_media"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: What a client reads of an error of ours that is a 500: the details are in the log.
_INTERNAL_MESSAGE = "an internal error occurred; it has been logged"


class Unprocessable(InvalidInput):
    """Raised when input passed the schema but cannot be used (a NUL character, a range too long)."""


def answer(request: Request, exc: JobsError) -> JSONResponse:
    """The envelope for a project error, from its kind's `http_status` and `code`."""
    status = exc.http_status
    if status >= 500 and status != 503:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(status, exc.code, _INTERNAL_MESSAGE)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if exc.public_message is not None:  # the detail (hosts, names) is for the log, not the client
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return error(status, exc.code, exc.public_message, headers)
    return error(status, exc.code, str(exc), headers)


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


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on `app`: one handler per source of errors, none per error class."""

    @app.exception_handler(JobsError)
    async def _ours(request: Request, exc: JobsError) -> JSONResponse:
        return answer(request, exc)

    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("%s %s: a backing service is unreachable: %s", request.method, request.url.path, exc)
        return answer(request, as_jobs_error(exc, detail=False) or ServiceUnavailable(UNREACHABLE_MESSAGE))

    for kind in UNREACHABLE:
        app.add_exception_handler(kind, _unreachable)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(InvalidInput.http_status, InvalidInput.code, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that cannot be read as JSON: an invalid body like any other
            return error(InvalidInput.http_status, InvalidInput.code, f"body: {exc.detail}")
        headers = dict(exc.headers) if exc.headers else None
        detail = str(exc.detail)
        if exc.status_code == 405 and (allowed := _allowed_methods(app, request)):
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error(exc.status_code, code, detail, headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        # Sent by the outermost middleware, past the security headers' one: they are added here.
        return error(500, JobsError.code, _INTERNAL_MESSAGE, HEADERS)
