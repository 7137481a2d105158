"""`jobsctl jobs` as a search: the options of `GET /api/v1/jobs`, the total, and bad input in one line (exit 2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from db import jobstore
from db.engine import get_engine
from tests.jobsctl.test_operator_commands import jobsctl, ok, refused

BASE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def record(queue: str, publisher: str, minute: int, state: str = "completed", fmt: str = "csv") -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "queue": queue,
        "actor": "export_data",
        "state": state,
        "seq": 0,
        "priority": 5,
        "payload": {"publisher_id": publisher, "format": fmt, "filters": {"country": "US"}},
        "attempts": 1,
        "max_attempts": 3,
        "enqueued_at": BASE + timedelta(minutes=minute),
        "progress": 0,
    }


@pytest.fixture
def jobs() -> list[dict[str, object]]:
    """Thirty jobs of two queues and two publishers, a minute apart."""
    rows = [
        record(
            "data-export" if n % 3 else "report-generation",
            f"pub-00{n % 2 + 1}",
            n,
            "dead" if n % 5 == 0 else "completed",
            "json" if n % 4 == 0 else "csv",
        )
        for n in range(30)
    ]
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)
    return rows


def newest_first(rows: list[dict[str, object]]) -> list[object]:
    return [row["id"] for row in sorted(rows, key=lambda row: row["enqueued_at"], reverse=True)]  # type: ignore[arg-type, return-value]


def test_jobs_searches_across_queues_with_the_options_of_the_api(jobs):
    # When searching every queue by publisher, state, a payload field and a time range
    found = ok(
        "jobs",
        "--publisher",
        "pub-001",
        "--state",
        "completed",
        "--field",
        "format=csv",
        "--field",
        "filters.country=US",
        "--since",
        "2026-11-02T08:05:00Z",
        "--until",
        "2026-11-02 08:25",
        "--limit",
        "3",
        "--offset",
        "1",
    )
    # Then the JSON is the API's page: the jobs that match, newest first, and their total
    want = newest_first(
        [
            row
            for row in jobs
            if row["payload"]["publisher_id"] == "pub-001"
            and row["state"] == "completed"  # type: ignore[index]
            and row["payload"]["format"] == "csv"
            and BASE + timedelta(minutes=5) <= row["enqueued_at"] < BASE + timedelta(minutes=25)  # type: ignore[index, operator]
        ]
    )
    assert [job["id"] for job in found["jobs"]] == want[1:4]
    assert (found["total"], found["limit"], found["offset"]) == (len(want), 3, 1)
    # And an id's first characters find the job in whichever queue it is
    target = jobs[7]
    by_id = ok("jobs", "--id", str(target["id"])[:13])
    assert [job["id"] for job in by_id["jobs"]] == [target["id"]] and by_id["jobs"][0]["queueName"] == target["queue"]


def test_jobs_of_one_queue_print_the_total_and_the_next_page(jobs):
    # When a person lists a queue's dead jobs a page at a time
    result = jobsctl("jobs", "data-export", "--status", "dead", "--limit", "2")
    assert result.returncode == 0, result.stderr
    # Then the title says which of how many are shown, and the line after says how to get the next page
    dead = [row for row in jobs if row["queue"] == "data-export" and row["state"] == "dead"]
    assert f"1-2 of {len(dead)}" in result.stdout
    assert "next page: --offset 2" in result.stdout
    # And with --json the list is the API's `GET /queues/data-export/jobs` data, as before
    assert [job["id"] for job in ok("jobs", "data-export", "--status", "dead")] == newest_first(dead)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--state", "stuck"), "state"),
        (("--field", "format"), "--field"),
        (("--field", "bad name=x"), "field.bad name"),
        (("--since", "yesterday"), "since"),
        (("--since", "2026-11-03", "--until", "2026-11-02"), "since"),
    ],
)
def test_bad_search_options_are_one_line_and_exit_2(args, named):
    assert named in refused(2, "jobs", *args)
