"""The scheduled runs cover every publisher with events, registered or not, in set-based jobs.

Events go in with plain SQL INSERTs (as an upstream loader would); the publisher row that the
`ad_events` trigger registers is deleted again, so the fan-outs must find the publisher from
its events. Expected values are pandas over the raw rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text

import schedules  # noqa: F401  (registers the contract's schedules)
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from pipelines.daily import GRANULARITIES
from scheduling import registry
from tests.pipelines.test_daily_pipeline import jobs_of, wait_for_run
from tests.support import store
from tests.support.analytics import event_frame, expected_rollups, stored_rollups

DAY = date(2026, 11, 10)
GHOST = "pub-ghost"
DAILY_TICK = datetime(2026, 11, 11, 1, tzinfo=UTC)
WEEKLY_TICK = datetime(2026, 11, 16, 8, tzinfo=UTC)
INSERT_EVENT = text(
    "INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)"
    " VALUES (:ts, :publisher_id, :ad_unit_id, 'US', 'desktop', 400, 300, 9, 25.5)"
)


def insert_events(publisher: str, day: date, *, unregister: bool = True) -> None:
    rows = [
        {
            "ts": datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=37 * step),
            "publisher_id": publisher,
            "ad_unit_id": f"{publisher}-unit-{step % 3}",
        }
        for step in range(38)  # 38 steps of 37 min: within the day
    ]
    with get_engine().begin() as connection:
        connection.execute(INSERT_EVENT, rows)
        if unregister:  # whatever registered it on the way in, the publisher has no row now
            connection.execute(text("DELETE FROM publishers WHERE id = :p"), {"p": publisher})


def runs_started() -> list[str]:
    with get_engine().connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT id FROM pipeline_runs ORDER BY created_at"))]


def run_daily_tick() -> list[dict[str, Any]]:
    registry.get("daily-aggregation").job(DAILY_TICK)
    return [wait_for_run(run_id, "completed", "failed") for run_id in runs_started()]


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=DAY, days=1, rows_per_day=3000, publishers=5))
    insert_events(GHOST, DAY)
    return event_frame()


def test_an_unregistered_publishers_rollups_metrics_cache_and_report_come_from_the_scheduled_runs(events, worker):
    # Given events of a publisher that is not in `publishers`
    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM publishers WHERE id = :p"), {"p": GHOST}).scalar() == 0

    # When the daily-aggregation schedule ticks for the day
    runs = run_daily_tick()

    # Then its run completed and the publisher's hour and day rollups equal pandas over its raw rows
    assert [run["state"] for run in runs] == ["completed"]
    ghost = events[events["publisher_id"] == GHOST]
    for granularity in ("hour", "day"):
        expected = expected_rollups(ghost, granularity)
        actual = stored_rollups(granularity).query("publisher_id == @GHOST").reset_index(drop=True)
        assert len(actual) == len(expected) > 0
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)
    # Its metrics of the day
    from db.publisher_metrics import read_metrics

    with get_engine().connect() as connection:
        revenue = {row["publisher_id"]: row["values"] for row in read_metrics(connection, "revenue", DAY.isoformat())}
    assert revenue[GHOST]["revenue"] == pytest.approx(ghost["revenue"].sum(), rel=1e-9)
    # Its place in the warmed cache (it earns the most, so it tops the list)
    from db.cache import read_entry

    top = read_entry("top-publishers:7d")
    assert top is not None and top[0]["publisher_id"] == GHOST
    assert top[0]["revenue"] == pytest.approx(ghost["revenue"].sum(), rel=1e-9)

    # When the weekly-reports schedule ticks the Monday after
    report_jobs = registry.get("weekly-reports").job(WEEKLY_TICK)

    # Then the publisher gets its weekly report, with its week's revenue
    for job_id in report_jobs:
        assert store.wait_for_state(job_id, "completed", "dead", timeout=60)["state"] == "completed"
    with get_engine().connect() as connection:
        summary = connection.execute(
            text("SELECT summary FROM reports WHERE publisher_id = :p AND report_type = 'weekly'"), {"p": GHOST}
        ).scalar_one()
    assert summary["totals"]["revenue"] == pytest.approx(ghost["revenue"].sum(), rel=1e-9)


def test_a_daily_run_over_many_publishers_takes_four_aggregation_jobs_per_calendar(worker):
    # Given 300 registered publishers on UTC, one in New York, and an unregistered one
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=DAY, days=2, rows_per_day=20_000, publishers=300))
        connection.execute(
            text("INSERT INTO publishers (id, name, timezone) VALUES ('pub-ny', 'NY', 'America/New_York')")
        )
    insert_events("pub-ny", DAY, unregister=False)
    insert_events(GHOST, DAY)
    events = event_frame()

    # When the daily-aggregation schedule ticks
    runs = run_daily_tick()

    # Then one run per calendar (UTC, New York) completed, each with one aggregation job per granularity
    assert [run["state"] for run in runs] == ["completed", "completed"]
    assert [len(run["stages"][0]["jobs"]) for run in runs] == [len(GRANULARITIES)] * 2
    assert len(jobs_of("aggregate_analytics")) == 2 * len(GRANULARITIES)
    # And the day rollups of the UTC publishers (registered or not) equal pandas over their raw rows of the day
    utc = events[(events["publisher_id"] != "pub-ny") & (events["ts"].dt.date == DAY)]
    expected = expected_rollups(utc, "day")
    actual = stored_rollups("day").query("publisher_id != 'pub-ny'").reset_index(drop=True)
    assert actual["publisher_id"].nunique() == utc["publisher_id"].nunique() > 250
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)
    # New York's row is its local day, 05:00 UTC to 05:00 UTC
    ny = stored_rollups("day").query("publisher_id == 'pub-ny'")
    assert set(ny["bucket_start"]) == {pd.Timestamp("2026-11-10 05:00")}


def test_a_publisher_id_no_report_can_name_does_not_stop_the_other_weekly_reports():
    # Given a week with events of `pub-ok` and of `..` (an id a loader put in with SQL; no report can name it)
    insert_events("pub-ok", DAY, unregister=False)
    insert_events("..", DAY)

    # When the weekly-reports tick fans out (no worker: the jobs stay queued)
    job_ids = registry.get("weekly-reports").job(WEEKLY_TICK)

    # Then pub-ok's report is sent and `..` is left out instead of refusing the whole batch
    assert len(job_ids) == 1
    queued = store.wait_for_state(job_ids[0], "waiting", "delayed")
    assert queued["payload"]["publisher_id"] == "pub-ok"
