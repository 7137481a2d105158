"""The whole daily pipeline for 200 and 20,000 publishers, against one SQL statement per granularity.

Events: one day of ROWS_PER_DAY synthetic events spread over N registered publishers (200 or
20,000), each size on its own day in its own ISO week and month, seeded once and kept. Ours is
`start_daily_pipeline(day)` (aggregation → metrics → cache warming) with real worker processes
(`dramatiq actors`, default processes and threads) under the default settings, the aggregation
queue's 10-per-minute rate limit included, timed from the start to the run's completion. The
anchor is the same rollups done by one statement per granularity run alone in-process
(`db.rollups.aggregate_days` for hour, day, week and month). Both start from empty rollups.
A run starts RUN_SPACING_S after the previous one ended, so each run's 4 aggregation jobs fit
the 10-per-minute window (a run never waits for the previous runs' jobs to leave it).

Standalone: `python -m bench.daily_pipeline [publishers ...] [--rows N]` (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

ROWS_PER_DAY = 400_000
SIZES = (200, 20_000)
#: Each size on its own day, in its own week and month, so the rollups of one never read the other.
DAYS = {200: date(2026, 6, 10), 20_000: date(2026, 7, 15)}
#: Two runs per minute at most: 2 runs of 4 aggregation jobs stay under the default 10 per minute.
RUN_SPACING_S = 31.0

_COUNT = "SELECT count(*) FROM ad_events WHERE ts >= :a AND ts < :b"
_DELETE_EVENTS = "DELETE FROM ad_events WHERE ts >= :a AND ts < :b"
_REGISTER = """
INSERT INTO publishers (id, name)
SELECT :prefix || n, :prefix || n FROM generate_series(1, :publishers) AS n
ON CONFLICT (id) DO NOTHING
"""
#: Every publisher gets events (ids cycle), spread over the day's hours.
_EVENTS = """
INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)
SELECT :start + make_interval(secs => floor(random() * 86400)::int),
       :prefix || (1 + n % :publishers), :prefix || (1 + n % :publishers) || '-unit-' || (n % 3),
       'US', 'mobile', r, floor(r * 0.8)::int, floor(r * 0.02)::int, round((r * 0.003)::numeric, 6)
FROM (SELECT n, 1 + floor(random() * 60)::int AS r FROM generate_series(0, :rows - 1) AS n) AS picks
"""
_CLEAR_ROLLUPS = "DELETE FROM analytics_rollups WHERE bucket_start >= :a AND bucket_start < :b"


@dataclass
class PipelineRun:
    publishers: int
    ours_s: float
    anchor_s: float
    aggregation_jobs: int

    @property
    def ratio(self) -> float:
        return self.ours_s / self.anchor_s


def _prefix(publishers: int) -> str:
    return f"dp{publishers}-"


def _window(day: date) -> dict[str, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return {"a": start, "b": start + timedelta(days=1)}


def _month(day: date) -> dict[str, datetime]:
    """Every bucket the day's run writes: its month (which holds its week here) and a margin."""
    first = datetime.combine(day.replace(day=1), datetime.min.time(), tzinfo=UTC) - timedelta(days=7)
    return {"a": first, "b": first + timedelta(days=50)}


def prepare(publishers: int, rows: int = ROWS_PER_DAY) -> int:
    """The day's events of `publishers` registered publishers (kept when already there)."""
    from db.engine import get_engine

    day = DAYS.get(publishers, date(2026, 8, 12))
    with get_engine().begin() as connection:
        if connection.execute(text(_COUNT), _window(day)).scalar_one() != rows:
            connection.execute(text(_DELETE_EVENTS), _window(day))
            params = {"prefix": _prefix(publishers), "publishers": publishers}
            connection.execute(text(_REGISTER), params)
            connection.execute(text(_EVENTS), {**params, "rows": rows, "start": _window(day)["a"]})
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE ad_events"))
    return rows


def _clear(day: date) -> None:
    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(_CLEAR_ROLLUPS), _month(day))


def anchor(day: date) -> float:
    """One statement per granularity, run alone in-process, from empty rollups."""
    from db.engine import get_engine
    from db.rollups import GRANULARITIES, aggregate_days

    _clear(day)
    started = time.perf_counter()
    for granularity in GRANULARITIES:
        with get_engine().begin() as connection:
            aggregate_days(connection, granularity, day, day)
    return time.perf_counter() - started


def ours(day: date, timeout: float = 1800.0) -> tuple[float, int]:
    """The whole daily pipeline with the workers up, from empty rollups; (seconds, aggregation jobs)."""
    from db import pipelines as runs
    from db.engine import get_engine
    from pipelines.daily import start_daily_pipeline
    from runtime.store_buffer import get_buffer

    _clear(day)
    started = time.perf_counter()
    run_id = start_daily_pipeline(day).id
    while True:
        get_buffer().flush()
        with get_engine().connect() as connection:
            run = runs.get_run(connection, run_id)
        assert run is not None
        if run["state"] == "completed":
            return time.perf_counter() - started, len(run["stages"][0]["jobs"])
        if run["state"] == "failed" or time.perf_counter() - started > timeout:
            raise RuntimeError(f"daily pipeline run {run_id} is {run['state']}: {run.get('failedJob')}")
        time.sleep(0.05)


def measure(env: dict[str, str], runs: int, sizes: tuple[int, ...] = SIZES) -> list[PipelineRun]:
    """`runs` runs per size with the workers up (a warm-up run first, so their boot is not timed)."""
    from bench.workers import dramatiq_worker

    results: list[PipelineRun] = []
    worker_env = {k: v for k, v in env.items() if not k.startswith("QUEUES__")}  # the default settings
    with dramatiq_worker("actors", os.cpu_count() or 2, 8, worker_env):
        ours(DAYS.get(sizes[0], date(2026, 8, 12)))  # warm-up, not counted
        last_end = time.monotonic()
        for publishers in sizes:
            day = DAYS.get(publishers, date(2026, 8, 12))
            for _ in range(runs):
                # Jobs are admitted between a run's start and end: with RUN_SPACING_S from one run's end to
                # the next one's start, no 60-second window holds the admissions of more than two runs.
                wait = last_end + RUN_SPACING_S - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                seconds, jobs = ours(day)
                last_end = time.monotonic()
                results.append(PipelineRun(publishers, seconds, anchor(day), jobs))
    return results


def main() -> None:
    from db.migrate import upgrade

    args = sys.argv[1:]
    rows = ROWS_PER_DAY
    if "--rows" in args:
        at = args.index("--rows")
        rows = int(args[at + 1])
        del args[at : at + 2]
    sizes = tuple(int(arg) for arg in args) or SIZES
    upgrade()
    for publishers in sizes:
        prepare(publishers, rows)
    for result in measure(dict(os.environ), 1, sizes):
        print(
            f"{result.publishers:,} publishers, {rows:,} events: daily pipeline {result.ours_s:.2f} s"
            f" ({result.aggregation_jobs} aggregation jobs); one statement per granularity {result.anchor_s:.2f} s;"
            f" ratio {result.ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
