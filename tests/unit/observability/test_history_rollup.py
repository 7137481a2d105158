"""Which minutes a roll-up of the queue history takes: the last few again, or everything since a pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from observability.history_rollup import CATCH_UP, ROLL_BACK, span_start

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def test_a_run_after_a_recent_one_rolls_the_last_minutes_up_again():
    assert span_start(NOW, NOW - timedelta(minutes=1)) == NOW - ROLL_BACK


def test_a_run_after_a_pause_starts_where_the_last_one_ended():
    last = NOW - timedelta(minutes=40)
    assert span_start(NOW, last) == last


def test_a_first_run_or_one_after_a_long_pause_goes_back_as_far_as_the_counters_live():
    assert span_start(NOW, None) == NOW - CATCH_UP
    assert span_start(NOW, NOW - timedelta(days=2)) == NOW - CATCH_UP
    assert timedelta(hours=2) > CATCH_UP
