"""Reading the job store from tests."""

from __future__ import annotations

import time
from typing import Any

from db import jobstore
from db.engine import get_engine
from runtime.store_buffer import get_buffer


def job(job_id: str) -> dict[str, Any] | None:
    get_buffer().flush()
    with get_engine().connect() as connection:
        return jobstore.get_job(connection, job_id)


def wait_for_state(job_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the store until the job is in one of `states`; fails with the last row seen."""
    deadline = time.monotonic() + timeout
    row: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        row = job(job_id)
        if row is not None and row["state"] in states:
            return row
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not in {states} after {timeout}s; last seen: {row}")
