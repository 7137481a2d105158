"""`ad_events` day partitions: a row for any day is accepted, partitions are made once (even by
two processes at once), and rows waiting in the default partition move into their day's."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from db.engine import get_engine
from db.partitions import MAX_DAYS, drop_partitions_before, ensure_partitions

INSERT = """
INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)
VALUES (:ts, :publisher, 'unit-1', 'US', 'mobile', :n, :n, 1, 0.5)
"""
#: Where each of a publisher's rows sits, and the day partitions of ad_events, from the catalog.
WHERE_ROWS_ARE = "SELECT tableoid::regclass::text, ts, ad_requests FROM ad_events WHERE publisher_id = :publisher"
PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ad_events'::regclass ORDER BY 1
"""


def _insert(publisher: str, *stamps: datetime) -> None:
    with get_engine().begin() as connection:
        for n, ts in enumerate(stamps, start=1):
            connection.execute(text(INSERT), {"ts": ts, "publisher": publisher, "n": n})


def _rows(publisher: str) -> set[tuple[str, datetime, int]]:
    with get_engine().connect() as connection:
        return {tuple(row) for row in connection.execute(text(WHERE_ROWS_ARE), {"publisher": publisher})}


def _partitions() -> set[str]:
    with get_engine().connect() as connection:
        return set(connection.execute(text(PARTITIONS)).scalars())


def _at(day: date, hour: int = 0, microsecond: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(microseconds=microsecond)


def test_an_event_for_a_day_without_a_partition_is_kept_in_the_default_partition():
    # Given a day far ahead, which no partition covers
    day = date(2033, 5, 17)
    assert "ad_events_20330517" not in _partitions()
    # When an event of that day is inserted
    _insert("pub-default", _at(day, 12))
    # Then the insert succeeds and the row waits in the default partition
    assert _rows("pub-default") == {("ad_events_default", _at(day, 12), 1)}


def test_ensure_partitions_moves_waiting_rows_into_their_days_and_is_idempotent():
    # Given rows of two days in the default partition (first and last instants of each day), and
    # a row of the day after, which stays there
    first = date(2033, 6, 1)
    second = first + timedelta(days=1)
    stamps = [_at(first), _at(first, 23, 3_599_999_999), _at(second), _at(second, 23, 3_599_999_999)]
    _insert("pub-move", *stamps, _at(second + timedelta(days=1), 5))
    assert {where for where, _, _ in _rows("pub-move")} == {"ad_events_default"}
    # When the partitions of those two days are ensured, twice
    for _ in range(2):
        with get_engine().begin() as connection:
            ensure_partitions(connection, first, second)
    # Then each day has its partition, holding that day's rows, and nothing was lost or copied
    assert {"ad_events_20330601", "ad_events_20330602"} <= _partitions()
    assert "ad_events_20330603" not in _partitions()
    assert _rows("pub-move") == {
        ("ad_events_20330601", stamps[0], 1),
        ("ad_events_20330601", stamps[1], 2),
        ("ad_events_20330602", stamps[2], 3),
        ("ad_events_20330602", stamps[3], 4),
        ("ad_events_default", _at(second + timedelta(days=1), 5), 5),
    }
    # And new rows of those days go straight to their partitions
    _insert("pub-move-later", _at(second, 7))
    assert _rows("pub-move-later") == {("ad_events_20330602", _at(second, 7), 1)}


def test_two_processes_ensuring_the_same_new_partitions_at_once_both_succeed():
    # Given three days without partitions, one with a row waiting in the default partition
    first = date(2034, 1, 10)
    last = first + timedelta(days=2)
    _insert("pub-race", _at(first + timedelta(days=1), 9))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def make() -> None:
        try:
            with get_engine().begin() as connection:
                barrier.wait(timeout=10)
                ensure_partitions(connection, first, last)
        except BaseException as error:  # reported by the assert below
            errors.append(error)

    # When two connections ensure them at the same moment
    threads = [threading.Thread(target=make) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then neither fails, each day has one partition, and the row moved once
    assert errors == []
    assert {"ad_events_20340110", "ad_events_20340111", "ad_events_20340112"} <= _partitions()
    assert _rows("pub-race") == {("ad_events_20340111", _at(first + timedelta(days=1), 9), 1)}


def test_drop_partitions_before_drops_whole_days_before_the_day_only():
    # Given partitions of three consecutive days with a row each (long ago: no other test's days)
    days = [date(1991, 3, 1) + timedelta(days=i) for i in range(3)]
    with get_engine().begin() as connection:
        ensure_partitions(connection, days[0], days[-1])
    _insert("pub-drop", *(_at(day, 1) for day in days))
    before = _partitions()
    # When the partitions before the third day are dropped
    with get_engine().begin() as connection:
        dropped = drop_partitions_before(connection, days[2])
    # Then every partition whose days all come before it went (those two, and any older), the rest stayed
    older = {name for name in before if name[-8:].isdigit() and name < "ad_events_19910303"}
    assert {"ad_events_19910301", "ad_events_19910302"} <= set(dropped) == older
    assert _partitions() == before - older
    assert _rows("pub-drop") == {("ad_events_19910303", _at(days[2], 1), 3)}


def test_a_range_too_wide_or_backwards_is_refused_with_the_argument_named():
    with get_engine().begin() as connection:
        with pytest.raises(ValueError, match="last_day 2034-01-01 is before first_day 2034-01-02"):
            ensure_partitions(connection, date(2034, 1, 2), date(2034, 1, 1))
        with pytest.raises(ValueError, match="first_day 2000-01-01 to last_day"):
            ensure_partitions(connection, date(2000, 1, 1), date(2000, 1, 1) + timedelta(days=MAX_DAYS))
