"""Every endpoint of CONTRACT.md against the real app, Redis, PostgreSQL and a worker."""

from __future__ import annotations

import hashlib
import io
import itertools
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from db.engine import get_engine
from db.events import SeedPlan, seed_events
from db.models import AdEvent, ApiToken
from pipelines.daily import start_daily_pipeline
from tests.support import store

QUEUE = "test-jobs"
API = "/api/v1"

#: (method, path) of every token-protected endpoint; {q}, {job}, {name}, {id} filled in by `_fill`.
READS = [
    ("GET", "/queues/metrics"),
    ("GET", "/queues/throughput"),
    ("GET", "/queues/history"),
    ("GET", "/queues/{q}/metrics"),
    ("GET", "/queues/{q}/jobs"),
    ("GET", "/queues/{q}/jobs/{job}"),
    ("GET", "/jobs"),
    ("GET", "/jobs/failed"),
    ("GET", "/jobs/active"),
    ("GET", "/dead-letters"),
    ("GET", "/whoami"),
    ("GET", "/scheduler"),
    ("GET", "/pipelines"),
    ("GET", "/pipelines/{id}"),
    ("GET", "/exports"),
    ("GET", "/exports/{id}"),
    ("GET", "/exports/{id}/download"),
    ("GET", "/analytics/freshness"),
    ("GET", "/workers"),
    ("GET", "/queues/{q}/tenants"),
]
CHANGES = [
    ("POST", "/queues/{q}/jobs"),
    ("DELETE", "/queues/{q}/jobs/{job}"),
    ("POST", "/queues/{q}/jobs/{job}/retry"),
    ("POST", "/queues/{q}/pause"),
    ("POST", "/queues/{q}/resume"),
    ("POST", "/queues/{q}/clean"),
    ("POST", "/queues/{q}/drain"),
    ("PUT", "/publishers/{id}/tier"),
    ("POST", "/queues/{q}/retry-all"),
    ("POST", "/jobs/retry"),
    ("POST", "/queues/{q}/dead-letters/purge"),
    ("POST", "/queues/{q}/clean-all"),
    ("POST", "/queues/{q}/promote"),
    ("POST", "/scheduler/{name}/start"),
    ("POST", "/scheduler/{name}/stop"),
    ("POST", "/scheduler/{name}/trigger"),
    ("POST", "/exports"),
]
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def _fill(path: str) -> str:
    return API + path.format(q=QUEUE, job=UNKNOWN_ID, name="cache-warming", id=UNKNOWN_ID)


def failed_reply(response, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert body["error"]["message"]
    return str(body["error"]["message"])


def data(response, status: int = 200):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def test_the_route_lists_cover_every_route_of_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    routes = {
        (
            method.upper(),
            path.removeprefix(API)
            .replace("{export_id}", "{id}")
            .replace("{run_id}", "{id}")
            .replace("{publisherId}", "{id}"),
        )
        for path, operations in paths.items()
        if path.startswith(API)
        for method in operations
    }
    listed = {(method, path.replace("{q}", "{queue}").replace("{job}", "{jobId}")) for method, path in READS + CHANGES}
    assert routes == listed


@pytest.mark.parametrize(("method", "path"), READS + CHANGES)
def test_no_token_or_a_wrong_one_is_401(client, method, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        response = client.request(method, _fill(path), headers=headers, json={})
        failed_reply(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), CHANGES)
def test_a_read_token_changes_nothing_403(client, reader, redis_client, method, path):
    response = client.request(method, _fill(path), headers=reader, json={})
    failed_reply(response, 403, "forbidden")
    assert redis_client.dbsize() == 0, "a refused call left something behind"


@pytest.mark.parametrize(
    "path", ["/queues/metrics", "/queues/throughput", "/jobs/failed", "/jobs/active", "/scheduler", "/exports"]
)
def test_a_read_token_reads(client, reader, path):
    data(client.get(API + path, headers=reader))


def test_whoami_tells_the_role(client, admin, reader):
    assert data(client.get(f"{API}/whoami", headers=admin)) == {"role": "admin"}
    assert data(client.get(f"{API}/whoami", headers=reader)) == {"role": "read"}


def test_health_and_metrics_need_no_token(client):
    health = client.get("/health")
    assert health.status_code in (200, 503)
    body = health.json()
    assert body["status"] in ("healthy", "degraded", "unhealthy")
    assert set(body["services"]) == {"postgres", "redis", "queues", "workers", "scheduler"}
    assert body["services"]["postgres"]["status"] == "healthy"
    assert body["services"]["redis"]["status"] == "healthy"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "adjobs_queue_jobs" in metrics.text or "# HELP" in metrics.text


def test_send_then_read_a_job_through_its_life(client, admin, reader, worker):
    sent = data(
        client.post(
            f"{API}/queues/{QUEUE}/jobs",
            headers=admin,
            json={"jobName": "echo", "data": {"value": 7, "label": "api"}, "options": {"priority": "HIGH"}},
        ),
        201,
    )
    assert sent["queueName"] == QUEUE and sent["jobName"] == "echo"
    store.wait_for_state(sent["jobId"], "completed")
    job = data(client.get(f"{API}/queues/{QUEUE}/jobs/{sent['jobId']}", headers=reader))
    assert job["id"] == sent["jobId"] and job["name"] == "echo" and job["state"] == "completed"
    assert job["data"] == {"value": 7, "label": "api"} and job["result"] == {"value": 7, "label": "api"}
    assert job["progress"] == 100 and job["attemptsMade"] == 1 and job["priority"] == 3
    for field in ("enqueuedAt", "processedOn", "finishedOn"):
        assert datetime.fromisoformat(job[field]).tzinfo is not None
    assert job["failedReason"] is None
    listed = data(client.get(f"{API}/queues/{QUEUE}/jobs", params={"status": "completed"}, headers=reader))
    assert [item["id"] for item in listed] == [sent["jobId"]]
    assert data(client.get(f"{API}/queues/{QUEUE}/jobs", params={"status": "waiting"}, headers=reader)) == []
    stats = data(client.get(f"{API}/queues/{QUEUE}/metrics", headers=reader))
    assert stats["completed"] == 1 and stats["completionRate"] == 1.0 and stats["failureRate"] == 0.0
    for field in ("throughputPerMin", "avgProcessingMs", "p95ProcessingMs"):
        assert stats[field] is not None and stats[field] >= 0
    everything = data(client.get(f"{API}/queues/metrics", headers=reader))
    assert everything[QUEUE]["completed"] == 1
    assert set(everything["cleanup"]) >= {"waiting", "active", "completed", "failed", "delayed", "dead", "paused"}


def test_dedupe_by_job_id_returns_the_first_job(client, admin):
    body = {"jobName": "echo", "data": {"value": 1}, "options": {"jobId": "nightly-1", "delay": 60_000}}
    first = data(client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json=body), 201)
    second = data(client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json=body), 201)
    assert second["jobId"] == first["jobId"] and second["deduplicated"] is True
    assert store.job(first["jobId"])["state"] == "delayed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "jobName"),
        ({"jobName": "echo", "data": {"value": "seven"}}, "value"),
        ({"jobName": "echo", "data": {"value": 1}, "options": {"priority": 11}}, "priority"),
        ({"jobName": "echo", "data": {"value": 1}, "options": {"delay": -5}}, "delay"),
        ({"jobName": "echo", "data": {"value": 1}, "options": {"runAt": "tomorrow"}}, "runAt"),
        ({"jobName": "echo", "data": {"value": 1}, "extra": True}, "extra"),
        ({"jobName": "echo", "data": {"value": 1, "label": "a\u0000b"}}, "data.label"),
        ({"jobName": "no_such_job", "data": {}}, "no_such_job"),
        ({"jobName": "cleanup", "data": {"type": "temp_files"}}, "cleanup"),
    ],
)
def test_invalid_job_requests_are_422_naming_the_field(client, admin, redis_client, body, field):
    message = failed_reply(client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json=body), 422, "invalid_request")
    assert field in message
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]


def test_body_that_is_not_json_is_422(client, admin):
    response = client.post(
        f"{API}/queues/{QUEUE}/jobs", headers={**admin, "Content-Type": "application/json"}, content=b"{not json"
    )
    failed_reply(response, 422, "invalid_request")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/queues/nope/metrics"),
        ("GET", "/queues/nope/jobs"),
        ("POST", "/queues/nope/pause"),
        ("POST", "/queues/nope/drain"),
        ("GET", f"/queues/{QUEUE}/jobs/{UNKNOWN_ID}"),
        ("DELETE", f"/queues/{QUEUE}/jobs/{UNKNOWN_ID}"),
        ("POST", f"/queues/{QUEUE}/jobs/{UNKNOWN_ID}/retry"),
        ("POST", "/scheduler/no-such-schedule/trigger"),
        ("POST", "/scheduler/no-such-schedule/stop"),
        ("GET", f"/pipelines/{UNKNOWN_ID}"),
        ("GET", f"/exports/{UNKNOWN_ID}"),
        ("GET", "/exports/not-a-uuid/download"),
        ("GET", "/dead-letters?queue=nope"),
        ("GET", "/jobs?queue=nope"),
    ],
)
def test_unknown_things_are_404(client, admin, method, path):
    failed_reply(client.request(method, API + path, headers=admin), 404, "not_found")


def test_job_of_another_queue_is_404(client, admin, worker):
    sent = data(
        client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "echo", "data": {"value": 1}}), 201
    )
    failed_reply(client.get(f"{API}/queues/cleanup/jobs/{sent['jobId']}", headers=admin), 404, "not_found")


def test_cancel_a_delayed_job_and_refuse_to_cancel_a_finished_one(client, admin, worker):
    delayed = data(
        client.post(
            f"{API}/queues/{QUEUE}/jobs",
            headers=admin,
            json={
                "jobName": "echo",
                "data": {"value": 2},
                "options": {"runAt": (datetime.now(UTC) + timedelta(seconds=2)).isoformat()},
            },
        ),
        201,
    )
    assert store.job(delayed["jobId"])["state"] == "delayed"
    cancelled = data(client.delete(f"{API}/queues/{QUEUE}/jobs/{delayed['jobId']}", headers=admin))
    assert cancelled["state"] == "cancelled"
    done = data(
        client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "echo", "data": {"value": 3}}), 201
    )
    store.wait_for_state(done["jobId"], "completed")
    failed_reply(client.delete(f"{API}/queues/{QUEUE}/jobs/{done['jobId']}", headers=admin), 409, "invalid_state")
    failed_reply(client.post(f"{API}/queues/{QUEUE}/jobs/{done['jobId']}/retry", headers=admin), 409, "invalid_state")
    time.sleep(2.5)  # past its runAt: it still never runs
    assert store.job(delayed["jobId"])["state"] == "cancelled"


def test_a_dead_job_shows_in_failed_and_dead_letters_and_retries_linked(client, admin, reader, worker):
    sent = data(
        client.post(
            f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "refuses", "data": {"key": "api-dead"}}
        ),
        201,
    )
    store.wait_for_state(sent["jobId"], "dead")
    job = data(client.get(f"{API}/queues/{QUEUE}/jobs/{sent['jobId']}", headers=reader))
    assert "can never succeed" in job["failedReason"] and "PermanentJobError" in job["stacktrace"]
    assert [item["id"] for item in data(client.get(f"{API}/jobs/failed", headers=reader))] == [sent["jobId"]]
    letters = data(client.get(f"{API}/dead-letters", params={"queue": QUEUE}, headers=reader))
    assert letters["counts"] == {QUEUE: 1} and [letter["id"] for letter in letters["letters"]] == [sent["jobId"]]
    again = data(client.post(f"{API}/queues/{QUEUE}/jobs/{sent['jobId']}/retry", headers=admin))
    assert again["retryOf"] == sent["jobId"] and again["jobId"] != sent["jobId"]
    retried = store.wait_for_state(again["jobId"], "dead")
    assert retried["payload"] == {"key": "api-dead", "fail_times": 0} and retried["retry_of"] == sent["jobId"]


def test_active_jobs_across_queues(client, admin, reader, worker):
    sent = data(
        client.post(
            f"{API}/queues/{QUEUE}/jobs",
            headers=admin,
            json={"jobName": "slow_steps", "data": {"key": "api-active", "steps": 6, "stepSeconds": 0.3}},
        ),
        201,
    )
    store.wait_for_state(sent["jobId"], "active")
    active = data(client.get(f"{API}/jobs/active", headers=reader))
    assert [item["id"] for item in active] == [sent["jobId"]]
    store.wait_for_state(sent["jobId"], "completed")
    assert data(client.get(f"{API}/jobs/active", headers=reader)) == []


def test_pause_resume_drain_and_clean(client, admin, reader, worker):
    data(client.post(f"{API}/queues/{QUEUE}/pause", headers=admin))
    assert data(client.get(f"{API}/queues/metrics", headers=reader))[QUEUE]["paused"] is True
    time.sleep(1.0)  # every worker has seen the pause within a second
    ids = [
        data(
            client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "echo", "data": {"value": n}}),
            201,
        )["jobId"]
        for n in range(5)
    ]
    time.sleep(1.0)
    assert {store.job(job_id)["state"] for job_id in ids} == {"waiting"}
    data(client.post(f"{API}/queues/{QUEUE}/resume", headers=admin))
    for job_id in ids:
        store.wait_for_state(job_id, "completed")
    assert data(client.get(f"{API}/queues/metrics", headers=reader))[QUEUE]["paused"] is False

    cleaned = data(
        client.post(
            f"{API}/queues/{QUEUE}/clean", headers=admin, json={"gracePeriod": 0, "status": "completed", "limit": 3}
        )
    )
    assert cleaned["removed"] == 3
    assert len(data(client.get(f"{API}/queues/{QUEUE}/jobs", params={"status": "completed"}, headers=reader))) == 2
    failed_reply(
        client.post(f"{API}/queues/{QUEUE}/clean", headers=admin, json={"status": "active"}), 422, "invalid_request"
    )
    failed_reply(
        client.post(f"{API}/queues/{QUEUE}/clean", headers=admin, json={"gracePeriod": -1}), 422, "invalid_request"
    )

    data(client.post(f"{API}/queues/{QUEUE}/pause", headers=admin))
    time.sleep(1.0)
    waiting = [
        data(
            client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "echo", "data": {"value": n}}),
            201,
        )["jobId"]
        for n in range(4)
    ]
    drained = data(client.post(f"{API}/queues/{QUEUE}/drain", headers=admin))
    assert drained["removed"] == 4
    data(client.post(f"{API}/queues/{QUEUE}/resume", headers=admin))
    time.sleep(0.5)
    assert {store.job(job_id)["state"] for job_id in waiting} == {"cancelled"}


def test_schedules_list_stop_start_trigger(client, admin, reader, worker):
    schedules = data(client.get(f"{API}/scheduler", headers=reader))
    names = {item["name"] for item in schedules}
    assert names >= {"daily-aggregation", "daily-cleanup", "hourly-metrics", "cache-warming", "weekly-reports"}
    warming = next(item for item in schedules if item["name"] == "cache-warming")
    assert warming["cron"] == "*/5 * * * *" and warming["timezone"] == "UTC" and warming["enabled"] is True
    runs = [datetime.fromisoformat(tick) for tick in warming["nextRuns"]]
    assert len(runs) == 5 and all(
        later - earlier == timedelta(minutes=5) for earlier, later in itertools.pairwise(runs)
    )
    assert data(client.post(f"{API}/scheduler/cache-warming/stop", headers=admin))["enabled"] is False
    assert (
        next(i for i in data(client.get(f"{API}/scheduler", headers=reader)) if i["name"] == "cache-warming")["enabled"]
        is False
    )
    assert data(client.post(f"{API}/scheduler/cache-warming/start", headers=admin))["enabled"] is True
    triggered = data(client.post(f"{API}/scheduler/cache-warming/trigger", headers=admin))
    assert triggered["jobIds"]
    for job_id in triggered["jobIds"]:
        assert store.job(job_id)["actor"] == "warm_cache"
    last = next(i for i in data(client.get(f"{API}/scheduler", headers=reader)) if i["name"] == "cache-warming")[
        "lastRun"
    ]
    assert last["jobIds"] == triggered["jobIds"]


def test_pipeline_run_and_its_stages(client, reader):
    started = start_daily_pipeline(date(2026, 11, 2), publishers=["pub-001"])
    run = data(client.get(f"{API}/pipelines/{started.id}", headers=reader))
    assert run["id"] == started.id
    assert [stage["name"] for stage in run["stages"]] == ["aggregation", "metrics", "cache-warming"]
    assert run["stages"][0]["state"] in ("waiting", "running") and run["stages"][1]["state"] == "pending"
    assert [item["id"] for item in data(client.get(f"{API}/pipelines", headers=reader))] == [started.id]


@pytest.fixture
def events() -> None:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 11, 2), days=2, rows_per_day=3000, publishers=3))


def test_export_start_follow_download(client, admin, reader, worker, events):
    body = {
        "publisherId": "pub-002",
        "format": "csv",
        "startDate": "2026-11-02",
        "endDate": "2026-11-03",
        "granularity": "raw",
        "filters": {"device": "mobile"},
    }
    started = data(client.post(f"{API}/exports", headers=admin, json=body), 201)
    assert started["status"] == "pending"
    deadline = time.monotonic() + 30
    while (export := data(client.get(f"{API}/exports/{started['exportId']}", headers=reader)))["status"] != "completed":
        assert export["status"] in ("pending", "processing") and time.monotonic() < deadline, export
        time.sleep(0.1)
    download = client.get(f"{API}/exports/{started['exportId']}/download", headers=reader)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(download.content))
    with get_engine().connect() as connection:
        expected = connection.execute(
            select(func.count(), func.sum(AdEvent.clicks)).where(
                AdEvent.publisher_id == "pub-002", AdEvent.device == "mobile"
            )
        ).one()
    assert len(frame) == expected[0] == export["rowCount"] and frame["clicks"].sum() == expected[1]
    assert set(frame["device"]) == {"mobile"}
    assert [item["exportId"] for item in data(client.get(f"{API}/exports", headers=reader))] == [started["exportId"]]


def test_export_not_ready_is_409_and_bad_bodies_422(client, admin):
    started = data(
        client.post(
            f"{API}/exports",
            headers=admin,
            json={"publisherId": "pub-001", "format": "json", "startDate": "2026-11-02", "endDate": "2026-11-02"},
        ),
        201,
    )
    failed_reply(client.get(f"{API}/exports/{started['exportId']}/download", headers=admin), 409, "invalid_state")
    for body, field in [
        ({"publisherId": "p", "format": "xml", "startDate": "2026-11-02", "endDate": "2026-11-02"}, "format"),
        ({"publisherId": "p", "format": "csv", "startDate": "2026-11-03", "endDate": "2026-11-02"}, "before"),
        (
            {
                "publisherId": "p",
                "format": "csv",
                "startDate": "2026-11-02",
                "endDate": "2026-11-02",
                "filters": {"country": "x' OR 1=1"},
            },
            "country",
        ),
        ({"format": "csv", "startDate": "2026-11-02", "endDate": "2026-11-02"}, "publisherId"),
    ]:
        assert field in failed_reply(client.post(f"{API}/exports", headers=admin, json=body), 422, "invalid_request")


def test_tokens_from_the_database_with_expiry(client):
    def token_row(token: str, role: str, expires: datetime | None) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "role": role,
            "name": token,
            "expires_at": expires,
        }

    with get_engine().begin() as connection:
        connection.execute(
            insert(ApiToken),
            [
                token_row("db-admin", "admin", datetime.now(UTC) + timedelta(hours=1)),
                token_row("db-read", "read", None),
                token_row("db-expired", "admin", datetime.now(UTC) - timedelta(seconds=1)),
            ],
        )
    assert client.post(f"{API}/queues/{QUEUE}/pause", headers={"Authorization": "Bearer db-admin"}).status_code == 200
    failed_reply(
        client.post(f"{API}/queues/{QUEUE}/resume", headers={"Authorization": "Bearer db-read"}), 403, "forbidden"
    )
    assert client.get(f"{API}/queues/metrics", headers={"Authorization": "Bearer db-read"}).status_code == 200
    failed_reply(
        client.get(f"{API}/queues/metrics", headers={"Authorization": "Bearer db-expired"}), 401, "unauthorized"
    )


def test_openapi_documents_the_contract(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in [
        "/health",
        "/metrics",
        "/api/v1/queues/metrics",
        "/api/v1/queues/{queue}/metrics",
        "/api/v1/queues/{queue}/jobs",
        "/api/v1/queues/{queue}/jobs/{jobId}",
        "/api/v1/queues/{queue}/jobs/{jobId}/retry",
        "/api/v1/queues/{queue}/pause",
        "/api/v1/queues/{queue}/resume",
        "/api/v1/queues/{queue}/clean",
        "/api/v1/queues/{queue}/drain",
        "/api/v1/jobs/failed",
        "/api/v1/jobs/active",
        "/api/v1/scheduler",
        "/api/v1/scheduler/{name}/start",
        "/api/v1/scheduler/{name}/stop",
        "/api/v1/scheduler/{name}/trigger",
        "/api/v1/pipelines/{run_id}",
        "/api/v1/exports",
        "/api/v1/exports/{export_id}",
        "/api/v1/exports/{export_id}/download",
    ]:
        assert path in paths, path
    assert "delete" in paths["/api/v1/queues/{queue}/jobs/{jobId}"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
