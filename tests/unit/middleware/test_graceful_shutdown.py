"""Jobs given back at a graceful stop: the job store hears they are waiting again, on the attempt they were on."""

from __future__ import annotations

from typing import Any

from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.message import Message

from db import jobstore
from middleware.graceful_shutdown import _record_waiting_again
from middleware.job_store import JobStore


class EventList:
    """Collects the job store's events (the StoreBuffer's `record`); `flush` has nothing to write."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def flush(self, timeout: float = 10.0, *, drain: bool = True) -> bool:
        return True


def _running(attempt: int) -> MessageProxy:
    message: Message[Any] = Message(
        queue_name="reports",
        actor_name="generate_report",
        args=(),
        kwargs={"day": "2026-11-30"},
        options={"retries": attempt},
    )
    return MessageProxy(message)


def test_a_job_given_back_at_shutdown_is_waiting_again_on_the_same_attempt_ranked_as_its_start():
    # Given a broker whose job store records into a list, and a job running its second attempt
    events = EventList()
    broker = StubBroker(middleware=[JobStore(buffer=events)])  # type: ignore[arg-type]
    message = _running(attempt=1)
    # When the graceful stop gives it back to its queue
    _record_waiting_again(broker, [message])
    # Then the store hears it is waiting again: the same attempt, no start, no worker, ranked as its start
    [event] = events.events
    assert (event["id"], event["queue"], event["state"]) == (message.message_id, "reports", "waiting")
    assert (event["attempts"], event["started_at"], event["worker"]) == (1, None, None)
    assert event["seq"] == jobstore.seq_for("active", 1, 0)
    broker.close()


def test_a_broker_without_a_job_store_records_nothing_and_does_not_fail():
    # Given a broker with no job store middleware
    broker = StubBroker(middleware=[])
    # When a graceful stop gives a job back, Then nothing is recorded and nothing is raised
    _record_waiting_again(broker, [_running(attempt=0)])
    broker.close()
