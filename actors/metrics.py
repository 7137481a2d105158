"""Performance, revenue and quality metrics of an hour or a day, per publisher: one statement per job.

A job covers every publisher with events in the period (registered or not), or the ones it
names (`publisher_id`, or a chunk in `publisher_ids`), optionally only those whose calendar is
one of `timezones`. A day is each publisher's local day (`db.publisher_metrics`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from actors._base import job_actor
from actors.aggregation import MAX_PUBLISHERS_PER_JOB
from core.payloads import JobPayload, PermanentJobError
from db import publisher_metrics
from db.engine import get_engine
from db.publisher_metrics import MetricType
from db.publishers import unknown_publishers, validate_timezone


class MetricsRequest(JobPayload):
    #: One publisher; omit it (and `publisher_ids`) for every publisher with events in the period.
    publisher_id: str | None = None
    #: `performance` (CTR, fill rate), `revenue` (eCPM, RPM, top ad unit), `quality` (unfilled, suspicious CTR).
    metric_type: MetricType
    #: `YYYY-MM-DDTHH` for a UTC hour, `YYYY-MM-DD` for a day (each publisher's local day).
    period: str
    #: Several publishers instead of one (the daily pipeline's chunks).
    publisher_ids: list[str] | None = Field(default=None, max_length=MAX_PUBLISHERS_PER_JOB)
    #: Only publishers whose calendar is one of these IANA zones (unregistered publishers: UTC).
    timezones: list[str] | None = Field(default=None, max_length=600)

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [validate_timezone(name) for name in value]

    @model_validator(mode="after")
    def _one_selection(self) -> MetricsRequest:
        if self.publisher_id is not None and self.publisher_ids is not None:
            raise ValueError("give publisher_id or publisher_ids, not both")
        return self

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        publisher_metrics.parse_period(value)
        return value


@job_actor(queue="metrics-calculation", payload=MetricsRequest, tenant_field="publisher_id")
def calculate_metrics(request: MetricsRequest) -> dict[str, Any]:
    publishers = [request.publisher_id] if request.publisher_id is not None else request.publisher_ids
    _, start, end = publisher_metrics.parse_period(request.period)
    with get_engine().begin() as connection:
        if publishers:
            # Registered, or with events within a day of the period (local days of any zone).
            unknown = unknown_publishers(connection, publishers, start - timedelta(days=1), end + timedelta(days=1))
            if unknown:
                names = ", ".join(map(repr, unknown[:10]))
                raise PermanentJobError(f"calculate_metrics: unknown publisher {names}")
        written = publisher_metrics.compute_metrics(
            connection,
            request.metric_type,
            request.period,
            publisher_ids=publishers,
            timezones=request.timezones,
        )
    return {"metric_type": request.metric_type, "period": request.period, "publishers": written}
