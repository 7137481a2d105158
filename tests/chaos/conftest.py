"""Shared pieces of the fault tests: the ledger's tables, the store's view of a run, settling it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.processes import ROOT

#: Brokers notice a dead worker after 5 s and look for its messages every second (production: 60 s / 10 s),
#: so a run with five kills fits the suite's time budget; the recovery path is the same.
FAST_RECOVERY = {"BROKER_HEARTBEAT_TIMEOUT": "5", "BROKER_MAINTENANCE_INTERVAL": "1"}


@pytest.fixture
def ledger_run() -> Iterator[str]:
    from tests.chaos import ledger_jobs  # not at import: settings are read once the session's servers are set

    ledger_jobs.create_tables()
    yield f"run-{uuid.uuid4().hex[:12]}"


def store_states(run: str) -> dict[str, int]:
    """The job store's records of a run's jobs, by state."""
    from db.engine import get_engine
    from runtime.store_buffer import get_buffer

    get_buffer().flush()
    with get_engine().connect() as connection:
        rows = connection.execute(
            text(
                "SELECT state, count(*) FROM jobs WHERE actor = 'apply_entry' AND payload->>'run' = :run GROUP BY state"
            ),
            {"run": run},
        ).all()
    return {state: int(count) for state, count in rows}


def settle(
    run: str, env: dict[str, str] | None = None, timeout: float = 90, *, expected: int | None = None
) -> dict[str, int]:
    """Run the monitor's reconciliation (records a killed worker left unfinished) until the run's records settle.

    The monitor does this every minute for records older than twice the heartbeat timeout;
    here records older than 10 s are settled, in a process of its own with the workers' settings.
    With `expected`, settled also means that many records: after an outage the writers' held
    chunks reach the store a few seconds after the jobs ran (their retries back off up to 5 s).
    """
    import time

    deadline = time.monotonic() + timeout
    code = "import json; from control.reconcile import reconcile; print(json.dumps(reconcile(min_age_seconds=10)))"
    while True:
        states = store_states(run)
        if set(states) <= {"completed"} and (expected is None or sum(states.values()) >= expected):
            return states
        if time.monotonic() > deadline:
            return states
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-2000:]
        time.sleep(2)


def producer(run: str, count: int, env: dict[str, str] | None = None, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.chaos.producer", run, str(count), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def producer_result(process: subprocess.Popen[str], timeout: float = 300) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def describe_unsettled(run: str, redis_url: str | None = None) -> list[dict[str, Any]]:
    """Where the broker has the messages of a run's unsettled records: for failure messages."""
    import redis

    from db.engine import get_engine

    client = redis.Redis.from_url(redis_url or os.environ["REDIS_URL"])
    with get_engine().connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, queue, state, seq, attempts, broker_ref, worker, updated_at FROM jobs"
                " WHERE actor = 'apply_entry' AND payload->>'run' = :run AND state <> 'completed'"
            ),
            {"run": run},
        ).mappings()
        found = []
        for row in rows:
            ref = row["broker_ref"]
            acks = [key.decode() for key in client.keys("dramatiq:__acks__.*") if ref and client.sismember(key, ref)]
            found.append(
                {
                    **{key: str(value) for key, value in row.items()},
                    "in_msgs": bool(ref and client.hexists(f"dramatiq:{row['queue']}.msgs", ref)),
                    "in_dq": bool(ref and client.hexists(f"dramatiq:{row['queue']}.DQ.msgs", ref)),
                    "in_acks": acks,
                }
            )
    return found
