"""`jobsctl ingest` as a script runs it: a separate process, its output and its exit codes
(0 loaded or already loaded, 2 refused, 4 PostgreSQL unreachable)."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd

from tests.support.event_files import HEADER, canonical, count, event_rows, read_file, stored_events, write_events
from tests.support.processes import BIN


def jobsctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ingest_loads_files_then_says_already_loaded_with_exit_0(tmp_path):
    # Given a CSV and a Parquet file
    csv = write_events(event_rows(400, seed=1), tmp_path / "a.csv", "csv")
    parquet = write_events(event_rows(300, seed=2, publishers=("pub-009",)), tmp_path / "b.parquet", "parquet")

    # When both are ingested
    first = jobsctl("ingest", str(csv), str(parquet))

    # Then it exits 0, says what it loaded, and the table holds both files as pandas reads them
    assert first.returncode == 0, first.stdout + first.stderr
    assert "loaded 400 rows from a.csv" in first.stdout and "loaded 300 rows from b.parquet" in first.stdout
    both = pd.concat([read_file(csv), read_file(parquet)])
    pd.testing.assert_frame_equal(canonical(stored_events()), canonical(both))

    # When the first is ingested again, Then it exits 0 saying "already loaded", adding nothing
    again = jobsctl("ingest", str(csv), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [(item["status"], item["rows"]) for item in json.loads(again.stdout)] == [("already loaded", 400)]
    assert count("SELECT count(*) FROM ad_events") == 700


def test_a_bad_row_exits_2_with_its_line_and_loads_nothing(tmp_path):
    # Given a CSV whose third line has a negative click count
    path = tmp_path / "bad.csv"
    path.write_text(
        f"{HEADER}\n2026-03-07T10:00:00Z,pub-001,u,US,mobile,5,4,1,0.1\n2026-03-07T11:00:00Z,pub-001,u,US,mobile,5,4,-1,0.1\n"
    )

    # When it is ingested
    result = jobsctl("ingest", str(path))

    # Then it exits 2 naming the line and the reason, and nothing is loaded
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: bad.csv: line 3: clicks '-1' is out of range")
    assert "--skip-bad" in result.stderr
    assert count("SELECT count(*) FROM ad_events") == 0

    # When it is ingested with --skip-bad, Then the good row loads and the rejects file's path is printed
    skipped = jobsctl("ingest", str(path), "--skip-bad")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "1 rows rejected" in skipped.stdout and str(tmp_path / "bad.csv.rejects.csv") in skipped.stdout
    rejects = pd.read_csv(tmp_path / "bad.csv.rejects.csv", dtype=str)
    assert list(rejects["line"]) == ["3"] and list(rejects["clicks"]) == ["-1"]
    assert count("SELECT count(*) FROM ad_events") == 1


def test_a_missing_file_exits_2(tmp_path):
    result = jobsctl("ingest", str(tmp_path / "nowhere.csv"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_postgresql_unreachable_exits_4_with_one_line(tmp_path):
    # Given a file and a DATABASE_URL where nothing listens
    path = write_events(event_rows(10), tmp_path / "a.csv", "csv")

    # When it is ingested, Then it exits 4 with one line saying so
    result = jobsctl("ingest", str(path), env={"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.startswith("error: PostgreSQL cannot be reached")
    assert len(result.stderr.strip().splitlines()) == 1
