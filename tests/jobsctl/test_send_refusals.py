"""`jobsctl send` refuses what the API refuses: one line on stderr, exit code 2, nothing enqueued."""

from __future__ import annotations

import pytest

from tests.jobsctl.test_operator_commands import jobsctl

CLEANUP = '{"type": "temp_files", "dryRun": true}'


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--delay", str(10**20)], "delay"),
        (["--delay", str(8 * 24 * 3600 * 1000)], "delay"),  # past the API's 7 days
        (["--delay", "-5"], "delay"),
        (["--job-id", "k" * 201], "jobId"),
        (["--job-id", ""], "jobId"),
    ],
)
def test_send_refuses_bad_options_with_exit_2_and_one_line(redis_client, args, field):
    # When a job is sent with an option the API would refuse
    result = jobsctl("send", "cleanup", "--data", CLEANUP, *args)
    # Then it exits 2 with one line naming the option, no traceback, and enqueues nothing
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"startDate": "2026-01-01", "endDate": "2026-01-02", "publisherId": "p\\u0000"}', "publisherId"),
        ('{"startDate": "2026-01-01", "endDate": "9999-12-31"}', "endDate"),
    ],
)
def test_send_refuses_payloads_the_api_refuses(redis_client, data, field):
    # When a payload holds a NUL character or a date whose next day overflows
    result = jobsctl("send", "aggregate_analytics", "--data", data)
    # Then it is refused like the API refuses it: exit 2, the field named, nothing enqueued
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and field in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]
