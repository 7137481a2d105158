"""Daily rollups: the aggregation job's statement against the same statement run alone by psql.

Events: 30 days of about 333,000 raw events a day (10 M) over 200 publishers, seeded once
and kept. Ours is `db.rollups.upsert_rollups`, what `aggregate_analytics` runs: the upsert in a
transaction with `work_mem` raised to 256 MB. The anchor is the same SQL text sent by `psql`
with PostgreSQL's default settings (4 MB `work_mem`), its time read from `\\timing`. Both start
from empty rollups; the figure is for 1 day (about 333,000 events) and for 30 days (10 M).
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


@dataclass
class AggregationRun:
    days: int
    ours_s: float
    anchor_s: float

    @property
    def ratio(self) -> float:
        return self.ours_s / self.anchor_s


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
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE ad_events"))
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
    from db.engine import get_engine
    from db.rollups import BOUNDS_PG, UPSERTS_PG

    _clear()
    first_day, last_day = START.isoformat(), (START + timedelta(days=days - 1)).isoformat()
    bounds = BOUNDS_PG[("day", True)].replace(":first_day", f"'{first_day}'").replace(":last_day", f"'{last_day}'")
    with get_engine().connect() as connection:
        lo, hi = connection.execute(text(bounds)).one()
    sql = (
        UPSERTS_PG[("day", True, False, False)]
        .replace(":first_day", f"'{first_day}'")
        .replace(":last_day", f"'{last_day}'")
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


def run_once(days: int, database_url: str) -> AggregationRun:
    anchor = _anchor(days, database_url)
    ours = _ours(days)
    return AggregationRun(days, ours, anchor)
