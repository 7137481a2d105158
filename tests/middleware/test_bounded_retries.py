"""A failed attempt whose retry would be over the size limit is retried with its traceback trimmed, or dead with why.

Dramatiq's Retries puts the failed attempt's traceback on the retried message; a payload just
under MAX_PAYLOAD_BYTES then makes a retry over it, which used to be acknowledged and lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from actors._base import job_actor
from core.payloads import JobPayload
from tests.support import store

#: The broker's size limit in these tests (MAX_PAYLOAD_BYTES is 1 MiB by default).
LIMIT = 16_384


class PaddedRequest(JobPayload):
    key: str
    padding: str = ""
    fail_times: int = 1


@job_actor(queue="test-jobs", payload=PaddedRequest)
def padded_flaky(request: PaddedRequest) -> int:
    """Fails its first `fail_times` attempts with a long error, so its traceback is long too."""
    import os

    attempt = int(redis.Redis.from_url(os.environ["REDIS_URL"]).incr(f"padded:{request.key}"))
    if attempt <= request.fail_times:
        raise RuntimeError(f"padded failure {attempt}: " + "detail " * 500)
    return attempt


@pytest.fixture
def small_limit(broker: Any) -> Iterator[int]:
    """The broker refuses messages over LIMIT bytes for the test's length."""
    before = broker.max_message_bytes
    broker.max_message_bytes = LIMIT
    yield LIMIT
    broker.max_message_bytes = before


def _padded(key: str, room: int) -> dict[str, Any]:
    """A payload whose message, as sent, is `room` bytes under LIMIT."""
    empty = len(padded_flaky.message_with_options(kwargs={"key": key}).encode())
    sent_extra = len(',"redis_message_id":"00000000-0000-0000-0000-000000000000"')  # added by enqueue
    return {"key": key, "padding": "p" * (LIMIT - room - empty - sent_extra - len(',"padding":""'))}


def test_a_retry_over_the_limit_only_by_its_traceback_is_sent_trimmed_and_completes(broker, worker, small_limit):
    # Given a job 1,500 bytes under the limit: room for the retry's counters, not for its traceback
    payload = _padded("fits", room=1500)
    # When its first attempt fails
    message = padded_flaky.send(**payload)
    # Then it is retried, with its traceback cut to fit, and completes on its second attempt
    done = store.wait_for_state(message.message_id, "completed", "dead")
    assert done["state"] == "completed", done["error"]
    assert done["attempts"] == 2 and done["result"] == 2


def test_a_retry_that_cannot_fit_even_without_its_traceback_is_dead_with_the_size_as_reason(
    broker, worker, small_limit, redis_client
):
    # Given a job 100 bytes under the limit: its retry's counters alone take it over
    payload = _padded("too-big", room=100)
    # When its first attempt fails
    message = padded_flaky.send(**payload)
    # Then it is dead, not retried, with the size and the limit in its reason and its last error
    dead = store.wait_for_state(message.message_id, "dead", "completed")
    assert dead["state"] == "dead"
    assert dead["attempts"] == 1
    assert f"over the limit of {LIMIT:,} bytes (MAX_PAYLOAD_BYTES)" in dead["error"]
    assert "RuntimeError: padded failure 1" in dead["error"]
    assert int(redis_client.get("padded:too-big")) == 1
    # and nothing is left waiting for a retry: the message is in the dead letters
    worker.join()
    assert store.job(message.message_id)["state"] == "dead"
    assert redis_client.zcard("dramatiq:test-jobs.XQ") == 1
