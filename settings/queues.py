"""The queues' figures: CONTRACT.md's queues table as defaults, each figure overridable by environment.

`QUEUES__DATA_EXPORT__RATE_LIMIT=40` changes one figure of one queue and keeps its others;
`Settings.queue(name)` resolves a queue's figures with the global defaults filled in.

A misspelling is refused, not ignored: a figure that is not one (`...__CONCURENCY`), or a queue
name a letter or two away from one of CONTRACT.md's (`QUEUES__DATA_EXPRT__...`), is a one-line
error naming the valid ones. Any other queue name is an extension's (a test's, a benchmark's)
and is accepted here; a worker refuses it when none of its actors uses that queue
(`middleware.queue_limits` asks `unknown_queues`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

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
    # Per tenant (a job's `options["tenant"]`, the publisher of an export ...), cluster-wide like the
    # queue's own; a tenant tier's LIMIT_FACTOR multiplies them (`settings.tiers`).
    tenant_concurrency: int = Field(default=0, ge=0)  # 0: no limit per tenant
    tenant_rate_limit: int = Field(default=0, ge=0)  # a tenant's jobs started per window, 0: no limit
    tenant_rate_window: int = Field(default=60, ge=1)  # seconds


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


#: `pydantic` error type of a misspelled queue setting; its message already names the variable.
MISNAMED = "misnamed_setting"
#: An unknown queue name at least this similar to one of CONTRACT.md's is taken for a misspelling of it.
MISSPELLING_CUTOFF = 0.8


def variable(queue: str, figure: str | None = None) -> str:
    """The environment name of a queue's setting: `QUEUES__DATA_EXPORT__CONCURRENCY` (`QUEUES__DATA_EXPORT__*`)."""
    return f"QUEUES__{queue.replace('-', '_').upper()}__{(figure or '*').upper()}"


def _variable_given(queue: str, given: Any) -> str:
    """The variable as the environment spelled it: the queue's name with the first figure given for it."""
    return variable(queue, next(iter(given), None) if isinstance(given, dict) else None)


def _queue_names_text() -> str:
    return ", ".join(QUEUE_NAMES)


def _figure_names_text() -> str:
    return ", ".join(name.upper() for name in QueueSettings.model_fields)


def _did_you_mean(figure: str, figures: list[str]) -> str:
    close = difflib.get_close_matches(figure, figures, n=1, cutoff=0.6)
    return f" (did you mean {close[0].upper()}?)" if close else ""


def _refuse_misspellings(data: dict[str, Any]) -> None:
    """Raise a `MISNAMED` error for a figure that is none, or a queue name one letter or two off CONTRACT.md's."""
    known = [name.replace("-", "_") for name in QUEUE_NAMES]
    figures = list(QueueSettings.model_fields)
    for key, given in data.items():
        queue = str(key).lower()
        close = [] if queue in known else difflib.get_close_matches(queue, known, n=1, cutoff=MISSPELLING_CUTOFF)
        if close:
            raise PydanticCustomError(
                MISNAMED,
                "{variable}: no queue '{queue}' (did you mean {meant}?); the queues are {queues}",
                {
                    "variable": _variable_given(queue, given),
                    "queue": queue.replace("_", "-"),
                    "meant": close[0].replace("_", "-"),
                    "queues": _queue_names_text(),
                },
            )
        for figure in given if isinstance(given, dict) else ():
            if str(figure).lower() not in figures:
                raise PydanticCustomError(
                    MISNAMED,
                    "{variable}: no figure {figure}{hint}; the figures of a queue are {figures}",
                    {
                        "variable": variable(queue, str(figure)),
                        "figure": str(figure).upper(),
                        "hint": _did_you_mean(str(figure).lower(), figures),
                        "figures": _figure_names_text(),
                    },
                )


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
        _refuse_misspellings(data)
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
    tenant_concurrency: int = 0
    tenant_rate_limit: int = 0
    tenant_rate_window: int = 60


def unknown_queues(queues: QueuesSettings, declared: Iterable[str]) -> dict[str, str]:
    """Queues given figures in the environment that are neither CONTRACT.md's nor in `declared`: name → variable.

    A worker asks this with its actors' queues (`middleware.queue_limits`): a figure for a queue it
    does not know is a misspelling the settings alone could not tell from an extension's queue.
    """
    known = {name.replace("-", "_") for name in (*QUEUE_NAMES, *declared)}
    return {
        name.replace("_", "-"): _variable_given(name, given)
        for name, given in (queues.model_extra or {}).items()
        if name not in known
    }
