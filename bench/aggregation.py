"""Daily rollups: the aggregation job's statement against the same statement run alone by psql.

Events: 30 days of about 333,000 raw events a day (10 M) over 200 publishers, seeded once
and kept. Ours is `db.rollups.upsert_rollups`, what `aggregate_analytics` runs: the upsert in a
transaction with `work_mem` raised to 256 MB. The anchor is the same SQL text sent by `psql`
with PostgreSQL's default settings (4 MB `work_mem`), its time read from `\\timing`. Both start
from empty rollups; the figure is for 1 day (about 333,000 events) and for 30 days (10 M).

Before: the rollup statement of the code before day partitions and publisher time zones (one
UTC `INSERT ... SELECT ... GROUP BY ... ON CONFLICT` with the same `work_mem`), run in the same
run on a plain (unpartitioned) copy of the same events, so "no slower than before" is a ratio
measured on one machine, not a figure from another day.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text

START = date(2026, 3, 1)
DAYS = 30
ROWS_PER_DAY = 333_334
PUBLISHERS = 200


#: The same events in a plain table, for the statement from before partitioning.
PLAIN_TABLE = "ad_events_plain"

#: The rollup statement before partitions and time zones (UTC days, one table), verbatim.
BEFORE_STATEMENT = f"""
INSERT INTO analytics_rollups (granularity, bucket_start, publisher_id, ad_unit_id,
    ad_requests, impressions, clicks, revenue, ctr, fill_rate, ecpm, updated_at)
SELECT 'day', (date_trunc('day', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS bucket, publisher_id, ad_unit_id,
    sum(ad_requests), sum(impressions), sum(clicks), sum(revenue),
    sum(clicks)::float8 / nullif(sum(impressions), 0),
    sum(impressions)::float8 / nullif(sum(ad_requests), 0),
    sum(revenue)::float8 * 1000 / nullif(sum(impressions), 0),
    CURRENT_TIMESTAMP
FROM {PLAIN_TABLE}
WHERE ts >= :start AND ts < :end
GROUP BY (date_trunc('day', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), publisher_id, ad_unit_id
ON CONFLICT (granularity, bucket_start, publisher_id, ad_unit_id) DO UPDATE SET
    ad_requests = excluded.ad_requests,
    impressions = excluded.impressions,
    clicks = excluded.clicks,
    revenue = excluded.revenue,
    ctr = excluded.ctr,
    fill_rate = excluded.fill_rate,
    ecpm = excluded.ecpm,
    updated_at = CURRENT_TIMESTAMP
WHERE (analytics_rollups.ad_requests, analytics_rollups.impressions,
       analytics_rollups.clicks, analytics_rollups.revenue)
    IS DISTINCT FROM (excluded.ad_requests, excluded.impressions, excluded.clicks, excluded.revenue)
"""


@dataclass
class AggregationRun:
    days: int
    ours_s: float
    anchor_s: float
    before_s: float

    @property
    def ratio(self) -> float:
        return self.ours_s / self.anchor_s

    @property
    def before_ratio(self) -> float:
        return self.ours_s / self.before_s


def seed() -> int:
    """The 10 M events of the aggregation figures (kept when already there); returns the count."""
    from db.engine import get_engine
    from db.events import SeedPlan, seed_events

    plan = SeedPlan(start=START, days=DAYS, rows_per_day=ROWS_PER_DAY, publishers=PUBLISHERS)
    with get_engine().begin() as connection:
        have = connection.execute(
            text("SELECT count(*) FROM ad_events WHERE ts >= :a AND ts < :b"),
            {"a": START, "b": START + timedelta(days=DAYS)},
        ).scalar_one()
        if have != plan.total_rows:
            connection.execute(
                text("DELETE FROM ad_events WHERE ts >= :a AND ts < :b"),
                {"a": START, "b": START + timedelta(days=DAYS)},
            )
            seed_events(connection, plan)
            connection.execute(text(f"DROP TABLE IF EXISTS {PLAIN_TABLE}"))
        plain = connection.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": PLAIN_TABLE}).scalar_one()
        if not plain:
            connection.execute(
                text(f"CREATE TABLE {PLAIN_TABLE} AS SELECT * FROM ad_events WHERE ts >= :a AND ts < :b"),
                {"a": START, "b": START + timedelta(days=DAYS)},
            )
            # The index the events table had before partitioning (migration 0001).
            connection.execute(text(f"CREATE INDEX ON {PLAIN_TABLE} (ts, publisher_id)"))
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE ad_events"))
        connection.execute(text(f"VACUUM ANALYZE {PLAIN_TABLE}"))
    return plan.total_rows


def _clear() -> None:
    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(text("TRUNCATE analytics_rollups"))


def _ours(days: int) -> float:
    from db.engine import get_engine
    from db.rollups import upsert_rollups

    _clear()
    started = time.perf_counter()
    with get_engine().begin() as connection:
        upsert_rollups(connection, "day", START, START + timedelta(days=days - 1))
    return time.perf_counter() - started


def _anchor(days: int, database_url: str) -> float:
    """The statement ours runs (every publisher here is on UTC: the one-zone statement), sent by psql."""
    from db.engine import get_engine
    from db.rollups import BOUNDS_ONE_ZONE_PG, UPSERTS_ONE_ZONE_PG

    _clear()
    first_day, last_day = START.isoformat(), (START + timedelta(days=days - 1)).isoformat()

    def literal(sql: str) -> str:
        return (
            sql.replace(":first_day", f"'{first_day}'").replace(":last_day", f"'{last_day}'").replace(":zone", "'UTC'")
        )

    with get_engine().connect() as connection:
        lo, hi = connection.execute(text(literal(BOUNDS_ONE_ZONE_PG[("day", True)]))).one()
    sql = (
        literal(UPSERTS_ONE_ZONE_PG[("day", False)])
        .replace(":lo", f"'{lo.isoformat()}'::timestamptz")
        .replace(":hi", f"'{hi.isoformat()}'::timestamptz")
    )
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://")
    out = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", libpq, "-c", "\\timing on", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.findall(r"Time: ([0-9.]+) ms", out)[-1]) / 1000


def _before(days: int) -> float:
    from db.engine import get_engine
    from db.rollups import SET_WORK_MEM

    _clear()
    started = time.perf_counter()
    with get_engine().begin() as connection:
        connection.execute(text(SET_WORK_MEM))
        connection.execute(text(BEFORE_STATEMENT), {"start": START, "end": START + timedelta(days=days)})
    return time.perf_counter() - started


def run_once(days: int, database_url: str) -> AggregationRun:
    anchor = _anchor(days, database_url)
    before = _before(days)
    ours = _ours(days)
    return AggregationRun(days, ours, anchor, before)
