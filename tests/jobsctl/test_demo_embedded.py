"""`jobsctl demo` on the embedded default: no servers configured, nothing to start (its own test).

The same demo on the real Redis and PostgreSQL is `test_demo.py`.
"""

from __future__ import annotations

import os
import subprocess

from tests.support.processes import BIN


def test_the_demo_runs_end_to_end_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "BROKER_URL")}
    result = subprocess.run(
        [str(BIN / "jobsctl"), "demo", "--days", "2", "--rows-per-day", "3000"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded" in result.stdout
    assert "Daily rollups" in result.stdout
    # It ingested a generated event file, saying how much and from where, with a publisher nobody registered
    assert "ingested 2,000 events" in result.stdout and "registered on the way in: pub-newcomer" in result.stdout
    assert (tmp_path / "var" / "demo").is_dir() and str(tmp_path / "var" / "demo") in result.stdout.replace("\n", "")
    assert "state completed" in result.stdout and "state dead" not in result.stdout
    assert (tmp_path / "var" / "adjobs.sqlite3").exists()
