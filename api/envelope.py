"""The API's reply envelope: `{"success": true, "data": ...}` or `{"success": false, "error": {...}}`.

A paged listing whose `data` is its items adds `"page": {"total", "limit", "offset"}`.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorBody


class Page(BaseModel):
    """Where a listing's `data` sits among everything the listing holds (absent on other replies)."""

    total: int
    limit: int
    offset: int


class Envelope(BaseModel):
    success: bool = True
    data: Any = None
    page: Page | None = Field(default=None, exclude_if=lambda value: value is None)


def ok(data: Any, page: dict[str, int] | None = None) -> dict[str, Any]:
    return {"success": True, "data": data} if page is None else {"success": True, "data": data, "page": page}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"success": False, "error": {"code": code, "message": message}},
        headers=headers,
    )


#: Declared on every route, so the OpenAPI document tells clients the error shape.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "no valid bearer token"},
    403: {"model": ErrorEnvelope, "description": "a read token on a call that changes something"},
    404: {"model": ErrorEnvelope, "description": "unknown queue, job, schedule, pipeline run or export"},
    409: {"model": ErrorEnvelope, "description": "the job is not in a state the operation applies to"},
    422: {"model": ErrorEnvelope, "description": "invalid body or parameters"},
    503: {"model": ErrorEnvelope, "description": "Redis or PostgreSQL cannot be reached"},
}
