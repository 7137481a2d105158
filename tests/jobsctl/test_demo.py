"""`jobsctl demo` on the session's Redis and PostgreSQL: a real worker process runs every job type."""

from __future__ import annotations

import os
import subprocess

from settings import Settings
from tests.support.processes import BIN

EMBEDDED_DATABASE = Settings.model_fields["embedded_database_path"].default


def test_the_demo_runs_end_to_end_on_redis_and_postgresql(tmp_path):
    # The session's Redis database and PostgreSQL database: the demo starts a real worker process.
    result = subprocess.run(
        [str(BIN / "jobsctl"), "demo", "--days", "2", "--rows-per-day", "3000"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded" not in result.stdout
    assert "postgresql+psycopg://" in result.stdout and "broker: redis://" in result.stdout
    assert "Daily rollups" in result.stdout
    assert "ingested 10,000 events" in result.stdout and "registered on the way in: pub-newcomer" in result.stdout
    assert "state completed" in result.stdout and "state dead" not in result.stdout
    assert not (tmp_path / EMBEDDED_DATABASE).exists()  # nothing fell back to the embedded default
