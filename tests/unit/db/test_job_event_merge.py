"""The job store's event ordering: events of one job folded into one record whatever order they arrive in.

`db.jobstore.merge_events` is the rule the store buffer applies in memory and the SQL upsert
applies in the database; `seq_for` ranks the events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from db import jobstore

ENQUEUED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STARTED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
FINISHED = datetime(2026, 3, 1, 12, 0, 9, tzinfo=UTC)


def event(state: str, attempt: int = 0, holds: int = 0, **columns: Any) -> dict[str, Any]:
    attempts = attempt + (1 if state in ("active", "completed", "failed", "dead") else 0)
    return {
        "id": "job-1",
        "state": state,
        "seq": jobstore.seq_for(state, attempt, holds),
        "attempts": attempts,
        **columns,
    }


def test_a_producers_waiting_event_arriving_after_the_workers_completed_one_does_not_undo_it():
    # Given the worker's `completed` and then, late, the producer's `waiting`
    completed = event("completed", finished_at=FINISHED, result={"rows": 3}, queue="cleanup", payload={"a": 1})
    waiting = event("waiting", enqueued_at=ENQUEUED, queue="cleanup", payload={"a": 1}, priority=3)
    # When they are merged in arrival order
    row = jobstore.merge_events(completed, waiting)
    # Then the job stays completed, and gains the producer's enqueue time and priority
    assert row["state"] == "completed"
    assert row["finished_at"] == FINISHED
    assert row["result"] == {"rows": 3}
    assert row["enqueued_at"] == ENQUEUED
    assert row["priority"] == 3
    assert row["attempts"] == 1


def test_the_merge_is_the_same_whichever_event_arrives_first():
    waiting = event("waiting", enqueued_at=ENQUEUED, priority=5)
    active = event("active", started_at=STARTED, worker="host:1")
    failed = event("failed", finished_at=FINISHED, error="JobError: timeout")
    in_order = jobstore.merge_events(jobstore.merge_events(waiting, active), failed)
    reversed_order = jobstore.merge_events(jobstore.merge_events(failed, active), waiting)
    assert in_order == reversed_order
    assert in_order["state"] == "failed"


def test_a_retry_starting_clears_the_finish_of_the_failed_attempt_but_keeps_its_error():
    # Given attempt 0 failed with an error, and attempt 1 has started
    failed = event("failed", finished_at=FINISHED, duration_ms=40.0, error="JobError: timeout")
    retry_active = event("active", attempt=1, started_at=STARTED, finished_at=None, duration_ms=None)
    # When merged
    row = jobstore.merge_events(failed, retry_active)
    # Then the job is active in its second attempt, with no finish time, and the last error still shown
    assert (row["state"], row["attempts"]) == ("active", 2)
    assert row["finished_at"] is None
    assert row["duration_ms"] is None
    assert row["error"] == "JobError: timeout"


def test_the_first_event_that_names_the_payload_and_queue_keeps_them():
    first = event("waiting", queue="data-export", payload={"format": "csv"}, dedupe_key="k")
    later = event("active", queue="data-export.DQ", payload={"format": "json"}, dedupe_key=None)
    row = jobstore.merge_events(later, first)
    assert (row["queue"], row["payload"], row["dedupe_key"]) == ("data-export", {"format": "csv"}, "k")


def test_a_hold_outranks_the_start_it_put_back_and_the_next_attempt_outranks_any_hold():
    # A job a queue limit held (delayed again) after it was recorded active in the same attempt
    assert jobstore.seq_for("delayed", 0, holds=1) > jobstore.seq_for("active", 0, holds=0)
    assert jobstore.seq_for("dead", 0, holds=0) > jobstore.seq_for("active", 0, holds=0)
    assert jobstore.seq_for("waiting", 1) > jobstore.seq_for("delayed", 0, holds=jobstore.HOLDS * 10)
    assert jobstore.seq_for("completed", 50, holds=jobstore.HOLDS - 1) < jobstore.CANCELLED_SEQ


def test_a_held_job_is_delayed_again_not_active():
    active = event("active", started_at=STARTED)
    held = event("delayed", holds=1, run_at=FINISHED)
    row = jobstore.merge_events(held, active)
    assert row["state"] == "delayed"
    assert row["run_at"] == FINISHED
