"""Late events: seconds from loading a late file to converged rollups, against one fresh aggregation.

Events: a month (May 2026) of synthetic events over 200 publishers, seeded once and kept, and
rolled up in every granularity (what the daily pipeline leaves). Each run COPYs a late file
(LATE_ROWS rows for 15 May, spread over every publisher and hour) into `ad_events`, asks for a
re-aggregation as a loader does (`request_reaggregation`), and times from the load's commit to
the moment its stale marks are gone (they go in the transaction that writes the rollups), with a
real worker (`dramatiq actors`, LATE_EVENTS_INTERVAL shortened to 60 s) running the job. The
anchor is one fresh aggregation of the same buckets: `aggregate_window` for the late day in the
four granularities for those publishers (day, its ISO week, its month), timed in-process. A
scheduled tick adds at most LATE_EVENTS_INTERVAL to the figure when no loader asks for a run.

Standalone: `python -m bench.late_events [rows_per_day] [late_rows]` (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

START = date(2026, 5, 1)
DAYS = 31
ROWS_PER_DAY = 100_000
PUBLISHERS = 200
LATE_DAY = datetime(2026, 5, 15, tzinfo=UTC)
LATE_ROWS = 20_000
#: Late rows go to their own ad unit, so the seeded rows can be counted apart.
LATE_UNIT = "late-unit"
COLUMNS = ("ts", "publisher_id", "ad_unit_id", "country", "device", "ad_requests", "impressions", "clicks", "revenue")

_SEEDED = "SELECT count(*) FROM ad_events WHERE ts >= :a AND ts < :b AND ad_unit_id <> :late"
_DELETE_RANGE = "DELETE FROM ad_events WHERE ts >= :a AND ts < :b"
_HAS_MONTH = "SELECT count(*) FROM analytics_rollups WHERE granularity = 'month' AND bucket_start = :m"
#: The bench database only: start each run with nothing stale (other benchmarks' loads leave marks).
_CLEAR_MARKS = "DELETE FROM stale_hours"
_LATE_MARKS = "SELECT count(*) FROM stale_hours WHERE hour_start >= :a AND hour_start < :b"
_COPY = f"COPY ad_events ({', '.join(COLUMNS)}) FROM STDIN"


@dataclass
class LateRun:
    rows: int
    ours_s: float
    anchor_s: float
    #: Rows the anchor's aggregation changed after our run: 0 when the rollups had converged.
    anchor_changed: int

    @property
    def ratio(self) -> float:
        return self.ours_s / self.anchor_s


def _range() -> dict[str, object]:
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    return {"a": start, "b": start + timedelta(days=DAYS), "late": LATE_UNIT}


def prepare(rows_per_day: int = ROWS_PER_DAY) -> int:
    """The month of events (kept when already there), rolled up in every granularity; nothing stale."""
    from db.engine import get_engine
    from db.events import SeedPlan, seed_events
    from db.rollups import GRANULARITIES, aggregate_days

    plan = SeedPlan(start=START, days=DAYS, rows_per_day=rows_per_day, publishers=PUBLISHERS)
    with get_engine().begin() as connection:
        reseed = connection.execute(text(_SEEDED), _range()).scalar_one() != plan.total_rows
        if reseed:
            connection.execute(text(_DELETE_RANGE), _range())
            seed_events(connection, plan)
        if reseed or not connection.execute(text(_HAS_MONTH), {"m": _range()["a"]}).scalar_one():
            for granularity in GRANULARITIES:
                aggregate_days(connection, granularity, START, START + timedelta(days=DAYS - 1))
        connection.execute(text(_CLEAR_MARKS))
    return plan.total_rows


def _late_file(rows: int) -> list[tuple[object, ...]]:
    pick = random.Random(rows + time.time_ns())
    return [
        (
            LATE_DAY + timedelta(seconds=pick.randrange(86_400)),
            f"pub-{1 + i % PUBLISHERS:03d}",
            LATE_UNIT,
            "US",
            "mobile",
            20,
            15,
            pick.randrange(3),
            round(pick.random(), 6),
        )
        for i in range(rows)
    ]


def _copy(rows: list[tuple[object, ...]]) -> None:
    from db.engine import get_engine
    from db.partitions import ensure_partitions

    with get_engine().begin() as connection:
        ensure_partitions(connection, LATE_DAY.date(), LATE_DAY.date())
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)


def _anchor() -> tuple[float, int]:
    from db.engine import get_engine
    from db.rollups import GRANULARITIES, aggregate_window

    publishers = [f"pub-{i:03d}" for i in range(1, PUBLISHERS + 1)]
    started = time.perf_counter()
    changed = 0
    with get_engine().begin() as connection:
        for granularity in GRANULARITIES:
            changed += aggregate_window(connection, granularity, LATE_DAY, LATE_DAY + timedelta(days=1), publishers)
    return time.perf_counter() - started, changed


def run_once(late_rows: int = LATE_ROWS, timeout: float = 600.0) -> LateRun:
    """One late file, with a worker running (start it around the calls: see `main`)."""
    from actors.late_events import request_reaggregation
    from db.engine import get_engine

    rows = _late_file(late_rows)
    _copy(rows)
    loaded = time.perf_counter()
    request_reaggregation()
    window = {"a": LATE_DAY, "b": LATE_DAY + timedelta(days=1)}
    with get_engine().connect() as connection:
        while connection.execute(text(_LATE_MARKS), window).scalar_one():
            connection.commit()
            if time.perf_counter() - loaded > timeout:
                raise RuntimeError(f"late events did not converge within {timeout:.0f} s")
            time.sleep(0.01)
    ours = time.perf_counter() - loaded
    anchor, changed = _anchor()
    return LateRun(late_rows, ours, anchor, changed)


def worker_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "LATE_EVENTS_INTERVAL": "60", "QUEUES__ANALYTICS_AGGREGATION__RATE_LIMIT": "100000"}


def measure(env: dict[str, str], runs: int, late_rows: int = LATE_ROWS) -> list[LateRun]:
    """`runs` late files with one worker up; a small warm-up file first, so its boot is not timed."""
    from bench.workers import dramatiq_worker

    with dramatiq_worker("actors", 1, 2, worker_env(env)):
        run_once(100)
        return [run_once(late_rows) for _ in range(runs)]


def main() -> None:
    from db.migrate import upgrade

    rows_per_day = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS_PER_DAY
    late_rows = int(sys.argv[2]) if len(sys.argv) > 2 else LATE_ROWS
    upgrade()
    events = prepare(rows_per_day)
    for result in measure(dict(os.environ), 1, late_rows):
        print(
            f"{events:,} events; late file of {result.rows:,} rows converged in {result.ours_s:.2f} s;"
            f" fresh aggregation of the same buckets {result.anchor_s:.2f} s ({result.ratio:.2f}x);"
            f" rows the fresh aggregation still changed: {result.anchor_changed}"
        )


if __name__ == "__main__":
    main()
