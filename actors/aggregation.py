"""Aggregate raw ad events into hourly / daily / weekly / monthly rollups: one SQL upsert per job."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import model_validator

from actors._base import JobPayload, PermanentJobError, job_actor
from db import rollups
from db.engine import get_engine
from db.rollups import Granularity


class UnknownPublisher(PermanentJobError):
    """Raised when a job names a publisher the database does not know."""


class AggregationRequest(JobPayload):
    publisher_id: str | None = None
    start_date: date
    end_date: date
    granularity: Granularity = "day"

    @model_validator(mode="after")
    def _ordered(self) -> AggregationRequest:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


@job_actor(queue="analytics-aggregation", payload=AggregationRequest)
def aggregate_analytics(request: AggregationRequest) -> dict[str, Any]:
    with get_engine().begin() as connection:
        if request.publisher_id is not None and not rollups.publisher_known(connection, request.publisher_id):
            raise UnknownPublisher(f"aggregate_analytics: unknown publisher {request.publisher_id!r}")
        rows = rollups.upsert_rollups(
            connection, request.granularity, request.start_date, request.end_date, request.publisher_id
        )
    return {"rows": rows, "granularity": request.granularity, "publisher_id": request.publisher_id}
