"""The API as an attacker and a careless client meet it: body limit, headers, `/health`, 405, tokens, times.

Issue 17 items 5 and 7 (API parts), against the real app, Redis and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from db.engine import get_engine
from db.models import ApiToken
from runtime import heartbeats
from tests.api.test_endpoints import API, QUEUE, data, failed_reply

OVER_THE_LIMIT = b"x" * 2_000_001  # API_MAX_BODY_BYTES defaults to 2,000,000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{API}/queues/{QUEUE}/jobs"),  # reads a body
        ("POST", f"{API}/queues/{QUEUE}/pause"),  # reads none
        ("POST", f"{API}/no-such-route"),
    ],
)
def test_a_body_over_the_limit_is_413_before_the_token_is_checked(client, redis_client, method, path):
    # Given an unauthenticated request whose body is one byte over API_MAX_BODY_BYTES
    # When it is sent
    response = client.request(method, path, content=OVER_THE_LIMIT, headers={"Content-Type": "application/json"})
    # Then it is refused as too large, in the envelope, before any token check (no 401)
    message = failed_reply(response, 413, "too_large")
    assert "2,000,000" in message and "API_MAX_BODY_BYTES" in message
    assert not redis_client.keys("dramatiq:*")


def test_the_limit_is_exact_one_byte_over_is_refused_and_the_limit_itself_read(client, admin):
    # Given a valid job request padded with spaces to one byte over the limit, Then it is refused, even with a token
    body = b'{"jobName": "echo", "data": {"value": 1}}'
    over = body + b" " * (2_000_001 - len(body))
    headers = {**admin, "Content-Type": "application/json"}
    failed_reply(client.post(f"{API}/queues/{QUEUE}/jobs", content=over, headers=headers), 413, "too_large")
    # And padded to exactly the limit, it is read and the job enqueued
    padded = body + b" " * (2_000_000 - len(body))
    response = client.post(
        f"{API}/queues/{QUEUE}/jobs", content=padded, headers={**admin, "Content-Type": "application/json"}
    )
    assert data(response, 201)["jobName"] == "echo"


SECURED_PATHS = [
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", f"{API}/queues/metrics"),  # 401 without a token
    ("GET", f"{API}/nope"),  # 404
    ("PUT", f"{API}/queues/{QUEUE}/pause"),  # 405
]


@pytest.mark.parametrize(("method", "path"), SECURED_PATHS)
def test_every_reply_carries_the_security_headers(client, method, path):
    # When any page, file, document or error is fetched
    response = client.request(method, path)
    # Then it forbids framing, sniffing, referrers and anything not from this origin
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, (path, response.headers)
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "no-referrer"
    assert response.headers.get("X-Frame-Options") == "DENY"


def test_swagger_ui_is_served_from_this_origin(client):
    # When the API docs page is fetched
    page = client.get("/docs")
    assert page.status_code == 200
    # Then every script and stylesheet it loads comes from here, not from a CDN
    assert "http://" not in page.text and "https://" not in page.text and "<script>" not in page.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/docs.js"):
        assert asset in page.text
        assert client.get(asset).status_code == 200, asset


def test_health_without_a_token_tells_only_status_words(client, reader):
    # Given a worker beating from an internal host
    heartbeats.beat("internal-host-7.corp:4242", {"queues": ["*"]})
    # When /health is asked without a token, or with a wrong one
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        anonymous = client.get("/health", headers=headers)
        # Then it says the overall status and each service's status word, and nothing else
        body = anonymous.json()
        assert set(body) == {"status", "services"}
        assert set(body["services"]) == {"postgres", "redis", "queues", "workers", "scheduler"}
        assert all(service == {"status": service["status"]} for service in body["services"].values())
        assert "internal-host-7" not in anonymous.text and "4242" not in anonymous.text
    # And with a valid token the details are there
    detailed = client.get("/health", headers=reader)
    assert [worker["id"] for worker in detailed.json()["services"]["workers"]["workers"]] == [
        "internal-host-7.corp:4242"
    ]
    assert detailed.status_code == anonymous.status_code


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"{API}/queues/{QUEUE}/pause", "POST"),
        ("DELETE", f"{API}/queues/metrics", "GET"),
        ("PATCH", f"{API}/queues/{QUEUE}/jobs/some-id", "GET, DELETE"),
        ("PUT", f"{API}/exports", "GET, POST"),
    ],
)
def test_405_names_the_methods_the_path_allows(client, admin, method, path, allow):
    response = client.request(method, path, headers=admin)
    failed_reply(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow


def test_a_database_token_records_its_last_use_at_most_once_a_minute(client):
    # Given a token issued in the api_tokens table, never used
    token = "db-token-last-used"
    digest = hashlib.sha256(token.encode()).hexdigest()
    with get_engine().begin() as connection:
        connection.execute(
            insert(ApiToken).values(id=str(uuid.uuid4()), token_sha256=digest, role="read", name="last-used")
        )

    def last_used() -> datetime | None:
        with get_engine().connect() as connection:
            return connection.execute(select(ApiToken.last_used_at).where(ApiToken.token_sha256 == digest)).scalar()

    headers = {"Authorization": f"Bearer {token}"}
    # When it is used, Then its last use is recorded
    assert client.get(f"{API}/whoami", headers=headers).status_code == 200
    first = last_used()
    assert first is not None and abs(first - datetime.now(UTC)) < timedelta(minutes=1)
    # And used again within the minute, the row is not written again
    assert client.get(f"{API}/whoami", headers=headers).status_code == 200
    assert last_used() == first
    # And once the recorded use is over a minute old, the next use moves it
    with get_engine().begin() as connection:
        connection.execute(
            update(ApiToken).where(ApiToken.token_sha256 == digest).values(last_used_at=first - timedelta(minutes=2))
        )
    assert client.get(f"{API}/whoami", headers=headers).status_code == 200
    assert last_used() > first - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("queue", "body", "field"),
    [
        (QUEUE, {"jobName": "echo", "data": {"value": 1}, "options": {"runAt": "2200-01-01T00:00:00Z"}}, "runAt"),
        (QUEUE, {"jobName": "echo", "data": {"value": 1}, "options": {"runAt": "9999-12-31T23:59:59Z"}}, "runAt"),
        (
            "analytics-aggregation",
            {"jobName": "aggregate_analytics", "data": {"startDate": "2026-01-01", "endDate": "9999-12-31"}},
            "endDate",
        ),
        (
            "metrics-calculation",
            {"jobName": "calculate_metrics", "data": {"metricType": "revenue", "period": "9999-12-31"}},
            "period",
        ),
        (
            "report-generation",
            {"jobName": "generate_report", "data": {"publisherId": "p", "reportType": "monthly", "date": "9999-12-31"}},
            "date",
        ),
    ],
)
def test_far_future_run_times_and_overflowing_dates_are_422_not_dead_jobs(
    client, admin, redis_client, queue, body, field
):
    # When a job is sent to run centuries ahead, or with a date whose next day does not exist
    response = client.post(f"{API}/queues/{queue}/jobs", headers=admin, json=body)
    # Then it is refused, naming the field, and nothing is enqueued
    assert field in failed_reply(response, 422, "invalid_request")
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]
