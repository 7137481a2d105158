"""GET /api/v1/queues/history: the monitor's roll-up of real jobs, read back per range, queue and point."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from actors.monitor import monitor
from observability import history_rollup
from runtime import metrics_recorder
from tests.support import store
from tests.support.sample_actors import echo, flaky

URL = "/api/v1/queues/history"
QUEUE = "test-jobs"


def _history(client, reader, **params):  # type: ignore[no-untyped-def]
    reply = client.get(URL, headers=reader, params=params)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True
    return body["data"]


def _error(client, reader, status: int, **params) -> str:  # type: ignore[no-untyped-def]
    reply = client.get(URL, headers=reader, params=params)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["success"] is False
    return str(body["error"]["message"])


def test_jobs_run_by_a_worker_show_in_the_last_hour_after_the_roll_up(client, reader, worker):
    # Given five jobs completed by a worker and one that failed once before it completed
    done = [echo.send(value=i).message_id for i in range(5)]
    done.append(flaky.send(key="history", fail_times=1).message_id)
    for job_id in done:
        store.wait_for_state(job_id, "completed")
    metrics_recorder.flush()
    # When the monitor's roll-up runs and the last hour of the queue is read
    written = history_rollup.roll_up()
    answer = _history(client, reader, range="1h", queue=QUEUE)
    # Then the queue's points add up to what ran, with its durations' p95
    assert written["minutes"] >= 1 and written["hours"] >= 1
    points = answer["queues"][QUEUE]
    assert answer["range"] == "1h" and answer["stepSeconds"] == 60 and len(points) == 60
    assert list(answer["queues"]) == [QUEUE]
    assert sum(point["completed"] for point in points) == 6
    assert sum(point["retried"] for point in points) == 1
    assert sum(point["failed"] for point in points) == 1 and sum(point["dead"] for point in points) == 0
    busy = [point for point in points if point["completed"]]
    assert all(point["p95Ms"] is not None and point["p95Ms"] >= 0 for point in busy)
    # and the summed points (one queue asked for) are the queue's
    assert answer["points"] == points


def test_the_depth_sampled_by_the_roll_up_is_the_brokers(client, reader):
    # Given three jobs waiting in the queue, no worker running
    for i in range(3):
        echo.send(value=i)
    # When the roll-up samples the queues and the last hour is read for every queue
    history_rollup.roll_up()
    answer = _history(client, reader, range="1h")
    # Then the minute that had just ended holds the broker's count, for the queue and in the sum
    sampled = [point for point in answer["queues"][QUEUE] if point["depth"] is not None]
    assert [point["depth"] for point in sampled] == [3]
    summed = [point["depth"] for point in answer["points"] if point["depth"] is not None]
    assert summed == [3]  # every other known queue is empty
    assert set(answer["queues"]) >= {QUEUE, "data-export", "cleanup", "monitor"}


def test_the_monitor_job_rolls_the_history_up(client, reader, worker):
    # Given a job that ran
    store.wait_for_state(echo.send(value=1).message_id, "completed")
    # When a worker runs the alerts monitor
    done = store.wait_for_state(monitor.send().message_id, "completed", "dead")
    # Then its result says what it rolled up, and the day's history holds the job
    assert done["state"] == "completed", done["error"]
    assert done["result"]["history"]["minutes"] >= 1 and done["result"]["history"]["hours"] >= 1
    answer = _history(client, reader, range="24h", queue=QUEUE)
    assert sum(point["completed"] for point in answer["points"]) == 1


@pytest.mark.parametrize(("span", "step", "count"), [("1h", 60, 60), ("24h", 900, 96), ("7d", 3600, 168)])
def test_each_range_answers_a_point_per_step_ending_with_the_current_one(client, reader, span, step, count):
    # Given nothing rolled up yet
    before = datetime.now(UTC)
    # When a range is read
    answer = _history(client, reader, range=span, queue=QUEUE)
    # Then it has its number of points, a step apart, in UTC, the last holding the time of the request
    times = [datetime.fromisoformat(point["at"]) for point in answer["points"]]
    assert len(times) == count and answer["stepSeconds"] == step
    assert all(at.utcoffset() == timedelta(0) for at in times)
    assert all((later - earlier).total_seconds() == step for earlier, later in itertools.pairwise(times))
    assert times[-1] <= before < times[-1] + timedelta(seconds=step) + timedelta(seconds=5)
    assert answer["start"] == answer["points"][0]["at"]
    assert all(
        point["completed"] == 0 and point["depth"] is None and point["p95Ms"] is None for point in answer["points"]
    )


def test_the_default_range_is_24_hours(client, reader):
    answer = _history(client, reader)
    assert answer["range"] == "24h" and len(answer["points"]) == 96


@pytest.mark.parametrize("span", ["2d", "", "24H", "1w", "24h\x00"])
def test_an_unknown_range_is_422_naming_it(client, reader, span):
    message = _error(client, reader, 422, range=span)
    assert message.startswith("range:")


@pytest.mark.parametrize("queue", ["no-such-queue", "", "test-jobs\x00", "x" * 150])
def test_an_unknown_queue_is_404_naming_it(client, reader, queue):
    message = _error(client, reader, 404, queue=queue)
    assert repr(queue)[1:-1][:40] in message


def test_a_queue_name_longer_than_any_is_422(client, reader):
    message = _error(client, reader, 422, queue="q" * 201)
    assert message.startswith("queue:")


def test_no_token_is_401(client):
    assert client.get(URL).status_code == 401
