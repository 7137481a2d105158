"""`actor.send()` refuses, naming the field, what could only fail later: delays, run times, dates, keys, NUL, NaN.

The same checks back the API and `jobsctl send` (tests/api/test_security.py,
tests/jobsctl/test_send_refusals.py); here the Python caller meets them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.payloads import InvalidPayload
from tests.support.sample_actors import echo


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"delay": 10**20}, "options.delay"),
        ({"delay": 8 * 24 * 3600 * 1000}, "options.delay"),
        ({"delay": -1}, "options.delay"),
        ({"run_at": datetime(9999, 12, 31, 23, 59, tzinfo=UTC)}, "options.runAt"),
        ({"run_at": "9999-12-31T23:59:59-05:00"}, "options.runAt"),
        ({"run_at": datetime.now(UTC) + timedelta(days=8)}, "options.runAt"),
        ({"job_id": "k" * 201}, "options.jobId"),
        ({"job_id": "a\x00b"}, "options.jobId"),
    ],
)
def test_send_refuses_options_that_would_make_a_dead_job(redis_client, options, field):
    # When a job is sent with an unusable delay, run time, dedupe key or priority
    with pytest.raises(InvalidPayload, match=field.replace(".", r"\.")):
        echo.send_with_options(kwargs={"value": 1}, **options)
    # Then nothing is enqueued
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]


def test_send_refuses_a_nul_character_postgresql_cannot_store(redis_client):
    # When a payload string holds a NUL character
    with pytest.raises(InvalidPayload, match="'label'"):
        echo.send(value=1, label="a\x00b")
    # Then it is refused at send(), naming the field, and nothing is enqueued
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]
