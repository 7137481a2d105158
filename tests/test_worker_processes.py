"""A service process sends; a real `dramatiq actors` worker (two processes) runs the job."""

from __future__ import annotations

import os
import subprocess
from datetime import date

from sqlalchemy import text

from db.engine import get_engine
from db.events import SeedPlan, seed_events
from tests.support import processes, store


def test_a_job_sent_from_another_process_is_run_by_a_dramatiq_worker_and_recorded(redis_client):
    # Given raw events, and a worker started the way production starts it
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 11, 20), days=2, rows_per_day=5000, publishers=5))
    with processes.worker_process(processes=2, threads=4):
        # When a separate service process sends an aggregation for one day
        sent = processes.run_python(
            "from actors.aggregation import aggregate_analytics\n"
            "m = aggregate_analytics.send(start_date='2026-11-21', end_date='2026-11-21', granularity='day')\n"
            "print(m.message_id)\n"
        )
        assert sent.returncode == 0, sent.stderr
        job_id = sent.stdout.strip().splitlines()[-1]
        done = store.wait_for_state(job_id, "completed", "dead", timeout=60)
    # Then the rollups equal a direct GROUP BY over the raw rows
    assert done["state"] == "completed", done["error"]
    assert done["attempts"] == 1 and done["duration_ms"] > 0
    with get_engine().connect() as connection:
        direct = connection.execute(
            text(
                "SELECT publisher_id, ad_unit_id, sum(ad_requests), sum(impressions), sum(clicks), sum(revenue)"
                " FROM ad_events WHERE ts >= '2026-11-21T00:00Z' AND ts < '2026-11-22T00:00Z'"
                " GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
        rollups = connection.execute(
            text(
                "SELECT publisher_id, ad_unit_id, ad_requests, impressions, clicks, revenue FROM analytics_rollups"
                " WHERE granularity = 'day' AND bucket_start = '2026-11-21T00:00Z' ORDER BY 1, 2"
            )
        ).all()
    assert len(direct) > 0
    assert [tuple(row) for row in rollups] == [tuple(row) for row in direct]


def test_a_worker_without_a_reachable_broker_exits_non_zero_with_one_clear_line():
    result = subprocess.run(
        processes.dramatiq_command(processes=1, threads=1),
        cwd=processes.ROOT,
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "error: cannot reach the broker at redis://127.0.0.1:1/0" in result.stderr


def test_a_malformed_setting_is_one_line_naming_the_variable():
    result = subprocess.run(
        [str(processes.BIN / "jobsctl"), "migrate"],
        cwd=processes.ROOT,
        env={**os.environ, "QUEUE_MAX_ATTEMPTS": "three"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "QUEUE_MAX_ATTEMPTS" in lines[0], result.stderr


def test_a_worker_with_a_malformed_setting_exits_with_one_line_naming_it():
    result = subprocess.run(
        processes.dramatiq_command(processes=1, threads=1),
        cwd=processes.ROOT,
        env={**os.environ, "QUEUES__DATA_EXPORT__CONCURRENCY": "-4"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "error: setting QUEUES__DATA_EXPORT__CONCURRENCY:" in result.stderr
