"""`jobsctl demo` on the embedded default: no servers configured, nothing to start (its own test).

The same demo on the real Redis and PostgreSQL is `test_demo.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

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
    # Its job table counts every job it sent: the hour and day aggregations and every other type's
    out = result.stdout
    others = int(re.search(r"sent (\d+) jobs of every other type", out).group(1))
    sent = int(re.search(r"jobs sent\W+(\d+)", out).group(1))
    states = {m.group(1): int(m.group(2)) for m in re.finditer(r"state (\w+)\W+(\d+)", out)}
    assert sent == 2 + others and states == {"completed": sent}
    # And it says where its files are: the SQLite file, and the exports and report it wrote (which exist)
    assert f"{tmp_path / 'var' / 'adjobs.sqlite3'} (SQLite file)" in out
    for setting, default, endings in (
        ("EXPORT_DIR", "var/exports", (".csv", ".jsonl")),
        ("REPORT_DIR", "var/reports", (".html", ".csv")),
    ):
        folder = (tmp_path / env.get(setting, default)).resolve()
        named = [Path(p) for p in re.findall(re.escape(str(folder)) + r"/[\w./-]+", out)]
        assert sorted({p.suffix for p in named if p.suffix}) == sorted(set(endings)), (setting, named)
        assert all(p.exists() for p in named if p.suffix), named
