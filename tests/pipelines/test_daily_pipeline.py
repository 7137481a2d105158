"""The daily pipeline on real Redis and PostgreSQL: aggregation → metrics → cache warming."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pandas as pd
import pytest

from db import pipelines as runs
from db.engine import get_engine
from db.events import SeedPlan, publisher_ids, seed_events
from pipelines.daily import GRANULARITIES, retry_run, start_daily_pipeline
from runtime.store_buffer import get_buffer
from tests.support.analytics import event_frame, expected_rollups, stored_rollups

DAY = date(2026, 11, 10)
PUBLISHERS = 20


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        # The day before and after too: the pipeline must touch only its own day's hours and days.
        seed_events(connection, SeedPlan(start=date(2026, 11, 9), days=3, rows_per_day=6000, publishers=PUBLISHERS))
    return event_frame()


def read_run(run_id: str) -> dict[str, Any]:
    get_buffer().flush()
    with get_engine().connect() as connection:
        run = runs.get_run(connection, run_id)
    assert run is not None
    return run


def wait_for_run(run_id: str, *states: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run = read_run(run_id)
    while run["state"] not in states and time.monotonic() < deadline:
        time.sleep(0.2)
        run = read_run(run_id)
    assert run["state"] in states, f"run {run_id} is {run['state']} after {timeout}s: {run['stages']}"
    return run


def jobs_of(actor: str) -> list[dict[str, Any]]:
    from sqlalchemy import text

    get_buffer().flush()
    with get_engine().connect() as connection:
        rows = connection.execute(text("SELECT id, state, pipeline_id FROM jobs WHERE actor = :a"), {"a": actor})
        return [dict(row._mapping) for row in rows]


def test_a_pipeline_over_twenty_publishers_completes_and_matches_an_independent_computation(events, worker):
    # When the daily pipeline runs for one day over 20 publishers
    started = start_daily_pipeline(DAY, publisher_ids(PUBLISHERS))
    run = wait_for_run(started.id, "completed", "failed")

    # Then the run completed, and its record shows every stage with its jobs
    assert run["state"] == "completed", run
    assert [stage["name"] for stage in run["stages"]] == ["aggregation", "metrics", "cache-warming"]
    aggregation, metrics, cache = run["stages"]
    # One set-based job per granularity covers all 20 publishers (not one per publisher and granularity)
    assert len(aggregation["jobs"]) == len(GRANULARITIES)
    # One metrics job computes the three types from one scan of the events
    assert len(metrics["jobs"]) == 1
    assert len(cache["jobs"]) == 1
    for stage in run["stages"]:
        assert stage["state"] == "completed"
        assert all(job["state"] == "completed" for job in stage["jobs"])
        assert stage["startedAt"] is not None and stage["finishedAt"] is not None
    # The stages ran in order: metrics started only after the last aggregation finished
    assert metrics["startedAt"] >= aggregation["finishedAt"]
    assert cache["startedAt"] >= metrics["finishedAt"]
    # Every job carries the run's id
    assert {job["pipeline_id"] for job in jobs_of("aggregate_analytics")} == {started.id}

    # The rollups of the day equal pandas over the raw rows of that day (hour and day buckets)
    day_events = events[events["ts"].dt.date == DAY]
    for granularity in ("hour", "day"):
        expected = expected_rollups(day_events, granularity)
        actual = stored_rollups(granularity)
        assert len(actual) == len(expected) > 0
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)
    # The week and month containing the day are rolled up from every event of that week / month
    for granularity in ("week", "month"):
        expected = expected_rollups(events, granularity)
        pd.testing.assert_frame_equal(stored_rollups(granularity), expected, check_dtype=False, rtol=1e-9)

    assert_metrics_match(day_events)
    assert_cache_matches()


def assert_metrics_match(day_events: pd.DataFrame) -> None:
    """The revenue metrics of the day per publisher equal pandas over the raw rows."""
    from db.publisher_metrics import read_metrics

    with get_engine().connect() as connection:
        stored = read_metrics(connection, metric_type="revenue", period=DAY.isoformat())
    totals = day_events.groupby("publisher_id")["revenue"].sum()
    assert {row["publisher_id"] for row in stored} == set(totals.index)
    for row in stored:
        assert row["values"]["revenue"] == pytest.approx(totals[row["publisher_id"]], rel=1e-9)


def assert_cache_matches() -> None:
    """Every popular cache key holds what computing it afresh gives."""
    from db.cache import compute_entry, popular_keys, read_entry

    keys = popular_keys()
    assert keys
    for key in keys:
        cached = read_entry(key)
        assert cached is not None, f"cache key {key} was not warmed"
        assert cached == compute_entry(key)


def test_a_dying_aggregation_fails_the_run_and_no_metrics_job_runs(events, worker):
    # Given a publisher the database does not know (its aggregation dies at once)
    publishers = [*publisher_ids(3), "pub-unknown"]
    started = start_daily_pipeline(DAY, publishers)

    # Then the run fails, naming the job that died
    run = wait_for_run(started.id, "failed", "completed")
    assert run["state"] == "failed"
    assert run["failedJob"]["name"] == "aggregate_analytics"
    assert "pub-unknown" in run["failedJob"]["failedReason"]
    assert run["stages"][0]["state"] == "failed"
    assert [stage["state"] for stage in run["stages"][1:]] == ["pending", "pending"]
    # Give a callback that should not fire time to do so, then check no later job was ever enqueued
    time.sleep(1.5)
    assert jobs_of("calculate_metrics") == []
    assert jobs_of("warm_cache") == []
    assert jobs_of("advance_pipeline") == []

    # When the publisher becomes known and the run is retried, it completes
    from sqlalchemy import text

    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO publishers (id, name) VALUES ('pub-unknown', 'Late publisher')"))
    retry_run(started.id)
    run = wait_for_run(started.id, "completed", "failed")
    assert run["state"] == "completed", run
    assert len(jobs_of("calculate_metrics")) == 1


def test_running_the_pipeline_twice_for_a_day_leaves_the_same_data(events, worker):
    first = wait_for_run(start_daily_pipeline(DAY, publisher_ids(4)).id, "completed", "failed")
    assert first["state"] == "completed"
    before = {granularity: stored_rollups(granularity) for granularity in GRANULARITIES}

    second = wait_for_run(start_daily_pipeline(DAY, publisher_ids(4)).id, "completed", "failed")

    assert second["state"] == "completed"
    assert second["id"] != first["id"]
    for granularity, frame in before.items():
        pd.testing.assert_frame_equal(stored_rollups(granularity), frame)


def test_a_retry_of_a_run_that_did_not_fail_is_refused(events, worker):
    started = start_daily_pipeline(DAY, publisher_ids(2))
    wait_for_run(started.id, "completed")
    with pytest.raises(ValueError, match="not failed"):
        retry_run(started.id)
    with pytest.raises(LookupError):
        retry_run("00000000-0000-0000-0000-000000000000")


def test_a_day_without_publishers_still_runs_the_later_stages(events, worker):
    run = wait_for_run(start_daily_pipeline(DAY, []).id, "completed", "failed", timeout=60)
    assert run["state"] == "completed"
    assert [stage["state"] for stage in run["stages"]] == ["completed", "completed", "completed"]
    assert run["stages"][0]["jobs"] == []
    assert len(jobs_of("calculate_metrics")) == 1
