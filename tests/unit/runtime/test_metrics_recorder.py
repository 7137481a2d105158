"""The metrics recorder's buffer: what it folds per attempt, and that a failed flush loses nothing."""

from __future__ import annotations

from runtime.metrics_recorder import BUCKETS, MetricsBuffer


def test_an_attempt_is_counted_once_per_outcome_with_its_duration_in_the_first_bucket_that_holds_it():
    # Given a buffer (flushed by hand only)
    buffer = MetricsBuffer(interval=3600)
    # When two attempts of one actor end: one completed in 0.2 s, one retried with no duration
    buffer.record_job("reports", "generate_report", "completed", 0.2)
    buffer.record_job("reports", "generate_report", "retried", None)
    # Then each outcome is counted once, and only the timed attempt is in the histogram
    assert dict(buffer._jobs) == {"reports|generate_report|completed": 1, "reports|generate_report|retried": 1}
    bucket = BUCKETS.index(0.25)
    assert dict(buffer._duration) == {
        f"reports|generate_report|b{bucket}": 1,
        "reports|generate_report|sum": 0.2,
        "reports|generate_report|count": 1,
    }


def test_a_flush_that_cannot_reach_redis_keeps_every_count_for_the_next_one():
    # Given counts in a buffer and no Redis to reach (the unit tier refuses every socket)
    buffer = MetricsBuffer(interval=3600)
    buffer.record_job("cleanup", "cleanup", "dead", 1.5)
    buffer.record_hold("cleanup", 2)
    # When it flushes
    written = buffer.flush()
    # Then it says so, and the counts are still there for the next flush
    assert written is False
    assert dict(buffer._jobs) == {"cleanup|cleanup|dead": 1}
    assert dict(buffer._holds) == {"cleanup": 2}
    assert buffer._duration["cleanup|cleanup|count"] == 1
