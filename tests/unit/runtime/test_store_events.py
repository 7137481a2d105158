"""Store events on the Redis list: what the broker pushes (a head, the message) reads back as the producer's event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq.message import Message

from db.store_order import seq_for
from runtime.store_events import UnreadableEvent, decode, encode_record, enqueue_head, enqueued_event


def _message(**options: Any) -> Message[Any]:
    return Message(
        queue_name="reports.DQ",
        actor_name="generate_report",
        args=(),
        kwargs={"publisher_id": "p1", "date": "2026-11-30"},
        options={"redis_message_id": "r-1", **options},
    )


def test_a_pushed_head_and_message_read_back_as_the_event_the_producer_would_record():
    # Given a delayed retry (second attempt, held once) as the broker pushed it: its head, then its bytes
    message = _message(eta=1_764_547_200_000, retries=1, holds=1, priority=3, dedupe_key="k")
    item = enqueue_head("delayed", 3) + message.encode()
    # When a writer decodes the item
    event = decode(item)
    # Then it is the producer's event, field for field, under the queue the job belongs to
    assert event == enqueued_event(message, "delayed", 3)
    assert (event["queue"], event["state"], event["seq"]) == ("reports", "delayed", seq_for("delayed", 1, 1))
    assert event["run_at"] == datetime(2025, 12, 1, tzinfo=UTC) and event["broker_ref"] == "r-1"
    assert (event["priority"], event["dedupe_key"], event["attempts"], event["max_attempts"]) == (3, "k", 1, 3)


def test_a_whole_event_recorded_without_a_writer_reads_back_with_its_times():
    # Given a worker's event with times, recorded by a process with no writer of its own
    finished = datetime(2026, 11, 30, 12, 0, 1, 500_000, tzinfo=UTC)
    event = {"id": "j1", "queue": "reports", "state": "completed", "seq": 3, "finished_at": finished, "result": [1]}
    # When it goes through the list and back
    # Then it is the same event, its time a time again
    assert decode(encode_record(event)) == event


@pytest.mark.parametrize("item", [b"", b"X{}", b'E["waiting"]\n{}', b'E["waiting",3]\nnot json', b"R{"])
def test_an_item_that_holds_no_event_is_refused_with_a_reason(item):
    with pytest.raises(UnreadableEvent):
        decode(item)
