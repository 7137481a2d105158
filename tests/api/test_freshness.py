"""GET /api/v1/analytics/freshness: per publisher and day, stale after a late load, fresh after the job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from actors.late_events import reaggregate_late_events
from db.engine import get_engine
from db.rollups import GRANULARITIES, aggregate_window
from tests.support import store
from tests.support.late_events import event, insert_events

DAY = datetime(2026, 11, 2, tzinfo=UTC)
URL = "/api/v1/analytics/freshness"


def _days(client, reader, **params):  # type: ignore[no-untyped-def]
    reply = client.get(URL, headers=reader, params=params)
    assert reply.status_code == 200, reply.text
    return {(item["publisherId"], item["date"]): item for item in reply.json()["data"]}


def test_a_day_reads_stale_after_a_late_load_and_fresh_after_the_job(client, reader, worker):
    # Given a publisher's two days rolled up
    insert_events([event(DAY + timedelta(hours=h), "pub-f") for h in (5, 29)])
    with get_engine().begin() as connection:
        for granularity in GRANULARITIES:
            aggregate_window(connection, granularity, DAY, DAY + timedelta(days=2))
        connection.execute(text("DELETE FROM stale_hours"))
    fresh = _days(client, reader, publisherId="pub-f", startDate="2026-11-02", endDate="2026-11-03")
    assert {key: item["stale"] for key, item in fresh.items()} == {
        ("pub-f", "2026-11-02"): False,
        ("pub-f", "2026-11-03"): False,
    }
    refreshed = fresh[("pub-f", "2026-11-02")]["refreshedAt"]
    # When a late row lands in the first day
    insert_events([event(DAY + timedelta(hours=7), "pub-f")])
    # Then that day reads stale since the load, the other stays fresh
    stale = _days(client, reader, publisherId="pub-f", startDate="2026-11-02", endDate="2026-11-03")
    assert stale[("pub-f", "2026-11-02")]["stale"] is True
    assert stale[("pub-f", "2026-11-02")]["staleSince"] >= refreshed
    assert stale[("pub-f", "2026-11-03")]["stale"] is False
    # And after the late-events job it is fresh again, refreshed later than before
    done = store.wait_for_state(reaggregate_late_events.send().message_id, "completed")
    assert done["result"]["marks"] == 1
    after = _days(client, reader, publisherId="pub-f", startDate="2026-11-02", endDate="2026-11-03")
    assert after[("pub-f", "2026-11-02")]["stale"] is False
    assert after[("pub-f", "2026-11-02")]["staleSince"] is None
    assert after[("pub-f", "2026-11-02")]["refreshedAt"] > refreshed


def test_a_day_with_events_never_rolled_up_reads_stale_without_a_refresh_time(client, reader):
    insert_events([event(DAY + timedelta(hours=1), "pub-g")])
    days = _days(client, reader, startDate="2026-11-01", endDate="2026-11-05")
    assert days[("pub-g", "2026-11-02")]["stale"] is True
    assert days[("pub-g", "2026-11-02")]["refreshedAt"] is None


def test_bad_dates_are_refused_naming_the_field(client, reader):
    for params, field in (
        ({"startDate": "2026-13-01", "endDate": "2026-11-02"}, "startDate"),
        ({"startDate": "2026-11-03", "endDate": "2026-11-02"}, "endDate"),
        ({"startDate": "2026-11-01"}, "endDate"),
        ({"startDate": "2020-01-01", "endDate": "2026-11-02"}, "endDate"),
        ({"startDate": "0001-01-01", "endDate": "0001-01-02"}, "startDate"),  # overflowed the query: a 500 before
        ({"startDate": "9999-12-30", "endDate": "9999-12-31"}, "startDate"),
    ):
        reply = client.get(URL, headers=reader, params=params)
        assert reply.status_code == 422, reply.text
        assert reply.json()["success"] is False
        assert field in reply.json()["error"]["message"]


def test_freshness_needs_a_token(client):
    assert client.get(URL, params={"startDate": "2026-11-01", "endDate": "2026-11-02"}).status_code == 401
