"""`jobsctl workers` as an operator and a script use it: two real worker processes, one running a slow job."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.support import busy_workers
from tests.support.busy_workers import parent_of, send_slow, wait_for
from tests.support.processes import BIN


def jobsctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def workers_json() -> dict[str, Any]:
    result = jobsctl("workers", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def test_workers_lists_both_worker_processes_and_the_running_job_with_how_long_in_a_table_and_in_json():
    # Given two worker processes, one of them running a slow job
    with busy_workers.two_workers() as started:
        wait_for(workers_json, "two workers", until=lambda found: len(found["workers"]) == 2)
        job_id = send_slow("workers-cli", seconds=10)
        # When `jobsctl workers --json` runs
        found = wait_for(
            workers_json,
            "running job",
            timeout=30,
            until=lambda found: any(job["id"] == job_id for worker in found["workers"] for job in worker["jobs"]),
        )
        # Then it prints the API's objects: both processes, and the job with its queue and how long it has run
        assert {parent_of(worker["pid"]) for worker in found["workers"]} == {process.pid for process in started}
        [job] = [job for worker in found["workers"] for job in worker["jobs"]]
        assert (job["name"], job["queue"]) == ("slow_steps", "test-jobs")
        assert job["runningSeconds"] >= 0 and job["startedAt"].endswith("+00:00")
        assert found["scheduler"]["beatAlive"] is False

        # When it runs for a person
        result = jobsctl("workers")
        # Then a table names both worker processes, their queues and threads, and the job "for" a duration
        assert result.returncode == 0, result.stdout + result.stderr
        for worker in found["workers"]:
            assert worker["id"] in result.stdout
        assert "Workers (2 alive)" in result.stdout
        assert f"slow_steps {job_id[:8]} test-jobs for " in result.stdout
        assert "UTC" in result.stdout  # every time with its zone
        # and it says that no beat runs the schedules
        assert "no beat is running" in result.stdout


def test_workers_without_any_worker_says_so_and_exits_0():
    # Given no worker process
    # When `jobsctl workers` runs
    result = jobsctl("workers")
    # Then it says there is none and how to start one, and that is not an error
    assert result.returncode == 0, result.stderr
    assert "no worker heartbeat in the last 30 s" in result.stdout
    assert "dramatiq actors" in result.stdout


def test_workers_with_redis_unreachable_is_one_line_and_exit_4():
    # Given a REDIS_URL where nothing listens
    # When `jobsctl workers` runs
    result = jobsctl("workers", env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    # Then one line says Redis cannot be reached, exit 4, no traceback
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and "cannot be reached" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
