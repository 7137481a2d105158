"""calculate_metrics: each metric type equals pandas over the same raw rows; bad input is refused."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from actors.metrics import calculate_metrics
from core.payloads import InvalidPayload
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from db.publisher_metrics import read_metrics
from tests.support import store
from tests.support.analytics import event_frame

DAY = date(2026, 11, 10)


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=DAY, days=2, rows_per_day=5000, publishers=5))
    return event_frame()


def run(**kwargs: object) -> dict:
    done = store.wait_for_state(calculate_metrics.send(**kwargs).message_id, "completed", "dead")
    assert done["state"] == "completed", done["error"]
    return done


def stored(metric_type: str, period: str) -> dict[str, dict]:
    with get_engine().connect() as connection:
        return {row["publisher_id"]: row["values"] for row in read_metrics(connection, metric_type, period)}


@pytest.mark.parametrize("period", ["2026-11-10", "2026-11-10T13"])
def test_every_metric_type_equals_pandas_over_the_raw_rows(events, worker, period):
    start = pd.Timestamp(period.replace("T", " ") + (":00" if "T" in period else ""), tz="UTC")
    end = start + (pd.Timedelta(hours=1) if "T" in period else pd.Timedelta(days=1))
    rows = events[(events["ts"] >= start) & (events["ts"] < end)]
    per_publisher = rows.groupby("publisher_id")[["ad_requests", "impressions", "clicks", "revenue"]].sum()
    per_unit = rows.groupby(["publisher_id", "ad_unit_id"])[["impressions", "clicks", "revenue"]].sum()

    for metric_type in ("performance", "revenue", "quality"):
        done = run(metric_type=metric_type, period=period)
        assert done["result"]["publishers"] == len(per_publisher)

    performance, revenue, quality = (stored(kind, period) for kind in ("performance", "revenue", "quality"))
    assert set(performance) == set(per_publisher.index) and len(performance) == 5
    for publisher, totals in per_publisher.iterrows():
        assert performance[publisher]["impressions"] == totals["impressions"]
        assert performance[publisher]["ctr"] == pytest.approx(totals["clicks"] / totals["impressions"])
        assert performance[publisher]["fill_rate"] == pytest.approx(totals["impressions"] / totals["ad_requests"])
        assert revenue[publisher]["revenue"] == pytest.approx(totals["revenue"])
        assert revenue[publisher]["ecpm"] == pytest.approx(totals["revenue"] * 1000 / totals["impressions"])
        assert revenue[publisher]["top_ad_unit"] == per_unit.loc[publisher]["revenue"].idxmax()
        assert quality[publisher]["unfilled_requests"] == totals["ad_requests"] - totals["impressions"]
        assert quality[publisher]["ad_units"] == len(per_unit.loc[publisher])


def test_running_twice_leaves_the_same_rows_and_one_publisher_touches_only_its_own(events, worker):
    run(metric_type="revenue", period="2026-11-10", publisher_id="pub-002")
    first = stored("revenue", "2026-11-10")
    assert list(first) == ["pub-002"]
    run(metric_type="revenue", period="2026-11-10", publisher_id="pub-002")
    assert stored("revenue", "2026-11-10") == first


def test_bad_input_is_refused_at_send_or_dies_without_retries(events, worker):
    with pytest.raises(InvalidPayload, match="period"):
        calculate_metrics.send(metric_type="revenue", period="yesterday")
    with pytest.raises(InvalidPayload, match="metric_type"):
        calculate_metrics.send(metric_type="speed", period="2026-11-10")
    message = calculate_metrics.send(metric_type="revenue", period="2026-11-10", publisherId="pub-404")
    dead = store.wait_for_state(message.message_id, "dead")
    assert dead["attempts"] == 1
    assert "unknown publisher 'pub-404'" in dead["error"]


def test_one_job_of_several_types_writes_what_one_job_per_type_writes(events, worker):
    # Given each type computed by a job of its own
    for metric_type in ("performance", "revenue", "quality"):
        run(metric_type=metric_type, period="2026-11-10")
    alone = {kind: stored(kind, "2026-11-10") for kind in ("performance", "revenue", "quality")}
    with get_engine().begin() as connection:
        connection.exec_driver_sql("DELETE FROM publisher_metrics")

    # When one job computes the three from one scan of the events
    done = run(metric_types=["performance", "revenue", "quality"], period="2026-11-10")

    # Then it reports the publishers once and stores the same values for every type
    assert done["result"] == {
        "metric_types": ["performance", "revenue", "quality"],
        "period": "2026-11-10",
        "publishers": 5,
    }
    assert {kind: stored(kind, "2026-11-10") for kind in alone} == alone
    assert all(len(values) == 5 for values in alone.values())


def test_a_job_names_one_metric_type_or_several_not_both_nor_none():
    for kwargs in ({}, {"metric_type": "revenue", "metric_types": ["quality"]}):
        with pytest.raises(InvalidPayload, match="metric_type or metric_types"):
            calculate_metrics.send(period="2026-11-10", **kwargs)
    with pytest.raises(InvalidPayload, match="metric_types"):
        calculate_metrics.send(metric_types=["revenue", "speed"], period="2026-11-10")
    with pytest.raises(InvalidPayload, match="metric_types"):
        calculate_metrics.send(metric_types=[], period="2026-11-10")


@pytest.mark.parametrize("period", ["2026-11-10", "2026-11-10T13"])
def test_metrics_read_from_the_rollups_equal_the_metrics_read_from_the_events(events, worker, period):
    from db.rollups import aggregate_days

    # Given a New York publisher among UTC ones, and the day's hour and day rollups written
    with get_engine().begin() as connection:
        connection.exec_driver_sql("UPDATE publishers SET timezone = 'America/New_York' WHERE id = 'pub-001'")
        for granularity in ("hour", "day"):
            assert aggregate_days(connection, granularity, DAY, DAY) > 0
    kinds = ["performance", "revenue", "quality"]

    # When the metrics are computed from the raw events, then again from the rollups
    from_events = run(metric_types=kinds, period=period)["result"]
    by_events = {kind: stored(kind, period) for kind in kinds}
    with get_engine().begin() as connection:
        connection.exec_driver_sql("DELETE FROM publisher_metrics")
    from_rollups = run(metric_types=kinds, period=period, source="rollups")["result"]

    # Then both cover the same five publishers (the New York one on its own local day) with the same values
    assert from_rollups["publishers"] == from_events["publishers"] == 5
    by_rollups = {kind: stored(kind, period) for kind in kinds}
    assert by_rollups.keys() == by_events.keys()
    for kind in kinds:
        assert by_rollups[kind].keys() == by_events[kind].keys()
        for publisher, values in by_events[kind].items():
            assert by_rollups[kind][publisher] == pytest.approx(values), (kind, publisher)
