"""`jobsctl export --no-csv-escape-formulas`: the export's job is told to write CSV values as they are."""

from __future__ import annotations

import json
import os
import subprocess

from tests.support import store
from tests.support.processes import BIN

EXPORT = ("export", "--publisher", "pub-001", "--start", "2026-11-02", "--end", "2026-11-02", "--no-wait", "--json")


def started_export(*flags: str) -> dict:
    result = subprocess.run(
        [str(BIN / "jobsctl"), *EXPORT, *flags],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_export_escapes_formulas_by_default_and_not_with_the_flag():
    # When an export is started with and without --no-csv-escape-formulas
    default = started_export()
    machine = started_export("--no-csv-escape-formulas")
    # Then each job's payload says whether to escape
    assert store.job(default["jobId"])["payload"]["csv_escape_formulas"] is True
    assert store.job(machine["jobId"])["payload"]["csv_escape_formulas"] is False
