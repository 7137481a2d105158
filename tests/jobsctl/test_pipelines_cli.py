"""`jobsctl pipelines list|show|retry` and `jobsctl schedules trigger` as an operator runs them: separate
processes over real pipeline runs (Redis, PostgreSQL, an in-process worker on the same broker)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from db import pipelines as runs
from db.engine import get_engine
from db.events import SeedPlan, publisher_ids, seed_events
from pipelines.daily import start_daily_pipeline
from runtime.store_buffer import get_buffer
from tests.support.processes import BIN

DAY = date(2026, 11, 10)


def jobsctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(*args: str) -> Any:
    result = jobsctl(*args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def refused(code: int, *args: str) -> str:
    result = jobsctl(*args)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def read_run(run_id: str) -> dict[str, Any]:
    get_buffer().flush()
    with get_engine().connect() as connection:
        run = runs.get_run(connection, run_id)
    assert run is not None
    return run


def wait_for_run(run_id: str, *states: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run = read_run(run_id)
    while run["state"] not in states and time.monotonic() < deadline:
        time.sleep(0.2)
        run = read_run(run_id)
    assert run["state"] in states, f"run {run_id} is {run['state']} after {timeout}s: {run['stages']}"
    return run


@pytest.fixture
def failed_run(worker: Any) -> dict[str, Any]:
    """A daily run whose aggregation died: one of its publishers is unknown to the database."""
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=DAY, days=1, rows_per_day=2000, publishers=2))
    started = start_daily_pipeline(DAY, [*publisher_ids(2), "pub-unknown"])
    return wait_for_run(started.id, "failed", "completed")


def test_list_and_show_a_failed_run_with_its_stages_and_the_job_that_failed_it(failed_run):
    run_id = failed_run["id"]
    # When the runs are listed
    listed = ok("pipelines", "list")
    table = jobsctl("pipelines", "list")
    # Then the run is there, failed, with each stage's state, as the API's objects
    assert [item["id"] for item in listed] == [run_id]
    assert listed[0]["state"] == "failed" and listed[0]["name"] == "daily"
    assert [stage["state"] for stage in listed[0]["stages"]] == ["failed", "pending", "pending"]
    assert listed[0]["createdAt"] == failed_run["createdAt"].isoformat()  # ISO 8601, as the API prints it
    assert table.returncode == 0 and run_id in table.stdout and "failed" in table.stdout
    assert DAY.isoformat() in table.stdout
    # When the run is shown
    shown = ok("pipelines", "show", run_id)
    page = jobsctl("pipelines", "show", run_id)
    # Then it names the job that failed it, its stages and jobs, and how to retry
    assert shown["failedJob"]["name"] == "aggregate_analytics" and "pub-unknown" in shown["failedJob"]["failedReason"]
    assert [stage["name"] for stage in shown["stages"]] == ["aggregation", "metrics", "cache-warming"]
    assert page.returncode == 0, page.stderr
    for expected in ("aggregate_analytics", "pub-unknown", "cache-warming", f"jobsctl pipelines retry {run_id}"):
        assert expected in page.stdout, expected
    for job in shown["stages"][0]["jobs"]:
        assert job["jobId"] in page.stdout


def test_retry_runs_the_failed_stage_again_and_the_run_completes(failed_run):
    run_id = failed_run["id"]
    failed_jobs = {job["jobId"] for job in failed_run["stages"][0]["jobs"]}
    # Given the cause fixed: the publisher is registered now
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO publishers (id, name) VALUES ('pub-unknown', 'Late publisher')"))
    # When the run is retried from the CLI
    retried = ok("pipelines", "retry", run_id)
    # Then the failed stage runs again with new jobs, and the later stages follow to completion
    assert retried["runId"] == run_id and retried["stage"] == "aggregation"
    assert len(retried["jobIds"]) == len(failed_jobs) and not set(retried["jobIds"]) & failed_jobs
    run = wait_for_run(run_id, "completed", "failed")
    assert run["state"] == "completed", run
    assert {job["jobId"] for job in run["stages"][0]["jobs"]} == set(retried["jobIds"])
    # And a run that did not fail is not retried: exit 1, saying why
    assert "not failed" in refused(1, "pipelines", "retry", run_id)


def test_an_unknown_run_is_exit_3_for_show_and_retry():
    missing = "00000000-0000-4000-8000-000000000000"
    assert "no pipeline run" in refused(3, "pipelines", "show", missing)
    assert "not found" in refused(3, "pipelines", "retry", missing)
    assert ok("pipelines", "list") == []


def test_triggering_the_daily_aggregation_prints_the_run_it_started():
    # When the daily aggregation schedule is triggered by hand
    triggered = ok("schedules", "trigger", "daily-aggregation")
    # Then the reply names the pipeline run(s) it started, whose first stage holds the jobs it sent
    assert triggered["runIds"], triggered
    first_stage_jobs = set()
    for run_id in triggered["runIds"]:
        run = read_run(run_id)
        assert run["name"] == "daily"
        first_stage_jobs |= {job["jobId"] for job in run["stages"][0]["jobs"]}
    assert first_stage_jobs == set(triggered["jobIds"])
    # And the text form prints the run id with the command that follows it
    printed = jobsctl("schedules", "trigger", "daily-aggregation")
    assert printed.returncode == 0, printed.stderr
    with get_engine().connect() as connection:
        newest = runs.list_runs(connection, limit=1)[0]["id"]
    assert f"pipeline run {newest}" in printed.stdout and f"jobsctl pipelines show {newest}" in printed.stdout
    # And `pipelines list` pages through the runs, newest first
    everything = ok("pipelines", "list")
    assert everything[0]["id"] == newest and len(everything) >= 2
    assert [run["id"] for run in ok("pipelines", "list", "--limit", "1", "--offset", "1")] == [everything[1]["id"]]


def test_triggering_a_schedule_that_starts_no_pipeline_prints_its_jobs_and_no_run():
    triggered = ok("schedules", "trigger", "daily-cleanup")
    assert triggered["runIds"] == [] and len(triggered["jobIds"]) == 5
    printed = jobsctl("schedules", "trigger", "daily-cleanup")
    assert "enqueued 5 job(s)" in printed.stdout and "pipeline run" not in printed.stdout


def test_an_unknown_schedule_is_exit_3_and_lists_the_valid_names():
    message = refused(3, "schedules", "trigger", "daily-aggregaton")
    assert "unknown schedule 'daily-aggregaton'" in message
    for name in ("daily-aggregation", "daily-cleanup", "hourly-metrics", "cache-warming", "weekly-reports"):
        assert name in message, name
    assert "daily-aggregation" in refused(3, "schedules", "stop", "nope")
