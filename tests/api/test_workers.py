"""`GET /api/v1/workers` with real worker processes and a real beat: who runs what, since when, for how long."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from typing import Any

from tests.support import busy_workers
from tests.support.busy_workers import parent_of, send_slow, wait_for

API = "/api/v1"


def read(client, headers) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    reply = client.get(f"{API}/workers", headers=headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["data"])


def seconds_ago(iso: str) -> float:
    at = datetime.fromisoformat(iso)
    assert at.tzinfo is not None, f"{iso} has no zone"
    return (datetime.now(UTC) - at).total_seconds()


def test_two_worker_processes_are_listed_and_the_slow_job_one_runs_shows_with_how_long(client, reader):
    # Given two worker processes, each started as production starts one (`dramatiq actors ... --processes 1`)
    with busy_workers.two_workers() as started:
        ours = {process.pid for process in started}
        report = wait_for(
            lambda: read(client, reader), "two workers listed", until=lambda found: len(found["workers"]) == 2
        )
        # Then both are listed with their host, PID, queues, threads, start time and last heartbeat, idle
        assert {parent_of(worker["pid"]) for worker in report["workers"]} == ours
        for worker in report["workers"]:
            assert worker["id"] == f"{worker['host']}:{worker['pid']}"
            assert worker["host"] == socket.gethostname()
            assert worker["queues"] == ["*"] and worker["threads"] == busy_workers.THREADS
            assert 0 <= seconds_ago(worker["startedAt"]) < 120
            assert 0 <= seconds_ago(worker["lastHeartbeat"]) < 10
            assert worker["busy"] == 0 and worker["jobs"] == []

        # When a slow job is sent
        job_id = send_slow("workers-api", seconds=8)

        # Then exactly one worker shows it running, with its name, queue, start time and how long it has run
        def running() -> list[tuple[dict[str, Any], dict[str, Any]]]:
            found = read(client, reader)
            return [(worker, job) for worker in found["workers"] for job in worker["jobs"] if job["id"] == job_id]

        [(worker, job)] = wait_for(running, "slow job shown on a worker", timeout=30)
        assert job["name"] == "slow_steps" and job["queue"] == "test-jobs"
        assert worker["busy"] == 1
        assert abs(seconds_ago(job["startedAt"]) - job["runningSeconds"]) < 2
        # and what it has run grows with the time it runs
        time.sleep(1.5)
        [(again, later)] = running()
        assert again["id"] == worker["id"]
        assert later["startedAt"] == job["startedAt"]
        assert later["runningSeconds"] >= job["runningSeconds"] + 1.0
        others = [other for other in read(client, reader)["workers"] if other["id"] != worker["id"]]
        assert [other["jobs"] for other in others] == [[]]

        # When it ends, Then no worker shows it any more
        wait_for(running, "finished job gone from its worker", timeout=30, until=lambda shown: not shown)


def test_a_beat_is_listed_with_its_last_tick_and_the_schedules_say_whether_a_beat_runs_them(client, reader):
    # Given no beat: the schedules are enabled, and say no beat runs them and the dispatcher never ran
    schedules = client.get(f"{API}/scheduler", headers=reader).json()["data"]
    assert schedules and all(s["enabled"] for s in schedules)
    assert all(s["beatAlive"] is False and s["lastDispatch"] is None for s in schedules)
    assert read(client, reader)["scheduler"]["beatAlive"] is False

    # When a beat starts, with a worker that runs the dispatcher it sends
    with busy_workers.two_workers(count=1), busy_workers.beat() as started:
        report = wait_for(
            lambda: read(client, reader),
            "beat listed and dispatcher run",
            timeout=90,
            until=lambda found: found["beats"] and found["scheduler"]["lastDispatch"],
        )
        # Then the beat is listed with its PID, start, last heartbeat and the tick it sent
        [listed] = report["beats"]
        assert listed["pid"] == started.pid and listed["host"] == socket.gethostname()
        assert 0 <= seconds_ago(listed["lastHeartbeat"]) < 10
        assert -1 <= seconds_ago(listed["lastTick"]) < 90
        assert report["scheduler"]["beatAlive"] is True and report["scheduler"]["dispatching"] is True
        # and the beat is not a worker
        assert all(worker["pid"] != started.pid for worker in report["workers"])
        # and every schedule says a beat is alive, with the dispatcher's last run
        schedules = client.get(f"{API}/scheduler", headers=reader).json()["data"]
        assert all(s["beatAlive"] is True for s in schedules)
        assert {s["lastDispatch"] for s in schedules} == {report["scheduler"]["lastDispatch"]}
