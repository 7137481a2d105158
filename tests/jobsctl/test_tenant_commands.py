"""`jobsctl publishers tier|tiers` and `jobsctl stats --tenants`, as a script uses them."""

from __future__ import annotations

import json

from sqlalchemy import text

from db.engine import get_engine
from runtime.publisher_tiers import TIERS
from tests.jobsctl.test_operator_commands import jobsctl, ok


def test_a_tier_set_from_the_cli_reaches_the_table_redis_and_the_next_sends_priority(redis_client):
    # Given pub-x made premium from the CLI
    assert ok("publishers", "tier", "pub-x", "premium")["tier"] == "premium"
    # Then the table and the map senders read both say so
    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT tier FROM publishers WHERE id = 'pub-x'")).scalar() == "premium"
    assert redis_client.hget(TIERS, "pub-x") == b"premium"
    # When a publisher-scoped job of pub-x and one of pub-y are sent
    for publisher in ("pub-x", "pub-y"):
        data = json.dumps({"publisherId": publisher, "metricType": "revenue", "period": "2026-11-30"})
        ok("send", "calculate_metrics", "--data", data)
    # Then `stats --tenants` lists both tenants of the queue with their tier and backlog
    tenants = ok("stats", "--tenants")["metrics-calculation"]["tenants"]
    assert [(row["tenant"], row["tier"], row["waiting"]) for row in tenants["tenants"]] == [
        ("pub-x", "premium", 1),
        ("pub-y", "standard", 1),
    ]
    # and pub-x's job waits in the HIGH lane (its tier's priority), pub-y's in NORMAL
    assert redis_client.llen("dramatiq:metrics-calculation|3@pub-x") == 1
    assert redis_client.llen("dramatiq:metrics-calculation@pub-y") == 1
    # and the table of tenants is printed for a person too
    shown = jobsctl("stats", "--tenants")
    assert shown.returncode == 0 and "pub-x" in shown.stdout and "premium" in shown.stdout


def test_an_unknown_tier_is_refused_with_the_known_ones_and_the_map_can_be_rebuilt(redis_client):
    refused = jobsctl("publishers", "tier", "pub-x", "platinum")
    assert refused.returncode == 2, refused.stderr
    assert "standard, premium" in refused.stderr
    # Given the map in Redis lost (a flushed Redis), When it is rebuilt from the table
    ok("publishers", "tier", "pub-z", "premium")
    redis_client.delete(TIERS)
    listed = ok("publishers", "tiers", "--sync")
    # Then it holds the table's tiers again
    assert listed["synced"] == 1 and listed["publishers"]["pub-z"] == "premium"
    assert redis_client.hget(TIERS, "pub-z") == b"premium"
