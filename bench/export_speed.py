"""Export rate and memory: our export of N raw-event rows against PostgreSQL COPY of the same rows.

The anchor is `psql -c "\\copy (query) TO file WITH (FORMAT csv, HEADER)"`: the server's COPY
streamed by a C client into a file. Ours runs `db.export_files.write_export` in a fresh Python
process (the COPY path the worker takes on PostgreSQL, and the pandas path for comparison) and
reports its peak resident memory (`VmHWM`), imports included. Like the job, it counts the
rows first (for progress reports) and writes through a `.part` file that it fsyncs and renames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
PUBLISHER = "pub-001"
START = date(2026, 1, 1)
DAYS = 20


@dataclass
class ExportRun:
    rows: int
    seconds: float
    peak_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def seed(rows: int) -> None:
    """Exactly `rows` raw events of one publisher over DAYS days (kept between runs when present)."""
    from db.engine import get_engine
    from db.events import SeedPlan, seed_events

    window = {"p": PUBLISHER, "a": START, "b": START + timedelta(days=DAYS)}
    with get_engine().begin() as connection:
        have = connection.execute(
            text("SELECT count(*) FROM ad_events WHERE publisher_id = :p AND ts >= :a AND ts < :b"), window
        )
        if have.scalar_one() == rows:
            return
        # Only this figure's days: the aggregation figures keep their own events.
        connection.execute(text("DELETE FROM ad_events WHERE ts >= :a AND ts < :b"), window)
        seed_events(connection, SeedPlan(start=START, days=DAYS, rows_per_day=rows // DAYS, publishers=1))
    # The rows deleted above would otherwise be scanned (and counted as dead) by both sides.
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE ad_events"))


def _spec_json(fmt: str) -> str:
    end = START + timedelta(days=DAYS - 1)
    return json.dumps({"publisher_id": PUBLISHER, "format": fmt, "start": START.isoformat(), "end": end.isoformat()})


_CHILD = """
import json, sys, time
from datetime import date
from pathlib import Path
from db.engine import get_engine
from db.export_files import ExportSpec, count_rows, write_export
spec = json.loads(sys.argv[1])
method, path = sys.argv[2], Path(sys.argv[3])
spec = ExportSpec(publisher_id=spec["publisher_id"], format=spec["format"], granularity="raw",
                  start_date=date.fromisoformat(spec["start"]), end_date=date.fromisoformat(spec["end"]))
t = time.perf_counter()
with get_engine().connect() as connection, connection.begin():
    count_rows(connection, spec)  # the job counts first, for its progress reports
    written = write_export(connection, spec, path, method=method)
elapsed = time.perf_counter() - t
# VmHWM: this process image's peak resident memory. Not ru_maxrss, which Linux carries over
# exec from the process that started this one (the benchmark's own, larger, process).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rows": written.rows, "seconds": elapsed, "peak_mb": peak_kb / 1024}))
"""


def ours(method: str, fmt: str, env: dict[str, str]) -> ExportRun:
    with tempfile.TemporaryDirectory(prefix="adjobs-bench-") as directory:
        path = Path(directory) / f"out.{fmt}"
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, _spec_json(fmt), method, str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return ExportRun(rows=result["rows"], seconds=result["seconds"], peak_mb=result["peak_mb"])


def anchor(env: dict[str, str]) -> ExportRun:
    """psql's \\copy of the same query, to a file."""
    from sqlalchemy.dialects import postgresql

    from db.export_files import ExportSpec, export_query

    spec = ExportSpec(
        publisher_id=PUBLISHER,
        format="csv",
        granularity="raw",
        start_date=START,
        end_date=START + timedelta(days=DAYS - 1),
    )
    query = str(
        export_query(spec, "postgresql").compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    ).replace("\n", " ")
    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with tempfile.TemporaryDirectory(prefix="adjobs-bench-") as directory:
        path = Path(directory) / "anchor.csv"
        command = f"\\copy ({query}) TO '{path}' WITH (FORMAT csv, HEADER)"
        started = time.perf_counter()
        subprocess.run(
            ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "SET TimeZone = 'UTC'", "-c", command],
            check=True,
            capture_output=True,
            env={**os.environ, **env},
        )
        elapsed = time.perf_counter() - started
        rows = sum(1 for _ in path.open("rb")) - 1
    return ExportRun(rows=rows, seconds=elapsed, peak_mb=0.0)
