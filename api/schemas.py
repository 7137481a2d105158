"""Request bodies of the HTTP API (CONTRACT.md's camelCase names); unknown fields are refused."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_DELAY_MS = 7 * 24 * 3600 * 1000
PriorityName = Literal["CRITICAL", "HIGH", "NORMAL", "LOW", "BACKGROUND"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobOptions(_Body):
    priority: PriorityName | Annotated[int, Field(ge=1, le=10)] | None = Field(
        default=None, description="1-10 (lower runs first) or a name"
    )
    delay: int | None = Field(default=None, ge=0, le=MAX_DELAY_MS, description="milliseconds before it may run")
    runAt: datetime | None = Field(default=None, description="ISO time it may run at (UTC when no offset)")
    jobId: str | None = Field(default=None, min_length=1, max_length=200, description="dedupe key")


class JobRequest(_Body):
    jobName: str = Field(min_length=1, max_length=200, description="the actor name, e.g. aggregate_analytics")
    data: dict[str, Any] = Field(default_factory=dict, description="the payload (camelCase or snake_case names)")
    options: JobOptions = Field(default_factory=JobOptions)


class CleanRequest(_Body):
    gracePeriod: int = Field(default=0, ge=0, le=10 * 365 * 24 * 3600, description="seconds since finishing")
    status: Literal["completed", "failed", "dead", "cancelled"] = "completed"
    limit: int = Field(default=1000, ge=1, le=100_000)


class ExportFiltersBody(_Body):
    country: str | list[str] | None = None
    device: str | list[str] | None = None
    adUnitId: str | list[str] | None = None


class ExportBody(_Body):
    publisherId: str = Field(min_length=1, max_length=64)
    format: Literal["csv", "json", "jsonl"]
    startDate: date
    endDate: date
    granularity: Literal["raw", "hour", "day", "week", "month"] = "day"
    filters: ExportFiltersBody = Field(default_factory=ExportFiltersBody)


def unstorable(value: Any, path: str = "data") -> str | None:
    """The path of the first value PostgreSQL's JSON and text types cannot hold (NUL, NaN), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(key, path) or unstorable(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None
