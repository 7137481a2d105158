"""The queue history's arithmetic: histogram buckets, p95 from a histogram, folding buckets, chart ranges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from db.history_figures import (
    SPANS,
    TOP,
    Depth,
    Figures,
    bucket_bound,
    bucket_index,
    combine,
    histogram_p95,
    nearest_rank,
    series,
    window,
)


def _figures(durations: list[float], **extra: object) -> Figures:
    histogram: dict[int, int] = {}
    for ms in durations:
        histogram[bucket_index(ms)] = histogram.get(bucket_index(ms), 0) + 1
    ordered = sorted(durations)
    return Figures(
        completed=len(durations),
        timed=len(durations),
        total_ms=sum(durations),
        max_ms=max(durations),
        p95_ms=ordered[math.ceil(0.95 * len(ordered)) - 1],
        histogram=histogram,
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("ms", [0.0, 0.4, 1.0, 1.01, 7.3, 99.9, 250.0, 59_000.0, 4_000_000.0])
def test_a_duration_falls_in_the_bucket_whose_bounds_hold_it(ms):
    index = bucket_index(ms)
    assert ms <= bucket_bound(index)
    assert index == 0 or ms > bucket_bound(index - 1)


def test_durations_past_the_last_bound_share_the_open_last_bucket():
    assert bucket_index(10.0**9) == bucket_index(10.0**12) == TOP and bucket_bound(TOP) == math.inf


@pytest.mark.parametrize(("count", "rank"), [(1, 1), (7, 7), (19, 19), (20, 19), (21, 20), (100, 95), (1000, 950)])
def test_the_p95_is_the_nearest_rank(count, rank):
    assert nearest_rank(count) == rank


def test_a_histograms_p95_is_the_bound_above_the_exact_one_capped_at_the_longest():
    # Given 100 durations 1..100 ms (exact p95: 95 ms)
    durations = [float(ms) for ms in range(1, 101)]
    figures = _figures(durations)
    # When the p95 is read from the histogram alone
    estimate = histogram_p95(figures.histogram, figures.max_ms)
    # Then it is the upper bound of 95 ms's bucket: at or above 95, by less than one bucket's ratio
    assert estimate == bucket_bound(bucket_index(95.0))
    assert 95.0 <= estimate < 95.0 * 2 ** (1 / 8)
    # and a histogram whose rank falls in the last bucket holding the longest duration reads that duration
    assert histogram_p95({bucket_index(130.0): 20}, 130.0) == 130.0
    assert histogram_p95({}, None) is None


def test_combining_keeps_an_exact_p95_when_one_part_holds_every_duration():
    # Given a minute with durations and two without (one with retried attempts, one with a depth sample)
    timed = _figures([3.0, 4.0, 250.0, 8.0])
    at = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    quiet = Figures(retried=2)
    sampled = Figures(dead=1)
    sampled.sample(Depth(9, 1, 0), at)
    # When they are combined in time order
    merged = combine([timed, quiet, sampled])
    # Then counts add up, the p95 is the timed minute's own, and the last sample stands
    assert (merged.completed, merged.retried, merged.dead, merged.timed) == (4, 2, 1, 4)
    assert merged.p95_ms == 250.0 and merged.max_ms == 250.0
    assert (merged.depth, merged.delayed, merged.sampled_at) == (9, 1, at)


def test_combining_queues_adds_their_depth_samples():
    at = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    first, second, unsampled = Figures(), Figures(), Figures(completed=3)
    first.sample(Depth(4, 1, 2), at)
    second.sample(Depth(6, 0, 1), at + timedelta(seconds=1))
    merged = combine([first, second, unsampled], add_depths=True)
    assert (merged.depth, merged.delayed, merged.dead_letters, merged.completed) == (10, 1, 3, 3)
    assert combine([unsampled], add_depths=True).depth is None


@pytest.mark.parametrize(("name", "step", "count"), [("1h", 60, 60), ("24h", 900, 96), ("7d", 3600, 168)])
def test_a_range_ends_with_the_step_that_holds_now(name, step, count):
    now = datetime(2026, 12, 1, 10, 7, 30, tzinfo=UTC)
    start, end = window(SPANS[name], now)
    assert start <= now < end and end - now <= timedelta(seconds=step)
    assert (end - start).total_seconds() == step * count
    assert start.timestamp() % step == 0


def test_series_puts_each_row_in_its_step_and_sums_the_queues():
    # Given minute rows of two queues inside the second 15-minute point of a 24 h range
    span = SPANS["24h"]
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

    def row(queue: str, minute: int, figures: Figures) -> dict[str, object]:
        return {
            "queue": queue,
            "bucket_start": start + timedelta(minutes=minute),
            **{key: getattr(figures, key) for key in ("completed", "retried", "dead", "timed", "total_ms")},
            **{key: getattr(figures, key) for key in ("max_ms", "p95_ms", "depth", "delayed", "dead_letters")},
            "histogram": {str(index): count for index, count in figures.histogram.items()},
            "sampled_at": figures.sampled_at,
        }

    rows = [row("a", 16, _figures([10.0, 20.0])), row("b", 29, _figures([40.0])), row("a", 30, Figures(dead=1))]
    # When they are folded into the range's points
    answer = series(span, start, rows, ["a", "b"])
    # Then each lands in its step, per queue and summed, and the row of minute 30 starts the third point
    assert len(answer["points"]) == 96 and answer["points"][1]["at"] == "2026-12-01T00:15:00+00:00"
    assert [point["completed"] for point in answer["points"][:3]] == [0, 3, 0]
    assert answer["queues"]["a"][1]["p95Ms"] == 20.0 and answer["queues"]["b"][1]["p95Ms"] == 40.0
    assert answer["points"][1]["p95Ms"] == 40.0 and answer["points"][1]["avgMs"] == round(70.0 / 3, 3)
    assert answer["points"][2]["failed"] == 1 and answer["queues"]["a"][2]["dead"] == 1
