"""The queues' figures: CONTRACT.md's queues table as defaults, each figure overridable by environment.

`QUEUES__DATA_EXPORT__RATE_LIMIT=40` changes one figure of one queue and keeps its others;
`Settings.queue(name)` resolves a queue's figures with the global defaults filled in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The queue names of CONTRACT.md, in the order operators see them.
QUEUE_NAMES = (
    "analytics-aggregation",
    "data-export",
    "report-generation",
    "metrics-calculation",
    "cache-warming",
    "cleanup",
    "event-ingestion",
)


class QueueSettings(BaseModel):
    """The figures of one queue. `None` attempts or backoff fall back to the global defaults."""

    concurrency: int = Field(default=0, ge=0)  # 0: no cluster-wide limit
    rate_limit: int = Field(default=0, ge=0)  # jobs started per window, 0: no limit
    rate_window: int = Field(default=60, ge=1)  # seconds
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_delay: int | None = Field(default=None, ge=0)  # ms
    time_limit: int = Field(default=600_000, ge=1000)  # ms per attempt


#: CONTRACT.md's queues table: the figures a queue has unless the environment changes one of them.
QUEUE_DEFAULTS: dict[str, dict[str, int]] = {
    "analytics_aggregation": {"concurrency": 3, "rate_limit": 10, "time_limit": 3_600_000},
    "data_export": {"concurrency": 2, "rate_limit": 20, "time_limit": 3_600_000},
    "report_generation": {"concurrency": 2},
    "metrics_calculation": {"concurrency": 5},
    "cache_warming": {"concurrency": 3},
    "cleanup": {"concurrency": 1, "max_attempts": 1, "time_limit": 3_600_000},
    # Event files: two loads at a time (each a COPY holding a connection), an hour per file, no rate limit.
    "event_ingestion": {"concurrency": 2, "time_limit": 3_600_000},
}


class QueuesSettings(BaseModel):
    """Per-queue figures, CONTRACT.md's queues table; other queues may be added the same way.

    Setting one figure (`QUEUES__DATA_EXPORT__RATE_LIMIT=40`) keeps the queue's other figures.
    """

    model_config = ConfigDict(extra="allow")

    analytics_aggregation: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["analytics_aggregation"])
    data_export: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["data_export"])
    report_generation: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["report_generation"])
    metrics_calculation: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["metrics_calculation"])
    cache_warming: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["cache_warming"])
    cleanup: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["cleanup"])
    event_ingestion: QueueSettings = QueueSettings(**QUEUE_DEFAULTS["event_ingestion"])

    @model_validator(mode="before")
    @classmethod
    def _keep_the_other_figures(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, defaults in QUEUE_DEFAULTS.items():
            given = merged.get(name)
            if isinstance(given, dict):
                merged[name] = {**defaults, **given}
        return merged


class ResolvedQueue(BaseModel):
    """A queue's figures after defaults are applied."""

    name: str
    concurrency: int
    rate_limit: int
    rate_window: int
    max_attempts: int
    backoff_delay: int
    time_limit: int
