"""Importing the actors loads no heavy library before a job uses it: pandas, numpy and pyarrow (event
files, reports), Jinja2 (reports), Alembic (migrations), sentry-sdk (only with SENTRY_DSN), httpx
(alert webhooks). Every `jobsctl` command and every service that imports an actor to `send()` would
pay for them (about a second together). Checked in fresh interpreters on the embedded default;
the time itself is a row of `make bench` (`bench/import_time.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "numpy", "pyarrow", "jinja2", "alembic", "sentry_sdk", "httpx")
#: Settings that would reach a server, removed from the fresh interpreters' environment.
SERVER_SETTINGS = ("REDIS_URL", "BROKER_URL", "DATABASE_URL", "SENTRY_DSN")


def heavy_loaded_after(code: str, folder: Path) -> list[str]:
    """The heavy libraries in `sys.modules` after a fresh interpreter ran `code` (on the embedded default)."""
    env = {name: value for name, value in os.environ.items() if name not in SERVER_SETTINGS}
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(n for n in {HEAVY!r} if n in sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=folder,
        env={**env, "EMBEDDED": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ["actors.aggregation", "actors.catalog", "jobsctl.main", "api.app"])
def test_importing_an_entry_point_loads_no_heavy_library(module, tmp_path):
    # Given a fresh interpreter, When it imports a service's actor, every actor, the CLI or the API
    loaded = heavy_loaded_after(f"import {module}", tmp_path)
    # Then none of the heavy libraries is loaded yet
    assert loaded == []


def test_the_heavy_libraries_load_where_they_are_used(tmp_path):
    # Given every actor imported, When an event file's batch is checked and a report's CSV is rendered
    code = (
        "import actors.catalog\n"
        "from db.event_files import RawBatch, _empty_columns\n"
        "from db.event_checks import check_batch\n"
        "import numpy\n"  # the batch's line numbers are an array (this import is the test's own)
        "check_batch(RawBatch(columns=_empty_columns(), lines=numpy.empty(0, numpy.int64)))\n"
        "from reporting.render import render_csv\n"
        "zero = dict.fromkeys(('ad_requests', 'impressions', 'clicks', 'revenue', 'ctr', 'fill_rate', 'ecpm'), 0)\n"
        "render_csv({'totals': zero, 'previous': zero, 'change_pct': zero, 'top_ad_units': []})\n"
    )
    # Then pyarrow and pandas are loaded then (so the probe above would see them)
    assert {"pyarrow", "pandas"} <= set(heavy_loaded_after(code, tmp_path))
