"""The dispatcher enqueues each tick once, honours stop/start/trigger, and catches up by policy."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from scheduling import dispatcher, registry, state
from scheduling.registry import Schedule
from settings import get_settings

SENT: list[tuple[str, datetime]] = []


def remember(name: str):  # type: ignore[no-untyped-def]
    def job(tick: datetime) -> list[str]:
        SENT.append((name, tick))
        return [f"{name}@{tick.isoformat()}"]

    return job


@pytest.fixture
def only_test_schedules(monkeypatch):
    SENT.clear()
    table = {
        "t-minute": Schedule("t-minute", "* * * * *", remember("t-minute")),
        "t-daily": Schedule("t-daily", "0 1 * * *", remember("t-daily")),
        "t-warm": Schedule("t-warm", "*/5 * * * *", remember("t-warm")),
    }
    monkeypatch.setattr(registry, "_schedules", table)
    monkeypatch.setattr(get_settings(), "schedule_catch_up", ["t-daily"])
    return table


def test_two_dispatchers_at_the_same_time_enqueue_each_tick_once(only_test_schedules):
    now = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)
    threads = [threading.Thread(target=dispatcher.dispatch, kwargs={"now": now}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(SENT) == sorted(
        [("t-minute", datetime(2026, 11, 24, 10, 0, tzinfo=UTC)), ("t-warm", datetime(2026, 11, 24, 10, 0, tzinfo=UTC))]
    )
    # and a later dispatch sends only the new minute
    dispatcher.dispatch(now=now + timedelta(minutes=1))
    assert [s for s in SENT if s[0] == "t-minute"][-1][1] == datetime(2026, 11, 24, 10, 1, tzinfo=UTC)
    assert len(SENT) == 3


def test_a_stopped_schedule_is_not_enqueued_and_trigger_runs_it_now(only_test_schedules):
    dispatcher.set_enabled("t-minute", False)
    dispatcher.dispatch(now=datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC))
    assert [name for name, _ in SENT] == ["t-warm"]
    described = dispatcher.describe("t-minute")[0]
    assert described["enabled"] is False and len(described["nextRuns"]) == 5
    run = dispatcher.trigger("t-minute")
    assert [name for name, _ in SENT] == ["t-warm", "t-minute"]
    assert run["trigger"].startswith("manual") and state.last_run("t-minute")["jobIds"] == run["jobIds"]
    dispatcher.set_enabled("t-minute", True)
    dispatcher.dispatch(now=datetime(2026, 11, 24, 10, 1, 5, tzinfo=UTC))
    assert SENT[-1] == ("t-minute", datetime(2026, 11, 24, 10, 1, tzinfo=UTC))


def test_after_an_outage_the_daily_schedule_catches_up_and_cache_warming_records_misses(only_test_schedules):
    # Given every schedule evaluated up to three days ago, then a beat outage
    before = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    for name in only_test_schedules:
        state.advance_watermark(name, before)
    # When the dispatcher runs again
    now = datetime(2026, 11, 24, 12, 0, 20, tzinfo=UTC)
    dispatcher.dispatch(now=now)
    # Then the daily schedule ran each missed day, oldest first
    daily = [tick for name, tick in SENT if name == "t-daily"]
    assert daily == [datetime(2026, 11, d, 1, tzinfo=UTC) for d in (22, 23, 24)]
    # and the every-5-minutes one ran only its on-time tick, the rest recorded as missed
    warm = [tick for name, tick in SENT if name == "t-warm"]
    assert warm == [datetime(2026, 11, 24, 12, 0, tzinfo=UTC)]
    [missed] = [m for m in state.missed() if m["schedule"] == "t-warm"]
    assert missed["count"] == 3 * 24 * 12 - 1  # every 5 minutes for three days, but the on-time one
    assert missed["first"] == "2026-11-21T12:05:00+00:00" and missed["last"] == "2026-11-24T11:55:00+00:00"
    assert not [m for m in state.missed() if m["schedule"] == "t-daily"]


def test_an_unknown_schedule_name_is_refused():
    with pytest.raises(registry.UnknownSchedule, match="unknown schedule 'nope'"):
        dispatcher.trigger("nope")
