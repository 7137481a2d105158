"""Job search and paged listings against the real app and PostgreSQL: `GET /api/v1/jobs`, the queue
listing's `page`, the stable order, bad input, and the indexes of migrations 0012 and 0013.

Job records are written with the store's own upsert (`db.jobstore.upsert_jobs`), so their payloads are
JSONB as a worker leaves them; every expected answer is computed here, in Python, from those records.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from db import jobstore
from db.engine import get_engine
from db.job_search import TABLE, WINDOWS, JobFilter, where
from tests.api.test_endpoints import data, failed_reply

API = "/api/v1"
QUEUES = ("data-export", "analytics-aggregation", "report-generation", "cleanup")
BASE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def record(job_id: str, queue: str = "data-export", state: str = "completed", **values: Any) -> dict[str, Any]:
    """A job-store row as the writer stores it."""
    return {
        "id": job_id,
        "queue": queue,
        "actor": "export_data",
        "state": state,
        "seq": 0,
        "priority": 5,
        "payload": {},
        "attempts": 1,
        "max_attempts": 3,
        "enqueued_at": BASE,
        "progress": 0,
        **values,
    }


def store(rows: list[dict[str, Any]]) -> None:
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)


def corpus(count: int = 240, seed: int = 20) -> list[dict[str, Any]]:
    """Jobs of four queues and every state; publishers under both spellings; many enqueued in the same second."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        payload: dict[str, Any] = {
            "format": rng.choice(["csv", "json"]),
            "filters": {"country": rng.choice(["US", "DE", "FR"])},
            "dry_run": rng.choice([True, False]),
        }
        spelling = rng.random()
        if spelling < 0.45:
            payload["publisher_id"] = f"pub-{rng.randint(1, 4):03d}"
        elif spelling < 0.7:
            payload["publisherId"] = f"pub-{rng.randint(1, 4):03d}"
        enqueued = None if rng.random() < 0.05 else BASE + timedelta(minutes=rng.randrange(60))
        rows.append(
            record(
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                queue=rng.choice(QUEUES),
                state=rng.choice(jobstore.STATES),
                payload=payload,
                enqueued_at=enqueued,
            )
        )
    return rows


def _text(value: Any) -> str | None:
    """A JSON value as PostgreSQL's `#>>` gives it: strings as they are, booleans `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None or isinstance(value, dict | list) else str(value)


def _camel(name: str) -> str:
    first, *others = name.split("_")
    return first + "".join(part.capitalize() for part in others)


def _reads(payload: dict[str, Any], path: list[str], value: str) -> bool:
    for head in {path[0], _camel(path[0])}:
        found: Any = payload
        for key in [head, *path[1:]]:
            found = found.get(key) if isinstance(found, dict) else None
        if _text(found) == value:
            return True
    return False


def expected(
    rows: Iterable[dict[str, Any]],
    *,
    queue: str | None = None,
    states: Iterable[str] | None = None,
    prefix: str | None = None,
    publisher: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    fields: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """The ids a search keeps, newest first and, among jobs of one instant, by id from the highest."""
    kept = [
        row
        for row in rows
        if (queue is None or row["queue"] == queue)
        and (states is None or row["state"] in set(states))
        and (prefix is None or row["id"].startswith(prefix))
        and (
            publisher is None or (row["payload"].get("publisher_id") or row["payload"].get("publisherId")) == publisher
        )
        and (since is None or (row["enqueued_at"] is not None and row["enqueued_at"] >= since))
        and (until is None or (row["enqueued_at"] is not None and row["enqueued_at"] < until))
        and all(_reads(row["payload"], name.split("."), value) for name, value in fields)
    ]
    kept.sort(key=lambda row: row["id"], reverse=True)
    kept.sort(key=lambda row: (row["enqueued_at"] is None, -(row["enqueued_at"] or BASE).timestamp()))
    return [row["id"] for row in kept]


def every_page(client, headers, params: list[tuple[str, str]], size: int = 37) -> tuple[list[str], set[int]]:  # type: ignore[no-untyped-def]
    """The ids of every page of a search, in order, and the totals the pages gave."""
    ids: list[str] = []
    totals: set[int] = set()
    offset = 0
    while True:
        found = data(client.get(f"{API}/jobs", params=[*params, ("limit", size), ("offset", offset)], headers=headers))
        assert found["limit"] == size and found["offset"] == offset
        totals.add(found["total"])
        ids += [job["id"] for job in found["jobs"]]
        if len(found["jobs"]) < size:
            return ids, totals
        offset += size


def test_every_search_keeps_what_each_criterion_keeps_page_after_page_with_its_total(client, reader):
    # Given 240 jobs of four queues, every state, two spellings of the publisher, shared instants
    rows = corpus()
    store(rows)
    some_id = rows[7]["id"]
    searches: list[tuple[list[tuple[str, str]], dict[str, Any]]] = [
        ([], {}),
        ([("queue", "data-export")], {"queue": "data-export"}),
        ([("state", "failed"), ("state", "dead")], {"states": ["failed", "dead"]}),
        ([("state", "waiting,delayed")], {"states": ["waiting", "delayed"]}),
        ([("id", some_id)], {"prefix": some_id}),
        ([("id", some_id[:2])], {"prefix": some_id[:2]}),
        ([("publisher", "pub-002")], {"publisher": "pub-002"}),
        (
            [("field.format", "csv"), ("field.filters.country", "US")],
            {"fields": [("format", "csv"), ("filters.country", "US")]},
        ),
        ([("field.dry_run", "true")], {"fields": [("dry_run", "true")]}),
        ([("field.publisher_id", "pub-001")], {"fields": [("publisher_id", "pub-001")]}),
        (
            [("since", (BASE + timedelta(minutes=10)).isoformat()), ("until", "2026-11-02T08:40:00Z")],
            {"since": BASE + timedelta(minutes=10), "until": BASE + timedelta(minutes=40)},
        ),
        (
            [
                ("queue", "report-generation"),
                ("publisher", "pub-003"),
                ("since", "2026-11-02 08:20"),
                ("state", "completed,dead"),
            ],
            {
                "queue": "report-generation",
                "publisher": "pub-003",
                "since": BASE + timedelta(minutes=20),
                "states": ["completed", "dead"],
            },
        ),
    ]
    for params, criteria in searches:
        # When every page of the search is read
        ids, totals = every_page(client, reader, params)
        # Then the pages hold exactly the jobs the criteria keep, in the one order, and every page gives their number
        want = expected(rows, **criteria)
        assert ids == want, params
        assert totals == {len(want)}, params
    assert expected(rows, prefix=some_id) == [some_id]


def test_jobs_enqueued_in_the_same_instant_keep_one_order_across_pages_and_reads(client, reader):
    # Given a pipeline stage's 120 jobs enqueued in the same millisecond
    rows = [record(str(uuid.uuid4()), queue="metrics-calculation", state="waiting") for _ in range(120)]
    store(rows)
    want = sorted((row["id"] for row in rows), reverse=True)
    # When the queue's jobs are read page by page, twice
    for _ in range(2):
        pages = [
            client.get(f"{API}/queues/metrics-calculation/jobs", params={"limit": 50, "offset": offset}, headers=reader)
            for offset in (0, 50, 100)
        ]
        # Then the pages hold every job once, by id from the highest, with the total and where each page starts
        assert [job["id"] for reply in pages for job in data(reply)] == want
        assert [reply.json()["page"] for reply in pages] == [
            {"total": 120, "limit": 50, "offset": offset} for offset in (0, 50, 100)
        ]


def test_the_lists_of_a_queue_of_failed_and_of_active_jobs_carry_their_totals(client, reader):
    # Given jobs of two queues in several states
    rows = corpus(count=90, seed=3)
    store(rows)
    for queue, status in (("cleanup", "completed"), ("cleanup", None), ("data-export", "dead")):
        params = {"limit": 4, "offset": 2, **({"status": status} if status else {})}
        # When a page of a queue's jobs is read
        reply = client.get(f"{API}/queues/{queue}/jobs", params=params, headers=reader)
        # Then `data` is that page and `page` holds the total of the queue's jobs in that state
        want = expected(rows, queue=queue, states=[status] if status else None)
        assert [job["id"] for job in data(reply)] == want[2:6]
        assert reply.json()["page"] == {"total": len(want), "limit": 4, "offset": 2}
    for path, states in (("/jobs/failed", ["failed", "dead"]), ("/jobs/active", ["active"])):
        reply = client.get(API + path, params={"limit": 5, "offset": 1}, headers=reader)
        want = expected(rows, states=states)
        assert [job["id"] for job in data(reply)] == want[1:6]
        assert reply.json()["page"] == {"total": len(want), "limit": 5, "offset": 1}
    # And a reply that is no listing carries no `page`
    assert "page" not in client.get(f"{API}/queues/metrics", headers=reader).json()
    assert client.get(f"{API}/dead-letters", headers=reader).json()["page"] == {"total": 0, "limit": 50, "offset": 0}


def test_an_id_prefix_matches_like_wildcards_literally(client, reader):
    # Given ids that differ where LIKE would see wildcards
    store([record("x_1"), record("xa1"), record("x%2"), record("xb%")])
    # When searching by a prefix holding `_` or `%`, Then only ids with that very character match
    assert [job["id"] for job in data(client.get(f"{API}/jobs", params={"id": "x_"}, headers=reader))["jobs"]] == [
        "x_1"
    ]
    assert [job["id"] for job in data(client.get(f"{API}/jobs", params={"id": "x%"}, headers=reader))["jobs"]] == [
        "x%2"
    ]
    assert data(client.get(f"{API}/jobs", params={"id": "x"}, headers=reader))["total"] == 4


def test_a_span_back_from_now_bounds_the_time_of_enqueue(client, reader):
    # Given a job enqueued two hours ago and one half an hour ago
    now = datetime.now(UTC)
    store(
        [
            record("two-hours", enqueued_at=now - timedelta(hours=2)),
            record("half-hour", enqueued_at=now - timedelta(minutes=30)),
        ]
    )
    # When searching since 90 minutes back, Then only the recent one is found; until 90 minutes back, the old one
    found = data(client.get(f"{API}/jobs", params={"since": "90m"}, headers=reader))
    assert [job["id"] for job in found["jobs"]] == ["half-hour"] and found["total"] == 1
    assert [job["id"] for job in data(client.get(f"{API}/jobs", params={"until": "90m"}, headers=reader))["jobs"]] == [
        "two-hours"
    ]


def test_a_job_sent_through_the_api_is_found_by_its_id_start_publisher_and_fields(client, admin, reader):
    # Given an export job sent through the API with the API's camelCase payload
    sent = data(
        client.post(
            f"{API}/queues/data-export/jobs",
            headers=admin,
            json={
                "jobName": "export_data",
                "data": {
                    "publisherId": "pub-search",
                    "format": "json",
                    "startDate": "2026-11-02",
                    "endDate": "2026-11-02",
                },
                "options": {"delay": 600_000},
            },
        ),
        201,
    )
    # When searched by the start of its id, its publisher, a field under its snake_case name and its state
    params = {"id": sent["jobId"][:8], "publisher": "pub-search", "field.start_date": "2026-11-02", "state": "delayed"}
    found = data(client.get(f"{API}/jobs", params=params, headers=reader))
    # Then it is the one job found, as the job's own page shows it
    assert found["total"] == 1 and [job["id"] for job in found["jobs"]] == [sent["jobId"]]
    assert found["jobs"][0] == data(client.get(f"{API}/queues/data-export/jobs/{sent['jobId']}", headers=reader))


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"state": "stuck"}, "state"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40"}, "until"),
        ({"since": "2026-11-03", "until": "2026-11-02"}, "since"),
        ({"field.format'--": "csv"}, "field.format'--"),
        ({"field.a.b.c.d.e": "x"}, "field.a.b.c.d.e"),
        ({"field.format": "c\x00sv"}, "field.format"),
        ({"id": "ab\x00"}, "id"),
        ({"publisher": "p\x00"}, "publisher"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"id": "a" * 201}, "id"),
    ],
)
def test_bad_search_input_is_422_naming_the_parameter(client, reader, params, named):
    message = failed_reply(client.get(f"{API}/jobs", params=params, headers=reader), 422, "invalid_request")
    assert named in message


def test_search_input_stays_data_never_sql(client, reader):
    # Given some jobs
    store(corpus(count=20))
    # When a field's value and a publisher carry SQL
    for params in ({"field.format": "csv' OR '1'='1"}, {"publisher": "x' OR 1=1 --"}, {"id": "%' OR '1'='1"}):
        found = data(client.get(f"{API}/jobs", params=params, headers=reader))
        # Then they match nothing, and the jobs are all still there
        assert found == {"jobs": [], "total": 0, "limit": 50, "offset": 0}
    assert data(client.get(f"{API}/jobs", headers=reader))["total"] == 20


def test_pages_read_window_by_window_are_the_pages_of_the_whole_store(client, reader):
    # Given jobs enqueued in each of the search's windows of time and before them all, and some without a time
    rng = random.Random(13)
    now = datetime.now(UTC)
    spans = [timedelta(minutes=5), timedelta(minutes=50), *(window + timedelta(minutes=30) for window in WINDOWS)]
    rows = corpus(count=90, seed=13)
    for row in rows:
        if row["enqueued_at"] is not None:
            row["enqueued_at"] = now - rng.choice(spans) + timedelta(seconds=rng.randrange(-120, 120))
    store(rows)
    for params, keeps in (({}, {}), ({"queue": "data-export"}, {"queue": "data-export"})):
        # When every page is read, at a size that makes some pages straddle two windows
        found: list[str] = []
        for offset in range(0, 100, 7):
            page = data(client.get(f"{API}/jobs", params={**params, "limit": 7, "offset": offset}, headers=reader))
            found.extend(job["id"] for job in page["jobs"])
        # Then the pages, put together, are the whole store's listing in its order
        assert found == expected(rows, **keeps)
        assert len(found) > 20


@pytest.mark.parametrize(
    ("search", "index"),
    [
        (JobFilter(id_prefix="3f2a"), "Index Scan using pk_jobs"),
        (JobFilter(publisher="pub-001"), "ix_jobs_publisher_enqueued"),
    ],
)
def test_the_search_criteria_have_their_indexes(search, index):
    # Given a store of some jobs
    store(corpus(count=50))
    with get_engine().connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")  # the plan for a big store, on a small one
        connection.exec_driver_sql("ANALYZE jobs")
        query = (
            select(TABLE.c.id)
            .where(*where("postgresql", search))
            .order_by(TABLE.c.enqueued_at.desc().nulls_last(), TABLE.c.id.desc())
            .limit(50)
        )
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        # When PostgreSQL plans the search's query, Then it reads the criterion's index
        plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))
    assert index in plan, plan


def test_the_newest_window_of_a_big_store_is_read_through_the_brin_index():
    # Given a store of 60,000 jobs enqueued over the last 30 days, in the order they came
    with get_engine().begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO jobs (id, queue, actor, state, seq, priority, payload, attempts, max_attempts,"
            " enqueued_at, progress, updated_at)"
            " SELECT md5(n::text), 'data-export', 'export_data', 'completed', 0, 5, '{}', 1, 1,"
            " now() - interval '30 days' + n * interval '43 seconds', 0, now()"
            " FROM generate_series(1, 60000) AS n"
        )
        connection.exec_driver_sql("ANALYZE jobs")
    query = (
        select(TABLE.c.id)
        .where(TABLE.c.enqueued_at >= datetime.now(UTC) - WINDOWS[0])
        .order_by(TABLE.c.enqueued_at.desc().nulls_last(), TABLE.c.id.desc())
        .limit(50)
    )
    with get_engine().connect() as connection:
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        # When PostgreSQL plans the first page's query (its newest window), as it would for any size
        plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))
    # Then it reads the window's block ranges through the BRIN index, not the whole table
    assert "Bitmap Index Scan on ix_jobs_enqueued_brin" in plan, plan
