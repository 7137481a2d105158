"""The ad_events trigger (migration 0010) and the re-aggregation of stale marks, on real PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import text

from db import stale_marks
from db.engine import get_engine
from db.rollups import GRANULARITIES, aggregate_window
from tests.support.analytics import stored_rollups
from tests.support.late_events import (
    COLUMNS,
    event,
    expected_marks,
    insert_events,
    local_rollups,
    raw_events,
)
from tests.support.late_events import (
    stale_marks as marks_in_db,
)

DAY = datetime(2026, 10, 14, tzinfo=UTC)
_COPY = f"COPY ad_events ({', '.join(COLUMNS)}) FROM STDIN"


def _publishers() -> dict[str, tuple[str, str]]:
    with get_engine().connect() as connection:
        rows = connection.execute(text("SELECT id, name, timezone FROM publishers"))
        return {row.id: (row.name, row.timezone) for row in rows}


def _aggregate_everything() -> None:
    """The daily pipeline's effect: every bucket of the events rolled up, marks of that load cleared."""
    with get_engine().begin() as connection:
        for granularity in GRANULARITIES:
            aggregate_window(connection, granularity, DAY - timedelta(days=40), DAY + timedelta(days=40))
        connection.execute(text("DELETE FROM stale_hours"))


def test_an_insert_registers_unknown_publishers_and_marks_the_hours_it_touched():
    # Given a publisher nobody registered
    assert _publishers() == {}
    # When one INSERT statement loads its rows over three hours (and one for a second publisher)
    insert_events(
        [
            event(DAY + timedelta(hours=9, minutes=5), "adserver-7"),
            event(DAY + timedelta(hours=9, minutes=55), "adserver-7"),
            event(DAY + timedelta(hours=11, minutes=30), "adserver-7"),
            event(DAY + timedelta(hours=23, minutes=59, seconds=59), "adserver-8"),
        ]
    )
    # Then both are publishers named by their id, in UTC, and exactly the touched hours are marked
    assert _publishers() == {"adserver-7": ("adserver-7", "UTC"), "adserver-8": ("adserver-8", "UTC")}
    assert marks_in_db() == expected_marks(raw_events())
    assert len(marks_in_db()) == 3


def test_copy_registers_unknown_publishers_and_marks_the_hours_it_touched():
    # Given a registered publisher with its own name and time zone
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO publishers (id, name, timezone) VALUES ('pub-a', 'Pub A', 'Asia/Tokyo')"))
    # When COPY loads rows of it and of an unknown publisher
    rows = [
        event(DAY + timedelta(hours=hour, minutes=17), publisher)
        for hour in range(0, 24, 5)
        for publisher in ("pub-a", "ghost")
    ]
    engine = get_engine()
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        with cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row([row[column] for column in COLUMNS])
        raw.driver_connection.commit()
    finally:
        raw.close()
    # Then the unknown one is registered, the known one untouched, and every touched hour marked
    assert _publishers() == {"pub-a": ("Pub A", "Asia/Tokyo"), "ghost": ("ghost", "UTC")}
    assert marks_in_db() == expected_marks(raw_events())
    assert len(marks_in_db()) == 10


def test_rows_loaded_while_a_reaggregation_runs_keep_their_mark_and_converge_on_the_next_run():
    # Given aggregated events, then a late row for an aggregated hour (marked)
    hour = DAY + timedelta(hours=10)
    insert_events([event(hour + timedelta(minutes=minute), "pub-c") for minute in (1, 2, 3)])
    _aggregate_everything()
    insert_events([event(hour + timedelta(minutes=30), "pub-c", clicks=3)])
    # And another loader's transaction, not committed yet, adds rows to the same hour
    loader = get_engine().connect()
    loader.begin()
    loader.execute(
        text(
            "INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device,"
            " ad_requests, impressions, clicks, revenue) VALUES (:ts, 'pub-c', 'unit-1', 'US', 'mobile', 5, 5, 5, 9)"
        ),
        {"ts": hour + timedelta(minutes=45)},
    )
    # When a re-aggregation runs meanwhile (it waits on the loader's mark) and the loader commits
    outcome: dict[str, object] = {}

    def run() -> None:
        with get_engine().begin() as connection:
            outcome["result"] = stale_marks.reaggregate_stale(connection)

    runner = threading.Thread(target=run)
    runner.start()
    _wait_until_blocked_on_a_lock()
    loader.commit()
    loader.close()
    runner.join(timeout=60)
    # Then the run took the mark it read, but the mark survives: the loader's row came after its snapshot
    assert outcome["result"].marks == 1  # type: ignore[attr-defined]
    assert marks_in_db() == {("pub-c", hour)}
    # And the next run takes it and the rollups equal the raw rows
    with get_engine().begin() as connection:
        stale_marks.reaggregate_stale(connection)
    assert marks_in_db() == set()
    for granularity in GRANULARITIES:
        pd.testing.assert_frame_equal(
            stored_rollups(granularity), local_rollups(raw_events(), granularity), check_dtype=False, rtol=1e-9
        )


def _wait_until_blocked_on_a_lock(timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with get_engine().connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the re-aggregation never waited on the loader's lock")


def test_marks_of_days_never_aggregated_are_left_for_the_daily_pipeline():
    # Given a publisher whose day was aggregated and a load into a day nobody aggregated yet
    insert_events([event(DAY + timedelta(hours=3), "pub-d")])
    _aggregate_everything()
    later = DAY + timedelta(days=60, hours=4)
    insert_events([event(DAY + timedelta(hours=3, minutes=9), "pub-d"), event(later, "pub-d")])
    # When the stale marks are re-aggregated
    with get_engine().begin() as connection:
        result = stale_marks.reaggregate_stale(connection)
    # Then only the aggregated day's hour was taken; the other mark waits, and its day has no rollups
    assert result.marks == 1
    assert marks_in_db() == {("pub-d", later)}
    assert later.replace(tzinfo=None) not in set(stored_rollups("hour")["bucket_start"])


def test_hour_windows_join_consecutive_hours_of_the_same_publishers():
    # Given stale hours 10, 11 of two publishers, 12 of one, and 15 of both
    day = datetime(2026, 3, 8, tzinfo=UTC)
    marks = [
        stale_marks.Mark(publisher, day + timedelta(hours=hour), 0)
        for publisher, hours in (("a", (10, 11, 12, 15)), ("b", (10, 11, 15)))
        for hour in hours
    ]
    # Then one window per run of hours with the same publishers
    assert stale_marks.hour_windows(marks) == {
        (day + timedelta(hours=10), day + timedelta(hours=12)): ["a", "b"],
        (day + timedelta(hours=12), day + timedelta(hours=13)): ["a"],
        (day + timedelta(hours=15), day + timedelta(hours=16)): ["a", "b"],
    }


def test_bucket_windows_lie_inside_each_local_bucket_and_group_a_calendar():
    # Given stale hours of two New York publishers on the 23-hour DST day (8 Mar 2026) and a UTC one
    ny = [stale_marks.Mark(p, datetime(2026, 3, 8, 15, tzinfo=UTC), 0, "America/New_York") for p in ("n1", "n2")]
    utc = stale_marks.Mark("u1", datetime(2026, 3, 8, 2, tzinfo=UTC), 0, "UTC")
    # Then the New York day (05:00 UTC on 8 Mar to 04:00 UTC on 9 Mar) is one window for both
    windows = stale_marks.bucket_windows([*ny, utc], "day")
    assert len(windows) == 2
    ((ny_window, ny_publishers),) = [(w, p) for w, p in windows.items() if p != ["u1"]]
    assert ny_publishers == ["n1", "n2"]
    assert datetime(2026, 3, 8, 5, tzinfo=UTC) <= ny_window[0] < ny_window[1] <= datetime(2026, 3, 9, 4, tzinfo=UTC)
    assert stale_marks.local_bucket(ny[0].hour_start, "America/New_York", "day") == (
        datetime(2026, 3, 8, 5, tzinfo=UTC),
        datetime(2026, 3, 9, 4, tzinfo=UTC),
    )
