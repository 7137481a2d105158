"""Middleware decisions that need no server: final failures, priority normalisation, holds.

The failure tests run a real Dramatiq worker on an in-process StubBroker with the job store
middleware before Retries (their order in `wiring.broker`); the store's events are kept in
a list instead of the store buffer, which would write them to a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries, TimeLimit

from actors._base import job_actor
from actors._outages import dependency_of
from actors.cleanup import cleanup
from core.payloads import InvalidPayload, JobError, JobPayload, PermanentJobError, Priority
from db.store_records import lane_for
from middleware.job_store import JobStore


class EventList:
    """Collects the job store's events (the StoreBuffer's `record`)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Empty(JobPayload):
    pass


@pytest.fixture
def events() -> EventList:
    return EventList()


@pytest.fixture
def stub_broker(events: EventList) -> Iterator[StubBroker]:
    broker = StubBroker(
        middleware=[TimeLimit(), JobStore(buffer=events), Retries(max_retries=2, min_backoff=1, max_backoff=2)]
    )
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def run_to_the_end(broker: StubBroker, fn: Any) -> list[str]:
    """Declare `fn` as a job on `broker`, send it once, run it with a worker; the states it went through."""
    actor = job_actor(queue="unit-decisions", payload=Empty, broker=broker, max_retries=2, min_backoff=1)(fn)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        actor.send()
        broker.join(actor.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    return [event["state"] for event in broker.middleware[1].buffer.events]


def test_a_permanent_error_is_final_at_its_first_attempt(stub_broker: StubBroker):
    # Given a job that raises PermanentJobError
    def doomed(request: Empty) -> None:
        raise PermanentJobError("publisher p-1 does not exist")

    # When a worker runs it, Then it goes dead at once, with no retry
    assert run_to_the_end(stub_broker, doomed) == ["waiting", "active", "dead"]


def test_a_retryable_error_leaves_the_job_failed_with_a_retry_pending_until_the_attempts_run_out(
    stub_broker: StubBroker,
):
    # Given a job that always raises a retryable JobError and has 3 attempts
    def flaky(request: Empty) -> None:
        raise JobError("the upstream timed out")

    states = run_to_the_end(stub_broker, flaky)
    # Then the first two attempts end `failed` (a retry pending), the third `dead`
    finals = [state for state in states if state in ("failed", "dead", "completed")]
    assert finals == ["failed", "failed", "dead"]


def test_a_job_that_returns_is_completed(stub_broker: StubBroker):
    def fine(request: Empty) -> dict[str, int]:
        return {"rows": 1}

    assert run_to_the_end(stub_broker, fine)[-1] == "completed"


@pytest.mark.parametrize(
    ("given", "normalised"),
    [(Priority.CRITICAL, 1), ("high", 3), ("LOW", 7), (10, 10), (5, 5)],
)
def test_a_priority_given_by_name_number_or_text_becomes_its_number(given: Any, normalised: int):
    message = cleanup.message_with_options(kwargs={"type": "old_logs"}, priority=given)
    assert message.options["priority"] == normalised


@pytest.mark.parametrize("given", [0, 11, "urgent", None, "1e9"])
def test_a_priority_outside_1_to_10_or_no_name_is_refused_naming_the_option(given: Any):
    with pytest.raises(InvalidPayload, match=r"options\.priority"):
        cleanup.message_with_options(kwargs={"type": "old_logs"}, priority=given)


@pytest.mark.parametrize(("priority", "lane"), [(1, 1), ("7", 7), (0, 1), (99, 10), ("soon", 5), (None, 5)])
def test_the_store_files_any_priority_under_a_lane_between_1_and_10(priority: Any, lane: int):
    assert lane_for(priority) == lane


def test_a_database_or_redis_connection_error_asks_for_a_hold_and_others_do_not():
    # Given errors raised by the drivers, directly or as the cause of the job's own error
    try:
        try:
            raise redis.ConnectionError("Connection refused")
        except redis.ConnectionError as cause:
            raise JobError("warming top-publishers:7d failed") from cause
    except JobError as wrapped:
        redis_behind = wrapped
    # Then connection failures name their dependency (the job is held), anything else is the job's own
    assert dependency_of(psycopg.OperationalError("server closed the connection")) == "database"
    assert dependency_of(redis_behind) == "redis"
    assert dependency_of(ValueError("bad row")) is None
    assert dependency_of(psycopg.errors.UniqueViolation("duplicate key")) is None
