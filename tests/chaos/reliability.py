"""The rows of RELIABILITY.md: each fault test records what it sent and what became of it.

Rows go to `test-artifacts/reliability/<key>.json`; `python -m tests.chaos.report` (run by
`make chaos`) puts them into RELIABILITY.md's table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "reliability"


def record(key: str, **row: Any) -> Path:
    """Write one row: fault, sent, completed, lost, ran_twice, applied_twice, store_unsettled, note."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{key}.json"
    path.write_text(json.dumps({"key": key, "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S"), **row}, indent=1))
    return path


def record_ledger_run(
    key: str,
    fault: str,
    *,
    run: str,
    jobs: int,
    sent: dict[str, Any],
    states: dict[str, int],
    started: float,
    **extra: Any,
) -> dict[str, Any]:
    """Count a ledger run (`ledger_jobs.counts`) against the jobs sent, record the row and return it."""
    from tests.chaos import ledger_jobs

    counts = ledger_jobs.counts(run)
    row = {
        "fault": fault,
        "sent": sent["sent"],
        "completed": counts["applied"],
        "lost": jobs - counts["applied"],
        "ran_twice": counts["ran_twice"],
        "applied_twice": counts["applied_twice"],
        "store": states,
        "seconds": round(time.monotonic() - started, 1),
        **extra,
    }
    record(key, **row)
    return row
