"""Aggregate raw ad events into hourly / daily / weekly / monthly rollups: one set-based upsert per job.

A job covers every publisher with events in its days (registered or not), or the ones it
names (`publisher_id`, or a chunk in `publisher_ids`), optionally only those whose calendar is
one of `timezones`. Dates are local dates of each publisher's calendar (`db.rollups`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from actors._base import job_actor
from core.payloads import JobPayload, PermanentJobError
from db import rollups
from db.engine import get_engine
from db.publishers import unknown_publishers, validate_timezone
from db.rollups import Granularity

#: Publisher ids one job may name.
MAX_PUBLISHERS_PER_JOB = 10_000


class UnknownPublisher(PermanentJobError):
    """Raised when a job names a publisher that is neither registered nor has events in its days."""


class AggregationRequest(JobPayload):
    #: One publisher; omit it (and `publisher_ids`) for every publisher with events in the days.
    publisher_id: str | None = None
    #: Several publishers instead of one (the daily pipeline's chunks).
    publisher_ids: list[str] | None = Field(default=None, max_length=MAX_PUBLISHERS_PER_JOB)
    #: First day, in each publisher's calendar.
    start_date: date
    #: Last day, included; not before `start_date`.
    end_date: date
    #: Hour buckets are UTC hours; day, ISO week and month follow each publisher's calendar.
    granularity: Granularity = "day"
    #: Only publishers whose calendar is one of these IANA zones (unregistered publishers: UTC).
    timezones: list[str] | None = Field(default=None, max_length=600)

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [validate_timezone(name) for name in value]

    @model_validator(mode="after")
    def _ordered(self) -> AggregationRequest:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        if self.publisher_id is not None and self.publisher_ids is not None:
            raise ValueError("give publisher_id or publisher_ids, not both")
        return self

    @property
    def publishers(self) -> list[str] | None:
        return [self.publisher_id] if self.publisher_id is not None else self.publisher_ids


def local_days_window(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC instants that hold the local days [start, end] of every time zone (UTC-12 to UTC+14)."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC) - timedelta(days=1),
        datetime.combine(end, time.min, tzinfo=UTC) + timedelta(days=2),
    )


@job_actor(queue="analytics-aggregation", payload=AggregationRequest, tenant_field="publisher_id")
def aggregate_analytics(request: AggregationRequest) -> dict[str, Any]:
    publishers = request.publishers
    with get_engine().begin() as connection:
        if publishers:
            window = local_days_window(request.start_date, request.end_date)
            unknown = unknown_publishers(connection, publishers, *window)
            if unknown:
                names = ", ".join(map(repr, unknown[:10]))
                raise UnknownPublisher(f"aggregate_analytics: unknown publisher {names}")
        rows = rollups.aggregate_days(
            connection,
            request.granularity,
            request.start_date,
            request.end_date,
            publishers,
            timezones=request.timezones,
        )
    return {
        "rows": rows,
        "granularity": request.granularity,
        "publisher_id": request.publisher_id,
        "publishers": None if publishers is None else len(publishers),
    }
