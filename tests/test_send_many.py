"""`send_many`: fan-out in batches of one script call, validated first, recorded like single sends."""

from __future__ import annotations

import time

import pytest

from brokers.redis_keys import lane_key
from core.payloads import InvalidPayload, Priority
from tests.support import processes, store
from tests.support.sample_actors import echo, probe


def test_a_batch_is_enqueued_recorded_and_run(redis_client, broker):
    messages = echo.send_many([{"value": n, "label": f"n{n}"} for n in range(2500)])
    assert len({m.message_id for m in messages}) == 2500
    assert redis_client.llen(lane_key(broker.namespace, "test-jobs", Priority.NORMAL)) == 2500
    assert store.job(messages[0].message_id)["state"] == "waiting"
    assert store.job(messages[-1].message_id)["payload"] == {"value": 2499, "label": "n2499"}
    with processes.worker_process("tests.support.sample_actors", processes=2, threads=4):
        for message in messages[::250]:
            assert (
                store.wait_for_state(message.message_id, "completed", timeout=60)["result"]["value"]
                == message.kwargs["value"]
            )


def test_one_invalid_payload_refuses_the_batch_and_enqueues_nothing(redis_client, broker):
    with pytest.raises(InvalidPayload, match=r"payload #3: field 'value'"):
        echo.send_many([{"value": 1}, {"value": 2}, {"value": 3}, {"value": "three"}, {"value": 5}])
    assert redis_client.llen(lane_key(broker.namespace, "test-jobs", Priority.NORMAL)) == 0


def test_a_batch_goes_to_the_lane_of_its_priority(redis_client, broker):
    probe.send_many([{"key": "bulk"} for _ in range(3)], priority="HIGH")
    assert broker.lane_lengths("limits-probe")[Priority.HIGH] == 3


def test_a_batch_into_an_empty_lane_wakes_idle_consumers_once(redis_client, broker):
    subscriber = redis_client.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(broker.wakeups.channel)
    probe.send_many([{"key": "bulk"} for _ in range(5)], priority="HIGH")
    probe.send_many([{"key": "bulk"} for _ in range(5)], priority="HIGH")  # the lane is not empty now
    wakes = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # None for the subscription's own confirmation, then the wake-ups
        message = subscriber.get_message(timeout=0.1)
        if message is not None:
            wakes.append(message["data"])
    subscriber.close()
    assert wakes == [b"limits-probe"]


def test_the_weekly_reports_schedule_fans_out_one_report_per_publisher(redis_client):
    from datetime import UTC, date, datetime

    from db.engine import get_engine
    from db.events import SeedPlan, seed_events
    from pipelines.scheduled import weekly_reports

    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 11, 16), days=1, rows_per_day=600, publishers=3))
    ids = weekly_reports(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    rows = [store.job(job_id) for job_id in ids]
    assert sorted(row["payload"]["publisher_id"] for row in rows) == ["pub-001", "pub-002", "pub-003"]
    assert {(row["actor"], row["payload"]["report_type"], row["payload"]["date"]) for row in rows} == {
        ("generate_report", "weekly", "2026-11-16")
    }
