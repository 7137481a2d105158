"""Synthetic raw ad events for demos, tests and benchmarks.

Publishers are skewed (a few big, many small), traffic follows a daily curve (quiet at
night UTC, busiest mid-afternoon), and countries and devices have realistic shares. On
PostgreSQL the rows are made by the server (`generate_series`), a day per statement, so a
million rows take seconds, into day partitions made first; elsewhere Python makes them in
batches.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate

from sqlalchemy import Connection, insert, text

from db.models import AdEvent, Publisher
from db.partitions import ensure_partitions

#: Share of traffic per UTC hour (a daily curve), sums to 1.
_HOURLY_WEIGHT = (
    2,
    1.5,
    1,
    1,
    1,
    1.5,
    2.5,
    3.5,
    4.5,
    5,
    5.5,
    6,
    6.5,
    6.5,
    7,
    7,
    6.5,
    6,
    5.5,
    5,
    4.5,
    4,
    3.5,
    2.5,
)
HOURLY_SHARE = tuple(w / sum(_HOURLY_WEIGHT) for w in _HOURLY_WEIGHT)
COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "CA")
COUNTRY_SHARE = (0.35, 0.12, 0.1, 0.08, 0.12, 0.09, 0.08, 0.06)
#: eCPM (in revenue units per 1000 impressions) by country.
COUNTRY_ECPM = (4.0, 3.2, 3.0, 2.6, 0.6, 0.9, 2.8, 3.4)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARE = (0.6, 0.32, 0.08)


@dataclass(frozen=True)
class SeedPlan:
    start: date
    days: int
    rows_per_day: int
    publishers: int = 20
    ad_units_per_publisher: int = 5
    seed: float = 0.42

    @property
    def total_rows(self) -> int:
        return self.days * self.rows_per_day


def publisher_ids(count: int) -> list[str]:
    return [f"pub-{i:03d}" for i in range(1, count + 1)]


def ensure_publishers(connection: Connection, count: int) -> list[str]:
    ids = publisher_ids(count)
    existing = {row[0] for row in connection.execute(text("SELECT id FROM publishers"))}
    missing = [{"id": pid, "name": f"Publisher {pid[4:]}"} for pid in ids if pid not in existing]
    if missing:
        connection.execute(insert(Publisher), missing)
    return ids


def _pg_array(values: tuple[float, ...] | list[float]) -> str:
    return "ARRAY[" + ",".join(f"{v:.6f}" for v in values) + "]::float8[]"


def _text_array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


_PG_DAY = """
INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)
SELECT ts, publisher_id, publisher_id || '-unit-' || unit, country, device,
       requests, impressions, clicks,
       round((impressions * ecpm * (0.6 + random() * 0.8) / 1000)::numeric, 6)
FROM (
    SELECT ts, publisher_id, unit, country, device, requests, ecpm,
           impressions, floor(impressions * (0.002 + random() * 0.03))::int AS clicks
    FROM (
        SELECT ts, publisher_id, unit, country, device, requests, ecpm,
               floor(requests * (0.55 + random() * 0.4))::int AS impressions
        FROM (
            SELECT :day_start + make_interval(hours => h - 1, secs => floor(random() * 3600)::int) AS ts,
                   'pub-' || lpad((1 + floor(:publishers * power(random(), 2.2)))::int::text, 3, '0') AS publisher_id,
                   1 + floor(random() * :units)::int AS unit,
                   ({countries})[c] AS country,
                   ({devices})[d] AS device,
                   ({ecpms})[c] AS ecpm,
                   1 + floor(random() * 60)::int AS requests
            FROM (
                SELECT width_bucket(random(), {hour_edges}) AS h,
                       width_bucket(random(), {country_edges}) AS c,
                       width_bucket(random(), {device_edges}) AS d
                FROM generate_series(1, :rows)
            ) picks
        ) base
    ) with_impressions
) with_clicks
"""


def _edges(shares: tuple[float, ...]) -> str:
    # width_bucket(x, thresholds) returns i when thresholds[i] <= x < thresholds[i+1].
    edges = [0.0, *list(accumulate(shares))[:-1]]
    return _pg_array(edges)


def seed_events(
    connection: Connection,
    plan: SeedPlan,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert `plan.total_rows` synthetic events, a day at a time; returns rows inserted."""
    ensure_publishers(connection, plan.publishers)
    if plan.days > 0:
        ensure_partitions(connection, plan.start, plan.start + timedelta(days=plan.days - 1))
    inserted = 0
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT setseed(:s)"), {"s": plan.seed})
        statement = text(
            _PG_DAY.format(
                countries=_text_array(COUNTRIES),
                devices=_text_array(DEVICES),
                ecpms=_pg_array(COUNTRY_ECPM),
                hour_edges=_edges(HOURLY_SHARE),
                country_edges=_edges(COUNTRY_SHARE),
                device_edges=_edges(DEVICE_SHARE),
            )
        )
        for offset in range(plan.days):
            day_start = datetime.combine(plan.start + timedelta(days=offset), datetime.min.time(), tzinfo=UTC)
            connection.execute(
                statement,
                {
                    "day_start": day_start,
                    "rows": plan.rows_per_day,
                    "publishers": plan.publishers,
                    "units": plan.ad_units_per_publisher,
                },
            )
            inserted += plan.rows_per_day
            if progress:
                progress(plan.rows_per_day)
        return inserted
    rng = random.Random(plan.seed)
    for offset in range(plan.days):
        day_start = datetime.combine(plan.start + timedelta(days=offset), datetime.min.time(), tzinfo=UTC)
        rows = [_python_row(rng, day_start, plan) for _ in range(plan.rows_per_day)]
        connection.execute(insert(AdEvent), rows)
        inserted += len(rows)
        if progress:
            progress(len(rows))
    return inserted


def _python_row(rng: random.Random, day_start: datetime, plan: SeedPlan) -> dict[str, object]:
    hour = rng.choices(range(24), HOURLY_SHARE)[0]
    country_index = rng.choices(range(len(COUNTRIES)), COUNTRY_SHARE)[0]
    publisher = 1 + int(plan.publishers * rng.random() ** 2.2)
    requests = rng.randint(1, 60)
    impressions = int(requests * (0.55 + rng.random() * 0.4))
    clicks = int(impressions * (0.002 + rng.random() * 0.03))
    revenue = round(impressions * COUNTRY_ECPM[country_index] * (0.6 + rng.random() * 0.8) / 1000, 6)
    return {
        "ts": day_start + timedelta(hours=hour, seconds=rng.randrange(3600)),
        "publisher_id": f"pub-{publisher:03d}",
        "ad_unit_id": f"pub-{publisher:03d}-unit-{rng.randint(1, plan.ad_units_per_publisher)}",
        "country": COUNTRIES[country_index],
        "device": rng.choices(DEVICES, DEVICE_SHARE)[0],
        "ad_requests": requests,
        "impressions": impressions,
        "clicks": clicks,
        "revenue": revenue,
    }


def count_events(connection: Connection) -> int:
    return int(connection.execute(text("SELECT count(*) FROM ad_events")).scalar_one())
