"""aggregate_analytics: rollups equal an independent pandas computation over the same raw rows."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from actors.aggregation import aggregate_analytics
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from tests.support import store
from tests.support.analytics import event_frame, expected_rollups, stored_rollups

START, END = date(2026, 10, 27), date(2026, 11, 3)  # crosses a month boundary and three ISO weeks


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=START, days=(END - START).days + 1, rows_per_day=4000, publishers=6))
    return event_frame()


@pytest.mark.parametrize("granularity", ["hour", "day", "week", "month"])
def test_rollups_equal_an_independent_pandas_computation(events, worker, granularity):
    # When one job aggregates the whole range for all publishers
    message = aggregate_analytics.send(start_date=START.isoformat(), end_date=END.isoformat(), granularity=granularity)
    done = store.wait_for_state(message.message_id, "completed", "dead")
    assert done["state"] == "completed", done["error"]
    # Then every rollup row equals pandas over the same raw rows
    expected = expected_rollups(events, granularity)
    actual = stored_rollups(granularity)
    assert len(actual) == len(expected) > 0
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)
    assert done["result"]["rows"] == len(expected)


def test_running_the_same_job_twice_leaves_the_same_rollups(events, worker):
    first = aggregate_analytics.send(start_date="2026-10-30", end_date="2026-11-01", granularity="day")
    store.wait_for_state(first.message_id, "completed")
    before = stored_rollups("day")
    second = aggregate_analytics.send(start_date="2026-10-30", end_date="2026-11-01", granularity="day")
    rerun = store.wait_for_state(second.message_id, "completed")
    pd.testing.assert_frame_equal(stored_rollups("day"), before)
    assert rerun["result"]["rows"] == 0  # the IS DISTINCT FROM guard rewrote nothing


def test_one_publisher_is_aggregated_alone(events, worker):
    message = aggregate_analytics.send(
        publisher_id="pub-002", start_date="2026-11-01", end_date="2026-11-01", granularity="day"
    )
    store.wait_for_state(message.message_id, "completed")
    actual = stored_rollups("day")
    assert set(actual["publisher_id"]) == {"pub-002"}
    expected = expected_rollups(events, "day")
    expected = expected[(expected.publisher_id == "pub-002") & (expected.bucket_start == "2026-11-01")]
    pd.testing.assert_frame_equal(actual, expected.reset_index(drop=True), check_dtype=False, rtol=1e-9)


def test_an_unknown_publisher_goes_to_dead_at_once(events, worker):
    message = aggregate_analytics.send(publisher_id="pub-999", start_date="2026-11-01", end_date="2026-11-01")
    dead = store.wait_for_state(message.message_id, "dead")
    assert dead["attempts"] == 1
    assert "unknown publisher 'pub-999'" in dead["error"]


def test_an_end_date_before_the_start_date_is_refused_at_send():
    from core.payloads import InvalidPayload

    with pytest.raises(InvalidPayload, match="before start_date"):
        aggregate_analytics.send(start_date="2026-11-02", end_date="2026-11-01", granularity="day")
    with pytest.raises(InvalidPayload, match="'granularity'"):
        aggregate_analytics.send(start_date="2026-11-01", end_date="2026-11-01", granularity="year")
