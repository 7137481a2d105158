"""Request bodies of the HTTP API (CONTRACT.md's camelCase names); unknown fields are refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.send_limits import MAX_DEDUPE_KEY, MAX_DELAY_MS, unstorable

__all__ = ["CleanRequest", "ExportBody", "JobOptions", "JobRequest", "unstorable"]

PriorityName = Literal["CRITICAL", "HIGH", "NORMAL", "LOW", "BACKGROUND"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobOptions(_Body):
    priority: PriorityName | Annotated[int, Field(ge=1, le=10)] | None = Field(
        default=None, description="1-10 (lower runs first) or a name"
    )
    delay: int | None = Field(default=None, ge=0, le=MAX_DELAY_MS, description="milliseconds before it may run")
    runAt: datetime | None = Field(
        default=None, description="ISO time it may run at (UTC when no offset), at most 7 days ahead"
    )
    jobId: str | None = Field(default=None, min_length=1, max_length=MAX_DEDUPE_KEY, description="dedupe key")
    tenant: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="whose job it is (fair turns, limits per tenant); publisher-scoped jobs default to their publisher",
    )


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
    csvEscapeFormulas: bool = Field(
        default=True,
        description="CSV: prefix text cells starting with =, +, -, @, tab or CR with ' (off for machine consumers)",
    )
