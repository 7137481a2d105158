"""`jobsctl` operator commands as a script uses them: separate processes, `--json`, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from typing import Any

import pandas as pd

from actors.exports import find_export
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from tests.support import processes, store
from tests.support.processes import BIN


def jobsctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
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
    assert result.stderr.startswith("error:"), result.stderr
    return result.stderr


def test_queue_commands_in_json_and_exit_codes():
    sent = ok("send", "cleanup", "--data", '{"type": "temp_files", "dryRun": true}', "--delay", "60000")
    job_id = sent["jobId"]
    assert ok("job", "cleanup", job_id)["state"] == "delayed"
    assert [job["id"] for job in ok("jobs", "cleanup", "--status", "delayed")] == [job_id]
    assert ok("stats")["cleanup"]["delayed"] == 1
    assert ok("cancel", "cleanup", job_id)["state"] == "cancelled"
    assert "cancelled" in refused(1, "cancel", "cleanup", job_id)  # not waiting or delayed any more

    assert ok("pause", "cleanup") == {"queue": "cleanup", "paused": True}
    assert ok("stats")["cleanup"]["paused"] is True
    assert ok("resume", "cleanup") == {"queue": "cleanup", "paused": False}

    waiting = [ok("send", "cleanup", "--data", '{"type": "temp_files", "dryRun": true}')["jobId"] for _ in range(3)]
    assert ok("drain", "cleanup")["removed"] == 3
    assert {store.job(job_id)["state"] for job_id in waiting} == {"cancelled"}
    assert ok("clean", "cleanup", "--status", "cancelled")["removed"] == 4

    assert "unknown queue 'nope'" in refused(3, "jobs", "nope")
    refused(3, "job", "cleanup", "00000000-0000-4000-8000-000000000000")
    assert "older_than" in refused(2, "send", "cleanup", "--data", '{"type": "temp_files", "olderThan": "soon"}')
    refused(2, "send", "cleanup", "--data", "{not json")
    refused(2, "clean", "cleanup", "--status", "active")
    assert "cannot be reached" in jobsctl("stats", env={"REDIS_URL": "redis://127.0.0.1:1/0"}).stderr
    assert jobsctl("stats", env={"REDIS_URL": "redis://127.0.0.1:1/0"}).returncode == 4


def test_schedules_list_stop_start_trigger():
    listed = {item["name"]: item for item in ok("schedules")}
    assert listed["weekly-reports"]["cron"] == "0 8 * * 1" and listed["weekly-reports"]["enabled"] is True
    assert ok("schedules", "stop", "weekly-reports")["enabled"] is False
    assert {item["name"]: item for item in ok("schedules")}["weekly-reports"]["enabled"] is False
    assert ok("schedules", "start", "weekly-reports")["enabled"] is True
    triggered = ok("schedules", "trigger", "daily-cleanup")
    assert len(triggered["jobIds"]) == 5
    assert sorted(store.job(job_id)["payload"]["type"] for job_id in triggered["jobIds"]) == [
        "expired_tokens",
        "job_records",
        "old_events",
        "old_logs",
        "temp_files",
    ]
    refused(3, "schedules", "trigger", "no-such-schedule")
    refused(2, "schedules", "trigger")


def test_export_waits_with_progress_and_dead_letters_retry(tmp_path):
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 11, 2), days=1, rows_per_day=4000, publishers=2))
    with processes.worker_process(processes=1, threads=2):
        done = ok(
            "export", "--publisher", "pub-001", "--start", "2026-11-02", "--end", "2026-11-02", "--granularity", "raw"
        )
        assert done["status"] == "completed" and done["downloadable"] is True
        frame = pd.read_csv(find_export(done["exportId"])["file_path"])
        assert len(frame) == done["rowCount"] > 0 and set(frame["publisher_id"]) == {"pub-001"}

        failed = jobsctl("export", "--publisher", "pub-404", "--start", "2026-11-02", "--end", "2026-11-02")
        assert failed.returncode == 1 and "unknown publisher" in failed.stderr
        letters = ok("dead-letters", "--queue", "data-export")
        assert letters["counts"] == {"data-export": 1} and letters["letters"][0]["name"] == "export_data"
        dead_id = letters["letters"][0]["id"]
        again = ok("retry", "data-export", dead_id)
        assert again["retryOf"] == dead_id
        assert store.wait_for_state(again["jobId"], "dead")["retry_of"] == dead_id
    assert ok("dead-letters", "--purge", "--queue", "data-export") == {"queue": "data-export", "purged": 1}
    assert ok("dead-letters")["letters"] == []
