"""The queue history's roll-up on PostgreSQL: jobs finished at known minutes become minute and hour rows.

Expected counts and percentiles are worked out here from the durations the tests chose (nearest
rank: the value at position ceil(0.95 n) of the sorted durations), not with the module's helpers.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from db import jobstore, queue_history
from db.engine import get_engine
from db.history_figures import SPANS, Depth

#: A whole hour well inside the retention, with room after it.
HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def _p95(durations: list[float]) -> float:
    ordered = sorted(durations)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _upper_bound(duration_ms: float) -> float:
    """The smallest 2 ** (k / 8) ms at or above a duration: the histogram bound the history reports."""
    return 2 ** (math.ceil(8 * math.log2(duration_ms)) / 8)


def _finished(queue: str, state: str, at: datetime, duration_ms: float | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "queue": queue,
        "actor": "echo",
        "state": state,
        "seq": jobstore.seq_for(state, 0),
        "payload": {},
        "attempts": 1,
        "max_attempts": 3,
        "priority": 5,
        "progress": 100,
        "enqueued_at": at - timedelta(seconds=1),
        "started_at": at - timedelta(milliseconds=duration_ms or 0),
        "finished_at": at,
        "duration_ms": duration_ms,
    }


def _insert(rows: list[dict[str, Any]]) -> None:
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)


def _roll(start: datetime, end: datetime, **samples: Any) -> dict[str, int]:
    with get_engine().begin() as connection:
        return queue_history.roll_up(connection, start, end, **samples)


def _rows(resolution: str = "minute") -> dict[tuple[datetime, str], dict[str, Any]]:
    with get_engine().connect() as connection:
        found = connection.execute(
            text("SELECT * FROM queue_history WHERE resolution = :r ORDER BY bucket_start, queue"), {"r": resolution}
        ).mappings()
        return {(row["bucket_start"].astimezone(UTC), row["queue"]): dict(row) for row in found}


def test_each_minute_counts_its_completed_and_dead_jobs_with_the_exact_p95():
    # Given 30 jobs of q-a completed in minute 0 (durations 10..300 ms, seconds apart), 2 dead there,
    # 7 completed in minute 2, and 4 of q-b completed without a recorded duration in minute 0
    first = [10.0 * (i + 1) for i in range(30)]
    later = [5.5, 7.25, 1200.0, 3.0, 64.0, 99.5, 18.0]
    rows = [_finished("q-a", "completed", HOUR + timedelta(seconds=i * 2), ms) for i, ms in enumerate(first)]
    rows += [_finished("q-a", "dead", HOUR + timedelta(seconds=59)) for _ in range(2)]
    rows += [_finished("q-a", "completed", HOUR + timedelta(minutes=2, seconds=i), ms) for i, ms in enumerate(later)]
    rows += [_finished("q-b", "completed", HOUR + timedelta(seconds=30)) for _ in range(4)]
    # and a job finished just after the span, which must not count
    rows.append(_finished("q-a", "completed", HOUR + timedelta(minutes=3), 1.0))
    _insert(rows)
    # When minutes 0 to 2 are rolled up
    written = _roll(HOUR, HOUR + timedelta(minutes=3))
    # Then each (minute, queue) with jobs has a row with its counts and the p95 of its durations
    minutes = _rows()
    assert written == {"minutes": 3, "hours": 2}  # an hour row for each queue
    assert sorted(minutes) == [(HOUR, "q-a"), (HOUR, "q-b"), (HOUR + timedelta(minutes=2), "q-a")]
    zero = minutes[(HOUR, "q-a")]
    assert (zero["completed"], zero["dead"], zero["retried"], zero["timed"]) == (30, 2, 0, 30)
    assert zero["p95_ms"] == _p95(first) == 290.0
    assert zero["max_ms"] == 300.0 and zero["total_ms"] == sum(first)
    assert sum(zero["histogram"].values()) == 30
    two = minutes[(HOUR + timedelta(minutes=2), "q-a")]
    assert (two["completed"], two["dead"], two["p95_ms"]) == (7, 0, _p95(later)) and two["p95_ms"] == 1200.0
    untimed = minutes[(HOUR, "q-b")]
    assert (untimed["completed"], untimed["timed"], untimed["p95_ms"]) == (4, 0, None)


def test_rolling_the_same_minutes_up_again_leaves_the_same_rows():
    # Given jobs over three minutes, rolled up once
    rows = [_finished("q-a", "completed", HOUR + timedelta(seconds=i * 7), 3.0 * (i + 1)) for i in range(25)]
    rows += [_finished("q-a", "dead", HOUR + timedelta(minutes=1, seconds=5))]
    _insert(rows)
    depths = {"q-a": Depth(12, 3, 1)}
    _roll(
        HOUR,
        HOUR + timedelta(minutes=4),
        retried={("q-a", HOUR): 4},
        depths=depths,
        sampled_at=HOUR + timedelta(minutes=3, seconds=2),
    )
    before = {resolution: _rows(resolution) for resolution in ("minute", "hour")}
    # When the same minutes are rolled up again, with the same counters and no new sample
    _roll(HOUR, HOUR + timedelta(minutes=4), retried={("q-a", HOUR): 4})
    after = {resolution: _rows(resolution) for resolution in ("minute", "hour")}
    # Then every row holds what it held (only the time of the roll-up moved)
    for resolution in before:
        for rows_of in (before[resolution], after[resolution]):
            for row in rows_of.values():
                row.pop("rolled_at")
        assert after[resolution] == before[resolution]
    assert len(after["minute"]) == 3 and len(after["hour"]) == 1


def test_retried_attempts_and_the_depth_sample_land_on_their_minutes():
    # Given the metrics recorder's retried attempts of two minutes and a broker sample taken 5 s into minute 3
    retried = {("q-a", HOUR + timedelta(minutes=1)): 6, ("q-b", HOUR + timedelta(minutes=2)): 2}
    sampled = HOUR + timedelta(minutes=3, seconds=5)
    depths = {"q-a": Depth(40, 2, 1), "q-b": Depth(0, 0, 0)}
    # When minutes 0 to 3 are rolled up
    _roll(HOUR, HOUR + timedelta(minutes=4), retried=retried, depths=depths, sampled_at=sampled)
    # Then the retried counts sit on their minutes and the sample on minute 2, the one that had just ended
    minutes = _rows()
    assert minutes[(HOUR + timedelta(minutes=1), "q-a")]["retried"] == 6
    assert minutes[(HOUR + timedelta(minutes=2), "q-b")]["retried"] == 2
    sample = minutes[(HOUR + timedelta(minutes=2), "q-a")]
    assert (sample["depth"], sample["delayed"], sample["dead_letters"]) == (40, 2, 1)
    assert sample["sampled_at"].astimezone(UTC) == sampled
    # When a later run has a newer sample of the same minute
    _roll(
        HOUR,
        HOUR + timedelta(minutes=4),
        retried=retried,
        depths={"q-a": Depth(7, 0, 0)},
        sampled_at=sampled + timedelta(seconds=20),
    )
    # Then the newer one stands, and the hour holds the last sample of its minutes
    assert _rows()[(HOUR + timedelta(minutes=2), "q-a")]["depth"] == 7
    hour = _rows("hour")[(HOUR, "q-a")]
    assert (hour["retried"], hour["depth"]) == (6, 7)


def test_an_hour_adds_up_its_minutes_and_takes_its_p95_from_their_histograms():
    # Given q-a's jobs spread over four minutes of the hour, with durations that differ per minute
    durations = {0: [12.0, 15.0, 33.0], 7: [150.0 + i for i in range(20)], 31: [2.5, 2.7], 59: [900.0, 1300.0, 41.0]}
    rows = [
        _finished("q-a", "completed", HOUR + timedelta(minutes=minute, seconds=i), ms)
        for minute, values in durations.items()
        for i, ms in enumerate(values)
    ]
    rows.append(_finished("q-a", "dead", HOUR + timedelta(minutes=31, seconds=40)))
    _insert(rows)
    # When the whole hour is rolled up
    _roll(HOUR, HOUR + timedelta(hours=1))
    # Then the hour row sums its minutes, and its p95 is the histogram bound above the exact p95
    hour = _rows("hour")[(HOUR, "q-a")]
    every = [ms for values in durations.values() for ms in values]
    exact = _p95(every)
    assert (hour["completed"], hour["dead"], hour["timed"], hour["max_ms"]) == (28, 1, 28, 1300.0)
    assert hour["total_ms"] == sum(every)
    assert hour["p95_ms"] == pytest.approx(min(_upper_bound(exact), max(every)), rel=1e-9)
    assert exact <= hour["p95_ms"] <= exact * 2 ** (1 / 8)


def test_minute_rows_go_after_48_hours_and_hour_rows_after_9_days():
    # Given minute and hour rows of several ages
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with get_engine().begin() as connection:
        for resolution, age in (
            ("minute", timedelta(hours=47)),
            ("minute", timedelta(hours=49)),
            ("hour", timedelta(days=8)),
            ("hour", timedelta(days=10)),
        ):
            connection.execute(
                text("INSERT INTO queue_history (resolution, bucket_start, queue) VALUES (:r, :at, 'q-a')"),
                {"r": resolution, "at": now - age},
            )
        # When they are pruned
        removed = queue_history.prune(connection, now)
    # Then the minute row older than 48 h and the hour row older than 9 days are gone
    assert removed == 2
    assert list(_rows("minute")) == [(now - timedelta(hours=47), "q-a")]
    assert list(_rows("hour")) == [(now - timedelta(days=8), "q-a")]


def test_the_24_hour_range_folds_minutes_into_15_minute_points_per_queue_and_summed():
    # Given jobs of two queues in minutes 1 and 14 of a quarter hour, and depth samples in minutes 3 and 9
    quarter = HOUR + timedelta(minutes=15)
    rows = [_finished("q-a", "completed", quarter + timedelta(minutes=1, seconds=i), 20.0 + i) for i in range(10)]
    rows += [_finished("q-b", "completed", quarter + timedelta(minutes=14, seconds=i), 300.0) for i in range(5)]
    rows += [_finished("q-b", "dead", quarter + timedelta(minutes=14, seconds=30))]
    _insert(rows)
    _roll(
        quarter,
        quarter + timedelta(minutes=15),
        depths={"q-a": Depth(5, 0, 0), "q-b": Depth(9, 1, 0)},
        sampled_at=quarter + timedelta(minutes=4),
    )
    _roll(
        quarter,
        quarter + timedelta(minutes=15),
        depths={"q-a": Depth(2, 0, 0), "q-b": Depth(3, 0, 0)},
        sampled_at=quarter + timedelta(minutes=10),
    )
    # When the 24 h range that holds the quarter is read
    span = SPANS["24h"]
    start = quarter - 40 * span.step
    with get_engine().connect() as connection:
        answer = queue_history.history(connection, span, start, ["q-a", "q-b"])
    # Then there are 96 points a quarter apart, the quarter's point holds both minutes' figures
    points = answer["points"]
    assert len(points) == 96 and len(answer["queues"]["q-a"]) == 96
    assert points[0]["at"] == start.isoformat() and points[40]["at"] == quarter.isoformat()
    a, b, both = answer["queues"]["q-a"][40], answer["queues"]["q-b"][40], points[40]
    assert (a["completed"], b["completed"], b["dead"], both["completed"], both["failed"]) == (10, 5, 1, 15, 1)
    assert a["p95Ms"] == _p95([20.0 + i for i in range(10)]) and b["p95Ms"] == 300.0
    assert both["p95Ms"] == 300.0  # the 95th of 15 durations is one of q-b's 300 ms
    # and the depth is the last sample of the quarter, added up over the queues
    assert (a["depth"], b["depth"], both["depth"]) == (2, 3, 5)
    assert all(point["completed"] == 0 and point["depth"] is None for point in points[:40] + points[41:])
