"""Performance, revenue and quality metrics of an hour or a day, per publisher: one statement per job.

A job computes one `metric_type`, or several (`metric_types`) from the same totals.

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
from db.publisher_metrics import MetricType, TotalsSource
from db.publishers import unknown_publishers, validate_timezone


class MetricsRequest(JobPayload):
    #: One publisher; omit it (and `publisher_ids`) for every publisher with events in the period.
    publisher_id: str | None = None
    #: `performance` (CTR, fill rate), `revenue` (eCPM, RPM, top ad unit), `quality` (unfilled, suspicious CTR);
    #: this or `metric_types` is required.
    metric_type: MetricType | None = None
    #: Several types instead of one, computed from one read of the totals (the daily pipeline's jobs).
    metric_types: list[MetricType] | None = Field(default=None, min_length=1, max_length=3)
    #: `YYYY-MM-DDTHH` for a UTC hour, `YYYY-MM-DD` for a day (each publisher's local day).
    period: str
    #: Several publishers instead of one (the daily pipeline's chunks).
    publisher_ids: list[str] | None = Field(default=None, max_length=MAX_PUBLISHERS_PER_JOB)
    #: Only publishers whose calendar is one of these IANA zones (unregistered publishers: UTC).
    timezones: list[str] | None = Field(default=None, max_length=600)

    #: `events` (the raw events) or `rollups`: the period's hour or day rollups, the same sums when they are
    #: up to date (the daily pipeline's jobs, after its aggregation stage; late events recompute from events).
    source: TotalsSource = "events"

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [validate_timezone(name) for name in value]

    @model_validator(mode="after")
    def _one_selection(self) -> MetricsRequest:
        if self.publisher_id is not None and self.publisher_ids is not None:
            raise ValueError("give publisher_id or publisher_ids, not both")
        if (self.metric_type is None) == (self.metric_types is None):
            raise ValueError("give metric_type or metric_types (one of them)")
        return self

    @property
    def kinds(self) -> list[MetricType]:
        """The metric types to compute, in order, each once."""
        return list(dict.fromkeys(self.metric_types or [self.metric_type]))  # type: ignore[list-item]

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
            request.kinds,
            request.period,
            publisher_ids=publishers,
            timezones=request.timezones,
            source=request.source,
        )
    kinds: dict[str, Any] = (
        {"metric_type": request.metric_type} if request.metric_types is None else {"metric_types": request.kinds}
    )
    return {**kinds, "period": request.period, "publishers": written}
