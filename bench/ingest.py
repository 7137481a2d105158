"""Ingest rate: `db.ingest.load_file` of a generated CSV against `psql \\copy` of the same file.

The file: BENCH_INGEST_ROWS (default 1.5 M) events over 7 days of May 2026 (days no other
figure uses), 200 publishers, in time order as ad servers write them; made once with a fixed
seed and kept under `var/bench/`. Ours runs `load_file` in a fresh Python process (timed inside
it, imports excluded), as `jobsctl ingest` does: checksum, parse and check every value, COPY
into a staging table, one `INSERT ... SELECT` into the day partitions of `ad_events`, whose
trigger registers publishers and marks the hours stale. The day partitions exist already (the
daily cleanup makes them ahead) and are emptied before each run, with the file's batch record.
The anchor is `psql -c "\\copy ... FROM file WITH (FORMAT csv, HEADER)"` of the same file into
the same table, `ad_events` (its day partitions, index and trigger), emptied the same way: the
server's COPY fed by a C client, so the ratio is what reading, checking and staging cost. A
second anchor copies into a plain table shaped like `ad_events` before partitioning (a
bigserial key and the (ts, publisher) index, no trigger), truncated before each run: what the
partitions and the trigger cost on top.

Standalone: `python -m bench.ingest [ROWS] [RUNS]` against DATABASE_URL.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "var" / "bench"
START = date(2026, 5, 4)
DAYS = 7
PUBLISHERS = 200
UNITS = 5
ROWS = int(os.environ.get("BENCH_INGEST_ROWS", "1500000"))
COLUMNS = "ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue"

ANCHOR_TABLE = """
CREATE TABLE IF NOT EXISTS bench_ingest_anchor (
    id bigserial PRIMARY KEY, ts timestamptz NOT NULL, publisher_id varchar(64) NOT NULL,
    ad_unit_id varchar(64) NOT NULL, country varchar(2) NOT NULL, device varchar(16) NOT NULL,
    ad_requests integer NOT NULL, impressions integer NOT NULL, clicks integer NOT NULL,
    revenue numeric(18, 6) NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_bench_ingest_anchor_ts_publisher ON bench_ingest_anchor (ts, publisher_id)
"""
ANCHOR_CLEAR = "TRUNCATE bench_ingest_anchor"
ANCHOR_COUNT = "SELECT count(*) FROM bench_ingest_anchor"
CLEAR_BATCH = "DELETE FROM ingest_batches WHERE loaded_by = 'bench'"
CLEAR_MARKS = "DELETE FROM stale_hours WHERE hour_start >= :a AND hour_start < :b"
CLEAR_DAY = "TRUNCATE {partition}"
COUNT = "SELECT count(*) FROM ad_events WHERE ts >= :a AND ts < :b"


@dataclass
class IngestRun:
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _window() -> dict[str, datetime]:
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    return {"a": start, "b": start + timedelta(days=DAYS)}


def make_file(rows: int = ROWS) -> Path:
    """The CSV of `rows` events (made once, then kept)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    path = FILES / f"ingest-{rows}.csv"
    if path.exists():
        return path
    FILES.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(18)
    start = np.datetime64(START.isoformat(), "s")
    seconds = np.sort(rng.integers(0, DAYS * 86_400, rows))
    publisher = 1 + np.floor(PUBLISHERS * rng.random(rows) ** 2.2).astype(np.int64)
    unit = 1 + rng.integers(0, UNITS, rows)
    requests = rng.integers(1, 61, rows)
    impressions = np.floor(requests * (0.55 + rng.random(rows) * 0.4)).astype(np.int64)
    clicks = np.floor(impressions * (0.002 + rng.random(rows) * 0.03)).astype(np.int64)
    revenue = np.round(impressions * 3.0 * (0.6 + rng.random(rows) * 0.8) / 1000, 6)
    publisher_text = pc.binary_join_element_wise("pub-", pc.utf8_lpad(pa.array(publisher.astype(str)), 3, "0"), "")
    table = pa.table(
        {
            "ts": pa.array(np.char.add(np.datetime_as_string(start + seconds, unit="s"), "Z")),
            "publisher_id": publisher_text,
            "ad_unit_id": pc.binary_join_element_wise(publisher_text, pa.array(unit.astype(str)), "-unit-"),
            "country": pa.array(np.array(["US", "GB", "DE", "FR", "IN", "BR", "JP", "CA"])[rng.integers(0, 8, rows)]),
            "device": pa.array(np.array(["mobile", "desktop", "tablet"])[rng.integers(0, 3, rows)]),
            "ad_requests": requests,
            "impressions": impressions,
            "clicks": clicks,
            "revenue": pa.array(revenue).cast(pa.decimal128(18, 6)),
        }
    )
    partial = path.with_suffix(".part")
    pa_csv.write_csv(table, str(partial), pa_csv.WriteOptions(quoting_style="none"))
    partial.replace(path)
    return path


def _clear_ours() -> None:
    """The file's days have empty partitions, no batch record, no stale marks."""
    from psycopg import sql

    from db.engine import get_engine
    from db.partitions import ensure_partitions, partition_name

    with get_engine().begin() as connection:
        ensure_partitions(connection, START, START + timedelta(days=DAYS - 1))
        for offset in range(DAYS):
            name = sql.Identifier(partition_name(START + timedelta(days=offset)))
            statement = sql.SQL(CLEAR_DAY).format(partition=name)
            connection.exec_driver_sql(statement.as_string(connection.connection.driver_connection))
        connection.execute(text(CLEAR_BATCH))
        connection.execute(text(CLEAR_MARKS), _window())


_CHILD = """
import json, sys, time
from db.ingest import load_file
started = time.perf_counter()
result = load_file(sys.argv[1], loaded_by="bench")
print(json.dumps({"rows": result.rows, "status": result.status, "seconds": time.perf_counter() - started}))
"""


def ours(path: Path, env: dict[str, str]) -> IngestRun:
    from db.engine import get_engine

    _clear_ours()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "loaded", result
    with get_engine().connect() as connection:
        assert connection.execute(text(COUNT), _window()).scalar_one() == result["rows"]
    return IngestRun(rows=result["rows"], seconds=result["seconds"])


def _psql_copy(path: Path, env: dict[str, str], table: str) -> float:
    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    command = f"\\copy {table} ({COLUMNS}) FROM '{path}' WITH (FORMAT csv, HEADER)"
    started = time.perf_counter()
    subprocess.run(
        ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )
    return time.perf_counter() - started


def anchor(path: Path, env: dict[str, str]) -> IngestRun:
    """psql \\copy of the file into `ad_events` itself (emptied as for ours)."""
    from db.engine import get_engine

    _clear_ours()
    seconds = _psql_copy(path, env, "ad_events")
    with get_engine().connect() as connection:
        rows = connection.execute(text(COUNT), _window()).scalar_one()
    return IngestRun(rows=rows, seconds=seconds)


def anchor_plain(path: Path, env: dict[str, str]) -> IngestRun:
    """psql \\copy of the file into a plain table (no partitions, no trigger)."""
    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(ANCHOR_TABLE))
        connection.execute(text(ANCHOR_CLEAR))
    seconds = _psql_copy(path, env, "bench_ingest_anchor")
    with get_engine().connect() as connection:
        rows = connection.execute(text(ANCHOR_COUNT)).scalar_one()
    return IngestRun(rows=rows, seconds=seconds)


def run(rows: int, runs: int, env: dict[str, str]) -> tuple[list[IngestRun], list[IngestRun], list[IngestRun]]:
    """`runs` rounds (plain anchor, anchor, ours) of the same file; returns (ours, anchors, plain anchors)."""
    path = make_file(rows)
    our_runs, anchor_runs, plain_runs = [], [], []
    for _ in range(runs):
        plain_runs.append(anchor_plain(path, env))
        anchor_runs.append(anchor(path, env))
        our_runs.append(ours(path, env))
        assert our_runs[-1].rows == anchor_runs[-1].rows == plain_runs[-1].rows == rows, (
            our_runs[-1],
            anchor_runs[-1],
            plain_runs[-1],
        )
    # The rows are not kept (the file is): other figures find the database as before.
    _clear_ours()
    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(ANCHOR_CLEAR))
    return our_runs, anchor_runs, plain_runs


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    from db.migrate import upgrade

    upgrade()
    env = dict(os.environ)
    our_runs, anchor_runs, plain_runs = run(rows, runs, env)
    print(f"ingest {rows:,} rows: ours {[round(o.rows_per_s) for o in our_runs]} rows/s")
    for name, anchors in (("into ad_events", anchor_runs), ("into a plain table", plain_runs)):
        ratios = [o.rows_per_s / a.rows_per_s for o, a in zip(our_runs, anchors, strict=True)]
        print(
            f"psql \\copy {name}: {[round(a.rows_per_s) for a in anchors]} rows/s; "
            f"ratio {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
