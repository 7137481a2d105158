"""reaggregate_late_events on a real worker: late rows converge in every granularity and downstream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from actors.late_events import reaggregate_late_events, request_reaggregation
from db import cache
from db.engine import get_engine
from db.rollups import GRANULARITIES, aggregate_window
from pipelines import scheduled
from scheduling.intervals import interval_cron
from tests.support import store
from tests.support.analytics import stored_rollups
from tests.support.late_events import event, insert_events, local_rollups, raw_events, stale_marks

#: Mon 26 Oct .. Tue 3 Nov 2026: a month boundary, two ISO weeks, New York's fall-back on 1 Nov.
FIRST = datetime(2026, 10, 26, tzinfo=UTC)
LAST = datetime(2026, 11, 4, 6, tzinfo=UTC)


@pytest.fixture
def aggregated() -> None:
    """Two publishers (New York, UTC) with events every 3 hours, rolled up; no stale marks left."""
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO publishers (id, name, timezone) VALUES ('pub-ny', 'NY', 'America/New_York'),"
                " ('pub-utc', 'UTC', 'UTC')"
            )
        )
    hours = int((LAST - FIRST).total_seconds() // 3600)
    insert_events(
        event(FIRST + timedelta(hours=hour, minutes=7), publisher, unit=f"unit-{hour % 2}", clicks=hour % 4)
        for hour in range(0, hours, 3)
        for publisher in ("pub-ny", "pub-utc")
    )
    with get_engine().begin() as connection:
        for granularity in GRANULARITIES:
            aggregate_window(connection, granularity, FIRST, LAST)
        connection.execute(text("DELETE FROM stale_hours"))


def _late_rows() -> list[dict[str, object]]:
    return [
        # 23:30 New York time on Sat 31 Oct (UTC Sunday): the NY publisher's October, week of 26 Oct
        event(datetime(2026, 11, 1, 3, 30, tzinfo=UTC), "pub-ny", requests=40, impressions=30, clicks=7, revenue=3.5),
        # 01:30 in the repeated hour of 1 Nov (fall-back), a new ad unit
        event(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "pub-ny", unit="unit-late", revenue=1.25),
        # the UTC publisher's 31 Oct late evening (its October) and 2 Nov
        event(datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "pub-utc", clicks=5, revenue=2.0),
        event(datetime(2026, 11, 2, 12, 0, tzinfo=UTC), "pub-utc", revenue=0.5),
        # an unregistered publisher in an aggregated period: its day was never rolled up
        event(datetime(2026, 11, 2, 12, 0, tzinfo=UTC), "pub-new"),
    ]


def test_late_rows_for_aggregated_days_converge_in_every_granularity(aggregated, worker):
    # Given late rows for days, weeks and months that were already rolled up
    insert_events(_late_rows())
    frame = raw_events()
    aggregated_rows = frame[frame.publisher_id != "pub-new"]
    assert not stored_rollups("month").equals(local_rollups(aggregated_rows, "month"))
    # When the late-events job runs
    message = reaggregate_late_events.send()
    done = store.wait_for_state(message.message_id, "completed", "dead")
    assert done["state"] == "completed", done["error"]
    # Then every granularity equals an independent computation over the raw rows, in each calendar
    for granularity in GRANULARITIES:
        pd.testing.assert_frame_equal(
            stored_rollups(granularity), local_rollups(aggregated_rows, granularity), check_dtype=False, rtol=1e-9
        )
    # And only the never-aggregated publisher's mark is left (its day is the daily pipeline's)
    assert stale_marks() == {("pub-new", datetime(2026, 11, 2, 12, tzinfo=UTC))}
    assert done["result"]["marks"] == 4


def test_the_job_recomputes_stored_metrics_and_rewarms_cache_entries_of_touched_publishers(aggregated, worker):
    # Given metrics and a warm cache entry computed before the late rows
    from actors.metrics import calculate_metrics

    sent = calculate_metrics.send(publisher_id="pub-utc", metric_type="revenue", period="2026-11-02")
    store.wait_for_state(sent.message_id, "completed")
    key = "publisher:pub-utc:30d"
    cache.write_entry(key, cache.compute_entry(key))
    before = cache.read_entry(key)
    # When late rows arrive for that day and the job runs
    insert_events([event(datetime(2026, 11, 2, 12, 0, tzinfo=UTC), "pub-utc", revenue=100.0)])
    message = reaggregate_late_events.send()
    done = store.wait_for_state(message.message_id, "completed")
    assert done["result"]["metrics_jobs"] == 1 and done["result"]["cache_keys"] >= 1
    for actor in ("calculate_metrics", "warm_cache"):
        for job_id in _jobs_of(actor):
            store.wait_for_state(job_id, "completed")
    # Then the stored metric and the cache entry carry the late revenue
    with get_engine().connect() as connection:
        values = connection.execute(
            text("SELECT \"values\" FROM publisher_metrics WHERE publisher_id = 'pub-utc' AND metric_type = 'revenue'")
        ).scalar_one()
        raw_revenue = connection.execute(
            text(
                "SELECT sum(revenue) FROM ad_events WHERE publisher_id = 'pub-utc'"
                " AND ts >= '2026-11-02T00:00:00Z' AND ts < '2026-11-03T00:00:00Z'"
            )
        ).scalar_one()
    assert values["revenue"] == pytest.approx(float(raw_revenue))
    after = cache.read_entry(key)
    assert after != before
    assert after == cache.compute_entry(key)


def _jobs_of(actor: str) -> list[str]:
    from runtime.store_buffer import get_buffer

    get_buffer().flush()
    with get_engine().connect() as connection:
        return list(connection.execute(text("SELECT id FROM jobs WHERE actor = :a"), {"a": actor}).scalars())


def test_the_schedule_sends_one_run_while_one_still_waits():
    # Given no worker: a first tick's run waits in the queue
    tick = datetime(2026, 11, 2, 12, 5, tzinfo=UTC)
    first = scheduled.late_events(tick)
    # When the next tick comes while it waits, and a loader asks for a run too
    second = scheduled.late_events(tick + timedelta(minutes=5))
    third = request_reaggregation()
    # Then only the first was enqueued
    assert len(first) == 1 and second == []
    assert third.message_id == first[0]


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [(300, "*/5 * * * *"), (30, "* * * * *"), (60, "* * * * *"), (420, "*/7 * * * *"), (7200, "0 */2 * * *")],
)
def test_the_interval_becomes_a_cron_whose_ticks_are_never_further_apart(seconds, cron):
    assert interval_cron(seconds) == cron
