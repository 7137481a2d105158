"""Every time `jobsctl` prints carries its zone: UTC by default, this machine's zone with its offset under
`--local` (or `JOBSCTL_LOCAL_TIME=1`); `--json` keeps the API's ISO 8601 times."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

from tests.support.processes import BIN

#: A zone without daylight saving time, far from UTC: Tokyo is UTC+9 all year.
TOKYO = {"TZ": "Asia/Tokyo"}


def jobsctl(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def tokyo_text(at: datetime) -> str:
    return (at.astimezone(UTC) + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S") + " +09:00"


def test_job_times_print_in_utc_by_default_and_in_the_machines_zone_with_its_offset_under_local():
    # Given a delayed job, and its enqueue time as the API gives it (ISO 8601)
    sent = json.loads(
        jobsctl("send", "cleanup", "--data", '{"type": "temp_files", "dryRun": true}', "--delay", "600000", "--json")
    )
    job_id = sent["jobId"]
    try:
        enqueued = datetime.fromisoformat(json.loads(jobsctl("job", "cleanup", job_id, "--json"))["enqueuedAt"])
        # When a person reads it on a machine in Tokyo: by default, with --local, and with JOBSCTL_LOCAL_TIME
        default = jobsctl("job", "cleanup", job_id, env=TOKYO)
        local = jobsctl("--local", "job", "cleanup", job_id, env=TOKYO)
        by_setting = jobsctl("job", "cleanup", job_id, env={**TOKYO, "JOBSCTL_LOCAL_TIME": "1"})
        listed = jobsctl("jobs", "cleanup", "--status", "delayed", env=TOKYO)
        listed_local = jobsctl("--local", "jobs", "cleanup", "--status", "delayed", env=TOKYO)
        # Then the default is UTC, saying so, and --local is Tokyo's clock with its offset
        assert utc_text(enqueued) in default and tokyo_text(enqueued) not in default
        assert tokyo_text(enqueued) in local and utc_text(enqueued) not in local
        assert tokyo_text(enqueued) in by_setting
        assert utc_text(enqueued) in listed and tokyo_text(enqueued) in listed_local
    finally:
        jobsctl("cancel", "cleanup", job_id, "--json")


def test_schedule_times_print_in_utc_whatever_zone_the_schedules_run_in():
    # Given schedules read in New York's time (SCHEDULE_TZ), whose next runs the API gives with New York's offset
    new_york = {"SCHEDULE_TZ": "America/New_York"}
    schedules = json.loads(jobsctl("schedules", "--json", env=new_york))
    next_run = datetime.fromisoformat(schedules[0]["nextRuns"][0])
    assert next_run.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    # When a person lists them
    shown = jobsctl("schedules", env=new_york)
    # Then the next run is the same instant, in UTC and saying so (not New York's clock without a zone)
    assert utc_text(next_run) in shown
    assert next_run.strftime("%Y-%m-%d %H:%M:%S") not in shown
