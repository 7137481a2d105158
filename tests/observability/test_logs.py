"""Structured logs: every line a job writes carries its job id, queue and actor; JSON when asked."""

from __future__ import annotations

import io
import json
import logging

import pytest

from telemetry.logs import JobContextFilter, JsonFormatter, TextFormatter
from tests.observability.observed_actors import chatty
from tests.observability.workers import dramatiq_worker
from tests.support import store


@pytest.fixture
def captured() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(JobContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream, handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_lines_written_inside_a_job_carry_its_id_queue_and_actor(worker, captured):
    stream, _ = captured
    # Given a job that logs three lines and then fails
    message = chatty.send(lines=3, fail=True)
    store.wait_for_state(message.message_id, "dead")
    worker.join()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # Then its own lines, and the worker's line about its failure, name the job
    mine = [line for line in lines if line["logger"] == "adjobs.tests.observed"]
    assert [line["message"] for line in mine] == ["chatty line 0", "chatty line 1", "chatty line 2"]
    assert all(
        (line["job_id"], line["queue"], line["actor"]) == (message.message_id, "test-observability", "chatty")
        for line in mine
    )
    assert [line["line"] for line in mine] == [0, 1, 2]  # `extra=` fields are kept
    failure = [line for line in lines if "Failed to process message" in line["message"]]
    assert (
        failure and failure[0]["job_id"] == message.message_id and "chatty failed on purpose" in failure[0]["exc_info"]
    )
    # and lines outside a job say so
    logging.getLogger("adjobs.tests.outside").warning("not in a job")
    outside = json.loads(stream.getvalue().splitlines()[-1])
    assert outside["job_id"] is None and outside["message"] == "not in a job"


def test_text_lines_name_the_job_and_secrets_are_scrubbed():
    record = logging.LogRecord("adjobs", logging.INFO, __file__, 1, "sent %s", ("api_token='abc123'",), None)
    record.job_id, record.queue, record.actor = "j-1", "data-export", "export_data"
    text = TextFormatter().format(record)
    assert text.endswith("[job=j-1 queue=data-export actor=export_data]")
    assert "abc123" not in text and "api_token='abc123'" not in text
    assert "abc123" not in JsonFormatter().format(record)


def test_json_lines_scrub_the_extras_too():
    # Given a record whose extras hold a secret by key and a URL with a password
    record = logging.LogRecord("adjobs", logging.WARNING, __file__, 1, "alert", (), None)
    record.alert = {"webhook_token": "tok-31f0", "target": "https://ops:pw-72c1@hooks.example.com/x"}
    # When it is written as a JSON line
    line = json.loads(JsonFormatter().format(record))
    # Then neither secret is in it, and the rest is
    assert "tok-31f0" not in json.dumps(line) and "pw-72c1" not in json.dumps(line)
    assert line["alert"]["target"] == "https://***@hooks.example.com/x"


def test_a_dramatiq_worker_with_log_format_json_writes_json_lines_naming_the_job():
    with dramatiq_worker(env={"LOG_FORMAT": "json"}) as worker:
        worker.wait_ready()
        message = chatty.send(lines=2)
        store.wait_for_state(message.message_id, "completed", timeout=60)
        worker.terminate()
        output = worker.output()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("logger") == "adjobs.tests.observed"]
    assert [line["message"] for line in mine] == ["chatty line 0", "chatty line 1"]
    assert {(line["job_id"], line["queue"], line["actor"]) for line in mine} == {
        (message.message_id, "test-observability", "chatty")
    }
    # every line a worker process writes after boot is JSON
    assert any(line.get("logger", "").startswith("dramatiq.") for line in lines)
