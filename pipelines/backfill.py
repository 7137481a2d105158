"""Backfill: rebuild every rollup of a date range, split by day so the work spreads over workers.

`INSERT ... SELECT` never runs in parallel inside PostgreSQL, so one statement for a month of
events keeps one core busy; a job per day (all publishers in one statement, a fifth of the cost
of one statement per publisher) lets every worker take a day. Stage one rolls up hours and days,
one job per day and granularity; stage two, once every day is done, rolls up each ISO week and
each month the range touches, one job per bucket. It runs on the pipelines' machinery
(`pipelines.steps`): a run record, groups, completion callbacks, `retry_run`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dramatiq
from dramatiq import group

from actors.aggregation import aggregate_analytics
from actors.metrics import calculate_metrics
from pipelines.steps import PipelineRunStarted, Stages, register_pipeline, start_run

PIPELINE = "backfill"


def _days(params: dict[str, Any]) -> list[date]:
    start, end = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def _aggregate(run_id: str, start: date, end: date, granularity: str) -> dramatiq.Message:  # type: ignore[type-arg]
    return aggregate_analytics.message_with_options(
        kwargs={"start_date": start.isoformat(), "end_date": end.isoformat(), "granularity": granularity},
        pipeline_id=run_id,
    )


def _hours_and_days(run_id: str, params: dict[str, Any]) -> list[dramatiq.Message]:  # type: ignore[type-arg]
    return [_aggregate(run_id, day, day, granularity) for day in _days(params) for granularity in ("hour", "day")]


def _weeks_and_months(run_id: str, params: dict[str, Any]) -> list[dramatiq.Message]:  # type: ignore[type-arg]
    days = _days(params)
    weeks = sorted({day - timedelta(days=day.weekday()) for day in days})
    months = sorted({day.replace(day=1) for day in days})
    return [
        *(_aggregate(run_id, monday, monday, "week") for monday in weeks),
        *(_aggregate(run_id, first, first, "month") for first in months),
    ]


STAGES: Stages = (("hours-and-days", _hours_and_days), ("weeks-and-months", _weeks_and_months))
register_pipeline(PIPELINE, STAGES)


def start_backfill(days: int = 30, end: date | None = None) -> PipelineRunStarted:
    """Rebuild the rollups of the `days` days ending `end` (default: yesterday, UTC)."""
    if days < 1 or days > 366:
        raise ValueError(f"a backfill covers 1 to 366 days, not {days}")
    if end is None:
        end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    params = {"pipeline": PIPELINE, "start": start.isoformat(), "end": end.isoformat()}
    return start_run(str(uuid.uuid4()), params)


def recalculate_metrics(
    start: date,
    end: date,
    *,
    hourly: bool = False,
    metric_types: tuple[str, ...] = ("performance", "revenue", "quality"),
) -> list[str]:
    """Historical recalculation: the metrics jobs of every day (or hour) of [start, end], as one group.

    The jobs are idempotent upserts, so recalculating a range that was computed before leaves
    the same rows where nothing changed and corrects the rest. Returns the job ids.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = _days({"start": start.isoformat(), "end": end.isoformat()})
    periods = (
        [f"{day.isoformat()}T{hour:02d}" for day in days for hour in range(24)]
        if hourly
        else [day.isoformat() for day in days]
    )
    messages = [
        calculate_metrics.message(metric_type=metric_type, period=period)
        for period in periods
        for metric_type in metric_types
    ]
    group(messages).run()
    return [message.message_id for message in messages]
