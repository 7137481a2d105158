"""Tenants in the API: a queue's top tenants by backlog, tiers set by an admin, a tier's priority at send."""

from __future__ import annotations

from brokers.redis_keys import tenant_key


def send(client, admin, tenant: str | None = None, **options):  # type: ignore[no-untyped-def]
    body = {"jobName": "echo", "data": {"value": 1}, "options": {**options, **({"tenant": tenant} if tenant else {})}}
    response = client.post("/api/v1/queues/test-jobs/jobs", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()["data"]["jobId"]


def test_a_queues_tenants_are_listed_by_backlog_with_their_tier(client, admin, reader, redis_client):
    # Given pub-p made premium by an admin, three jobs of pub-p, one of pub-s and one without a tenant
    response = client.put("/api/v1/publishers/pub-p/tier", json={"tier": "premium"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"publisherId": "pub-p", "tier": "premium", "priority": 3, "limitFactor": 4.0}
    for _ in range(3):
        send(client, admin, "pub-p")
    send(client, admin, "pub-s")
    send(client, admin)
    # When a reader asks for the queue's tenants
    response = client.get("/api/v1/queues/test-jobs/tenants", headers=reader)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # Then the biggest backlog comes first, each with its tier; jobs naming no tenant are the "" row
    assert [(row["tenant"], row["waiting"], row["tier"]) for row in data["tenants"]] == [
        ("pub-p", 3, "premium"),
        ("", 1, None),
        ("pub-s", 1, "standard"),
    ]
    assert data["total"] == 3 and data["waitingCounted"] is True
    # and the premium publisher's jobs went out HIGH (its tier's priority), the others NORMAL
    assert redis_client.llen(tenant_key("dramatiq", "test-jobs", 3, "pub-p")) == 3
    assert redis_client.llen(tenant_key("dramatiq", "test-jobs", 5, "pub-s")) == 1


def test_an_explicit_priority_wins_over_the_tiers(client, admin, redis_client):
    client.put("/api/v1/publishers/pub-p/tier", json={"tier": "premium"}, headers=admin)
    send(client, admin, "pub-p", priority="LOW")
    assert redis_client.llen(tenant_key("dramatiq", "test-jobs", 7, "pub-p")) == 1


def test_tiers_are_set_by_admins_only_and_must_be_known(client, admin, reader):
    assert client.put("/api/v1/publishers/p1/tier", json={"tier": "premium"}, headers=reader).status_code == 403
    refused = client.put("/api/v1/publishers/p1/tier", json={"tier": "platinum"}, headers=admin)
    assert refused.status_code == 422
    assert "standard, premium" in refused.json()["error"]["message"]
    assert client.get("/api/v1/queues/no-such-queue/tenants", headers=admin).status_code == 404


def test_a_bad_tenant_in_the_send_options_is_refused(client, admin):
    body = {"jobName": "echo", "data": {"value": 1}, "options": {"tenant": "a@b"}}
    response = client.post("/api/v1/queues/test-jobs/jobs", json=body, headers=admin)
    assert response.status_code == 422
    assert "options.tenant" in response.json()["error"]["message"]
