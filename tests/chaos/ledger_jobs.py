"""The job of the fault tests: applies one ledger entry, once, however often it runs.

Workers load it beside the real actors: `dramatiq actors tests.chaos.ledger_jobs`. Entry `n`
of run `run` adds 1 to one of 16 account balances, guarded by its idempotency key `(run, n)`
in the same transaction, so a redelivered message (at-least-once delivery after a crash) finds
the key and changes nothing. Every committed run is also logged with its message id, which is
how the tests count jobs that ran twice. A guard that did not work would show as balances
summing to more than the entries applied.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from dramatiq.middleware import CurrentMessage
from sqlalchemy import text

from actors._base import job_actor
from core.payloads import JobPayload
from db.engine import get_engine

QUEUE = "chaos-ledger"
ACCOUNTS = 16
CREATE_TABLES = (
    "CREATE TABLE IF NOT EXISTS chaos_runs (run text NOT NULL, n integer NOT NULL, message_id text NOT NULL,"
    " ran_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    # When each run started (its work runs from `started_at` to `ran_at`): queue limits are measured on it.
    "ALTER TABLE chaos_runs ADD COLUMN IF NOT EXISTS started_at timestamptz",
    "CREATE TABLE IF NOT EXISTS chaos_applied (run text NOT NULL, n integer NOT NULL, PRIMARY KEY (run, n))",
    "CREATE TABLE IF NOT EXISTS chaos_balances (run text NOT NULL, account integer NOT NULL,"
    " balance bigint NOT NULL, PRIMARY KEY (run, account))",
)


class EntryRequest(JobPayload):
    run: str
    n: int
    work_ms: int = 0


@job_actor(queue=QUEUE, payload=EntryRequest)
def apply_entry(request: EntryRequest) -> bool:
    message = CurrentMessage.get_current_message()
    assert message is not None
    started_at = datetime.now(UTC)
    if request.work_ms:
        time.sleep(request.work_ms / 1000)
    params = {
        "run": request.run,
        "n": request.n,
        "id": message.message_id,
        "account": request.n % ACCOUNTS,
        "started": started_at,
    }
    with get_engine().begin() as connection:
        connection.execute(
            text("INSERT INTO chaos_runs (run, n, message_id, started_at) VALUES (:run, :n, :id, :started)"), params
        )
        new = connection.execute(
            text("INSERT INTO chaos_applied (run, n) VALUES (:run, :n) ON CONFLICT DO NOTHING"), params
        ).rowcount
        if new:
            connection.execute(
                text(
                    "INSERT INTO chaos_balances (run, account, balance) VALUES (:run, :account, 1)"
                    " ON CONFLICT (run, account) DO UPDATE SET balance = chaos_balances.balance + 1"
                ),
                params,
            )
    return bool(new)


def create_tables() -> None:
    with get_engine().begin() as connection:
        for statement in CREATE_TABLES:
            connection.execute(text(statement))


def counts(run: str) -> dict[str, Any]:
    """What the database shows for `run`: entries applied, runs committed, the balances' sum."""
    with get_engine().connect() as connection:
        row = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM chaos_applied WHERE run = :run),"
                " (SELECT count(*) FROM chaos_runs WHERE run = :run),"
                " (SELECT count(DISTINCT n) FROM chaos_runs WHERE run = :run),"
                " (SELECT coalesce(sum(balance), 0) FROM chaos_balances WHERE run = :run)"
            ),
            {"run": run},
        ).one()
    applied, runs, distinct_runs, balance = (int(value) for value in row)
    return {"applied": applied, "ran_twice": runs - distinct_runs, "applied_twice": balance - applied}


def most_running(run: str) -> int:
    """The most jobs of `run` running at once (from each committed run's start to its commit)."""
    with get_engine().connect() as connection:
        found = connection.execute(
            text(
                "SELECT coalesce(max(running), 0) FROM (SELECT sum(step) OVER (ORDER BY at, step) AS running FROM"
                " (SELECT started_at AS at, 1 AS step FROM chaos_runs WHERE run = :run AND started_at IS NOT NULL"
                "  UNION ALL SELECT ran_at, -1 FROM chaos_runs WHERE run = :run AND started_at IS NOT NULL) edges) s"
            ),
            {"run": run},
        ).scalar_one()
    return int(found)
