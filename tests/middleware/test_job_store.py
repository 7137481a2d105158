"""The job store records each message's life: waiting → active → completed / failed / dead."""

from __future__ import annotations

import pytest
from dramatiq import Message

from core.payloads import InvalidPayload
from tests.support import store
from tests.support.sample_actors import echo, flaky, refuses


def test_a_successful_job_is_recorded_waiting_then_completed_with_duration_and_one_attempt(broker, worker):
    # Given a job sent while the worker is paused
    worker.pause()
    message = echo.send(value=7, label="seven")
    waiting = store.wait_for_state(message.message_id, "waiting")
    assert waiting["payload"] == {"value": 7, "label": "seven"}
    assert waiting["queue"] == "test-jobs" and waiting["actor"] == "echo"
    # When the worker runs it
    worker.resume()
    done = store.wait_for_state(message.message_id, "completed")
    # Then the store has its whole life
    assert done["attempts"] == 1
    assert done["result"] == {"value": 7, "label": "seven"}
    assert done["duration_ms"] is not None and done["duration_ms"] >= 0
    assert done["enqueued_at"] <= done["started_at"] <= done["finished_at"]
    assert done["progress"] == 100 and done["error"] is None


def test_a_job_that_fails_once_is_retried_and_completes_on_its_second_attempt(broker, worker):
    message = flaky.send(key="once", fail_times=1)
    done = store.wait_for_state(message.message_id, "completed", "dead")
    assert done["state"] == "completed"
    assert done["attempts"] == 2
    assert done["result"] == 2
    assert "flaky failure 1 of 1" in done["error"]  # the failed attempt's reason stays visible


def test_a_job_out_of_retries_is_dead_with_reason_traceback_and_three_attempts(broker, worker, redis_client):
    message = flaky.send(key="always", fail_times=99)
    dead = store.wait_for_state(message.message_id, "dead")
    assert dead["attempts"] == 3 == dead["max_attempts"]
    assert "RuntimeError: flaky failure 3 of 99" in dead["error"]
    assert "Traceback" in dead["traceback"] and "flaky failure" in dead["traceback"]
    assert int(redis_client.get("flaky:always")) == 3
    # and the message is in Dramatiq's dead-letter queue
    assert redis_client.zcard("dramatiq:test-jobs.XQ") == 1


def test_a_permanent_error_goes_to_dead_without_retries(broker, worker):
    message = refuses.send(key="nope")
    dead = store.wait_for_state(message.message_id, "dead")
    assert dead["attempts"] == 1
    assert "PermanentJobError: refuses: nope can never succeed" in dead["error"]


def test_an_invalid_payload_is_refused_at_send_naming_the_field_and_nothing_is_enqueued(broker, redis_client):
    with pytest.raises(InvalidPayload, match="'value'") as raised:
        echo.send(value="not a number")
    assert raised.value.field == "value"
    with pytest.raises(InvalidPayload, match="'surprise'"):
        echo.send(value=1, surprise=True)
    assert redis_client.llen("dramatiq:test-jobs") == 0
    assert store.job("anything") is None


def test_a_message_with_an_invalid_payload_in_the_worker_goes_straight_to_dead(broker, worker):
    # Given a message put on the queue by something that skipped validation
    raw = Message(queue_name="test-jobs", actor_name="echo", args=(), kwargs={"value": "NaN!"}, options={})
    broker.enqueue(raw)
    # Then it is dead after one attempt, with the field named
    dead = store.wait_for_state(raw.message_id, "dead")
    assert dead["attempts"] == 1
    assert "invalid payload" in dead["error"] and "'value'" in dead["error"]


def test_camel_case_names_from_the_api_are_accepted(broker, worker):
    message = flaky.send_with_options(kwargs={"key": "camel", "failTimes": 0})
    assert message.kwargs == {"key": "camel", "fail_times": 0}
    assert store.wait_for_state(message.message_id, "completed")["attempts"] == 1


def test_progress_reported_by_a_running_job_is_visible_in_the_store_before_it_ends(broker, worker):
    import time

    from tests.support.sample_actors import slow_steps

    message = slow_steps.send(key="p", steps=4, step_seconds=0.4)
    seen: set[int] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = store.job(message.message_id)
        if row is not None and row["state"] == "active":
            seen.add(row["progress"])
        if row is not None and row["state"] == "completed":
            break
        time.sleep(0.1)
    assert seen & {25, 50, 75}, f"progress seen while active: {seen}"
    assert store.wait_for_state(message.message_id, "completed")["progress"] == 100
