"""Performance, revenue and quality metrics of an hour or a day, per publisher."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from actors._base import JobPayload, PermanentJobError, job_actor
from db import metrics
from db.engine import get_engine
from db.metrics import MetricType
from db.publishers import publisher_known


class MetricsRequest(JobPayload):
    publisher_id: str | None = None
    metric_type: MetricType
    #: `YYYY-MM-DDTHH` for an hour, `YYYY-MM-DD` for a day (UTC).
    period: str

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        metrics.parse_period(value)
        return value


@job_actor(queue="metrics-calculation", payload=MetricsRequest)
def calculate_metrics(request: MetricsRequest) -> dict[str, Any]:
    with get_engine().begin() as connection:
        if request.publisher_id is not None and not publisher_known(connection, request.publisher_id):
            raise PermanentJobError(f"calculate_metrics: unknown publisher {request.publisher_id!r}")
        written = metrics.compute_metrics(connection, request.metric_type, request.period, request.publisher_id)
    return {"metric_type": request.metric_type, "period": request.period, "publishers": written}
