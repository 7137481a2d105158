"""Bad input: refused at `send()` with the field named, or dead-lettered with its reason; the worker keeps working.

Runs in `make test`; it also writes RELIABILITY.md's bad-input row.
"""

from __future__ import annotations

import json
import uuid

import pytest
from dramatiq import Message

from control import dead_letters
from core.payloads import InvalidPayload
from tests.chaos import reliability
from tests.support import processes, store
from tests.support.sample_actors import echo

QUEUE = "test-jobs"
GOOD_JOBS = 200


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "value"),
        ({"value": "seven"}, "value"),
        ({"value": 1, "label": ["x"]}, "label"),
        ({"value": 1, "unknown": True}, "unknown"),
    ],
)
def test_an_invalid_payload_is_refused_at_send_naming_the_field(redis_client, kwargs, field):
    with pytest.raises(InvalidPayload) as refused:
        echo.send(**kwargs)
    assert refused.value.field.split(".")[0] == field and field in str(refused.value)
    assert redis_client.hlen(f"dramatiq:{QUEUE}.msgs") == 0  # nothing reached the queue


def test_an_oversized_payload_is_refused_at_send_with_the_limit_named(redis_client):
    big = "x" * 1_100_000  # over MAX_PAYLOAD_BYTES (1 MiB)
    with pytest.raises(InvalidPayload) as refused:
        echo.send(value=1, label=big)
    assert "payload too large" in str(refused.value) and "MAX_PAYLOAD_BYTES" in str(refused.value)
    with pytest.raises(InvalidPayload):  # a batch with one oversized payload sends none of them
        echo.send_many([{"value": 1}, {"value": 2, "label": big}])
    assert redis_client.hlen(f"dramatiq:{QUEUE}.msgs") == 0
    echo.send(value=1, label="x" * 100_000)  # under the limit: fine


def test_the_api_answers_an_oversized_or_invalid_job_with_422_not_500():
    from fastapi.testclient import TestClient

    from tests.api.conftest import ADMIN_TOKEN, build_app

    with TestClient(build_app(), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        url = f"/api/v1/queues/{QUEUE}/jobs"
        big = client.post(
            url, headers=headers, json={"jobName": "echo", "data": {"value": 1, "label": "x" * 1_100_000}}
        )
        assert big.status_code == 422 and "MAX_PAYLOAD_BYTES" in big.json()["error"]["message"]
        bad = client.post(url, headers=headers, json={"jobName": "echo", "data": {"value": "seven"}})
        assert bad.status_code == 422 and "value" in bad.json()["error"]["message"]
        escape = client.get("/api/v1/exports/..%2F..%2F..%2Fetc%2Fpasswd/download", headers=headers)
        assert 400 <= escape.status_code < 500 and "root:" not in escape.text


def test_poisoned_messages_go_to_the_dead_letters_and_the_worker_keeps_working(broker, redis_client):
    # Put on the queue directly, as a buggy or foreign producer would: bytes that are not JSON, JSON that
    # is not a message, and a message for an actor no worker knows.
    not_json, not_message = str(uuid.uuid4()), str(uuid.uuid4())
    redis_client.hset(f"dramatiq:{QUEUE}.msgs", mapping={not_json: b"\x80\x81 not json", not_message: b'{"x": 1}'})
    redis_client.rpush(f"dramatiq:{QUEUE}", not_json, not_message)
    unknown = broker.enqueue(Message(queue_name=QUEUE, actor_name="no_such_actor", args=(), kwargs={}, options={}))
    good = [echo.send(value=n).message_id for n in range(GOOD_JOBS)]

    with processes.worker_process("tests.support.sample_actors", processes=1, threads=4) as worker:
        for job_id in good:
            store.wait_for_state(job_id, "completed")
        assert store.wait_for_state(unknown.message_id, "dead")["error"].startswith("ActorNotFound")
        for redis_id in (not_json, not_message):
            row = store.wait_for_state(redis_id, "dead")
            assert "unreadable message" in row["error"] and row["actor"] == "(unreadable)"
        assert worker.poll() is None, "the worker died"
        log = worker.log_path.read_text()  # type: ignore[attr-defined]

    dead = {member.decode() for member in redis_client.zrange(f"dramatiq:{QUEUE}.XQ", 0, -1)}
    assert {not_json, not_message, unknown.options["redis_message_id"]} <= dead
    assert redis_client.llen(f"dramatiq:{QUEUE}") == 0 and not redis_client.keys("dramatiq:__acks__.*")
    letters = {letter["id"]: letter for letter in dead_letters.list_dead(QUEUE)}
    assert "unreadable message" in letters[not_json]["failedReason"]
    assert dead_letters.get_dead(QUEUE, not_json)["failedReason"] == letters[not_json]["failedReason"]
    assert "Consumer encountered an unexpected error" not in log
    reliability.record(
        "bad-input",
        fault="poisoned messages on the queue (not JSON, not a message, unknown actor) among "
        f"{GOOD_JOBS} good jobs; invalid and oversized payloads refused at send()",
        sent=GOOD_JOBS,
        completed=sum(store.job(job_id)["state"] == "completed" for job_id in good),
        lost=0,
        ran_twice=0,
        applied_twice=0,
        store={"dead (poisoned)": 3},
        note="each poisoned message in the dead letters with its reason; the worker kept running",
    )
    assert json.dumps(letters[not_json])  # the API's listing of it is plain JSON
