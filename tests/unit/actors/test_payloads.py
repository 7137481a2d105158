"""Every actor's payload model: what it accepts (camelCase too), what it refuses, naming the field.

`actor.message(...)` validates as `send()` does and builds the message without enqueuing it;
the unit tier's settings make the broker Dramatiq's in-process StubBroker.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors._base import JobActor
from actors.aggregation import aggregate_analytics
from actors.cache_warming import warm_cache
from actors.cleanup import cleanup
from actors.exports import export_data
from actors.ingest import ingest_events
from actors.late_events import reaggregate_late_events
from actors.metrics import calculate_metrics
from actors.monitor import monitor
from actors.reports import generate_report
from actors.scheduler import dispatch_schedules
from core.payloads import InvalidPayload
from pipelines.steps import advance_pipeline

EXPORT_ID = "0b5c3a52-5d0e-4a8a-9d0c-0f6f1f8f3a11"

#: (actor, payload as the API's camelCase `data`, the snake_case kwargs the message carries)
ACCEPTED: list[tuple[JobActor, dict[str, Any], dict[str, Any]]] = [
    (
        aggregate_analytics,
        {"publisherId": "pub-1", "startDate": "2026-03-01", "endDate": "2026-03-02", "granularity": "hour"},
        {"publisher_id": "pub-1", "start_date": "2026-03-01", "end_date": "2026-03-02", "granularity": "hour"},
    ),
    (warm_cache, {"cacheKeys": ["top-publishers:7d"]}, {"cache_keys": ["top-publishers:7d"]}),
    (cleanup, {"type": "old_logs", "olderThan": "30d", "dryRun": True}, {"older_than": "30d", "dry_run": True}),
    (
        export_data,
        {
            "exportId": EXPORT_ID,
            "publisherId": "pub-1",
            "format": "csv",
            "startDate": "2026-03-01",
            "endDate": "2026-03-31",
            "filters": {"country": "DE", "adUnitId": ["unit-1"]},
        },
        {
            "export_id": EXPORT_ID,
            "publisher_id": "pub-1",
            "filters": {"country": ["DE"], "device": None, "ad_unit_id": ["unit-1"]},
        },
    ),
    (ingest_events, {"path": "events.csv", "skipBad": True}, {"path": "events.csv", "skip_bad": True}),
    (
        calculate_metrics,
        {"publisherId": "pub-1", "metricType": "revenue", "period": "2026-03-01T05"},
        {"publisher_id": "pub-1", "metric_type": "revenue", "period": "2026-03-01T05"},
    ),
    (
        generate_report,
        {"publisherId": "pub-1", "reportType": "weekly", "date": "2026-03-04", "recipients": ["ops@example.com"]},
        {"publisher_id": "pub-1", "report_type": "weekly", "date": "2026-03-04", "recipients": ["ops@example.com"]},
    ),
    (advance_pipeline, {"runId": "run-1", "stage": 2}, {"run_id": "run-1", "stage": 2}),
    (reaggregate_late_events, {}, {}),
    (monitor, {}, {}),
    (dispatch_schedules, {}, {}),
]

#: (actor, payload, the field the error names)
REFUSED: list[tuple[JobActor, dict[str, Any], str]] = [
    (aggregate_analytics, {"startDate": "2026-03-01"}, "endDate"),
    (aggregate_analytics, {"startDate": "2026-03-01", "endDate": "2026-03-02", "granularity": "year"}, "granularity"),
    (
        aggregate_analytics,
        {"startDate": "2026-03-01", "endDate": "2026-03-02", "timezones": ["Mars/Base"]},
        "timezones",
    ),
    (warm_cache, {"cacheKeys": ["everything"]}, "cacheKeys"),
    (cleanup, {"type": "old_kittens"}, "type"),
    (cleanup, {"type": "old_logs", "olderThan": "a while"}, "olderThan"),
    (
        export_data,
        {"publisherId": "pub-1", "format": "xlsx", "startDate": "2026-03-01", "endDate": "2026-03-02"},
        "format",
    ),
    (
        export_data,
        {
            "exportId": "not-a-uuid",
            "publisherId": "p",
            "format": "csv",
            "startDate": "2026-03-01",
            "endDate": "2026-03-02",
        },
        "exportId",
    ),
    (
        export_data,
        {
            "publisherId": "p",
            "format": "csv",
            "startDate": "2026-03-01",
            "endDate": "2026-03-02",
            "filters": {"country": "germany"},
        },
        "filters.country.0",
    ),
    (ingest_events, {"path": "../../etc/passwd"}, "path"),
    (calculate_metrics, {"metricType": "speed", "period": "2026-03-01"}, "metricType"),
    (calculate_metrics, {"metricType": "revenue", "period": "March"}, "period"),
    (
        generate_report,
        {"publisherId": "p", "reportType": "daily", "date": "2026-03-01", "recipients": ["nobody"]},
        "recipients",
    ),
    (generate_report, {"publisherId": "..", "reportType": "daily", "date": "2026-03-01"}, "publisherId"),
    (advance_pipeline, {"runId": "run-1", "stage": "second"}, "stage"),
    (monitor, {"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("actor", "data", "expected"), ACCEPTED, ids=lambda value: getattr(value, "actor_name", None))
def test_each_actor_takes_the_apis_camelcase_names_and_sends_snake_case_kwargs(
    actor: JobActor, data: dict[str, Any], expected: dict[str, Any]
) -> None:
    # Given a payload as the HTTP API's `data` (camelCase)
    # When the actor builds its message
    message = actor.message(**data)
    # Then the message's kwargs are the model's snake_case fields, dates in ISO form
    assert message.kwargs | expected == message.kwargs


@pytest.mark.parametrize(("actor", "data", "field"), REFUSED, ids=lambda value: getattr(value, "actor_name", None))
def test_an_invalid_payload_is_refused_naming_the_actor_and_the_field(
    actor: JobActor, data: dict[str, Any], field: str
) -> None:
    # Given a payload with one bad or missing field
    # When the actor builds its message, Then it refuses with an error naming the actor and the field
    with pytest.raises(InvalidPayload) as refused:
        actor.message(**data)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{actor.actor_name}: invalid payload, field {field!r}")


def test_snake_case_names_are_accepted_as_well():
    # Given the contract's snake_case keyword arguments
    message = generate_report.message(publisher_id="pub-1", report_type="daily", date="2026-03-01")
    # Then they validate like their camelCase twins
    assert message.kwargs["publisher_id"] == "pub-1"
    assert message.kwargs["report_type"] == "daily"


def test_positional_arguments_are_refused_because_payload_fields_are_keywords():
    with pytest.raises(InvalidPayload, match="payload fields are keyword arguments"):
        cleanup.message("old_logs")


def test_an_export_without_an_id_gets_one_made_at_send():
    message = export_data.message(publisherId="p", format="json", startDate="2026-03-01", endDate="2026-03-01")
    assert len(message.kwargs["export_id"]) == 36


def test_dates_in_the_wrong_order_are_refused_with_both_dates_named():
    with pytest.raises(InvalidPayload, match="end_date 2026-03-01 is before start_date 2026-03-05"):
        aggregate_analytics.message(startDate="2026-03-05", endDate="2026-03-01")
