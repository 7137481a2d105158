"""warm_cache: warmed entries equal pandas over the rollups; the read path fills misses."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from actors.cache_warming import warm_cache
from core.payloads import InvalidPayload
from db import cache, rollups
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from tests.support import store
from tests.support.analytics import stored_rollups

START = date(2026, 11, 1)


@pytest.fixture
def rolled_up() -> None:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=START, days=10, rows_per_day=2000, publishers=6))
        rollups.upsert_rollups(connection, "day", START, date(2026, 11, 10), None)


def test_warming_stores_what_pandas_computes_from_the_rollups(rolled_up, worker, redis_client):
    done = store.wait_for_state(warm_cache.send(cacheKeys=["top-publishers:7d"]).message_id, "completed", "dead")
    assert done["state"] == "completed", done["error"]
    assert done["progress"] == 100
    assert redis_client.ttl("adjobs:cache:top-publishers:7d") > 0

    days = stored_rollups("day")
    last_week = days[days["bucket_start"] > days["bucket_start"].max() - pd.Timedelta(days=7)]
    expected = last_week.groupby("publisher_id")["revenue"].sum().sort_values(ascending=False)
    warmed = cache.read_entry("top-publishers:7d")
    assert [row["publisher_id"] for row in warmed] == list(expected.index)
    assert [row["revenue"] for row in warmed] == pytest.approx(list(expected.values))


def test_the_popular_keys_are_warmed_when_none_are_named(rolled_up, worker):
    done = store.wait_for_state(warm_cache.send().message_id, "completed", "dead")
    assert done["result"] == {"keys": len(cache.popular_keys())}
    for key in cache.popular_keys():
        assert cache.read_entry(key) == cache.compute_entry(key)


def test_the_read_path_computes_and_keeps_a_miss(rolled_up):
    assert cache.read_entry("publisher:pub-001:7d") is None
    value = cache.read_cached("publisher:pub-001:7d")
    assert len(value) == 7 and {"day", "revenue"} <= set(value[0])
    assert cache.read_entry("publisher:pub-001:7d") == value


def test_an_unknown_key_is_refused_at_send():
    with pytest.raises(InvalidPayload, match=r"cache_keys|cacheKeys"):
        warm_cache.send(cache_keys=["top-publishers:7d", "DROP TABLE jobs"])
