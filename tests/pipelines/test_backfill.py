"""The 30-day backfill: split by day over workers, then weeks and months; rollups equal pandas."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from db.engine import get_engine
from db.events import SeedPlan, seed_events
from pipelines.backfill import start_backfill
from tests.pipelines.test_daily_pipeline import wait_for_run
from tests.support.analytics import event_frame, expected_rollups, stored_rollups

END = date(2026, 10, 31)


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 10, 2), days=30, rows_per_day=1500, publishers=6))
    return event_frame()


def test_a_thirty_day_backfill_rebuilds_every_granularity(events, worker):
    started = start_backfill(days=30, end=END)
    run = wait_for_run(started.id, "completed", "failed", timeout=180)
    assert run["state"] == "completed", run
    days, buckets = run["stages"]
    assert [days["name"], buckets["name"]] == ["hours-and-days", "weeks-and-months"]
    assert len(days["jobs"]) == 30 * 2
    # ISO weeks touched by Oct 2 (a Friday) .. Oct 31: Sep 28 .. Oct 26, five weeks; one month.
    assert len(buckets["jobs"]) == 5 + 1
    assert buckets["startedAt"] >= days["finishedAt"]
    for granularity in ("hour", "day", "week", "month"):
        expected = expected_rollups(events, granularity)
        assert len(expected) > 0
        pd.testing.assert_frame_equal(stored_rollups(granularity), expected, check_dtype=False, rtol=1e-9)


def test_a_backfill_of_an_impossible_range_is_refused():
    with pytest.raises(ValueError, match="1 to 366 days"):
        start_backfill(days=0)


def test_metrics_recalculation_for_a_range_matches_pandas(events, worker):
    from db.publisher_metrics import read_metrics
    from pipelines.backfill import recalculate_metrics
    from tests.support import store

    ids = recalculate_metrics(date(2026, 10, 10), date(2026, 10, 12), metric_types=("revenue",))
    assert len(ids) == 3
    for job_id in ids:
        assert store.wait_for_state(job_id, "completed", "dead")["state"] == "completed"
    for day in ("2026-10-10", "2026-10-11", "2026-10-12"):
        rows = events[events["ts"].dt.strftime("%Y-%m-%d") == day]
        expected = rows.groupby("publisher_id")["revenue"].sum()
        with get_engine().connect() as connection:
            stored = {row["publisher_id"]: row["values"]["revenue"] for row in read_metrics(connection, "revenue", day)}
        assert set(stored) == set(expected.index)
        for publisher, revenue in expected.items():
            assert stored[publisher] == pytest.approx(revenue)
