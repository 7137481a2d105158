"""How job-store events of one job rank and fold: `seq` and the merge rule, with no database behind them.

Events of one job may reach the store out of order (the producer's `waiting` can land after
the worker's `completed`, a writer may write an event twice), so every event carries
`seq` = (attempt * HOLDS + holds) * PHASES + phase, and a newer event wins the columns that
describe where the job is while first-seen columns stay put. `merge_events` is that rule in
memory; `db.jobstore`'s upsert applies the same rule in SQL. Kept apart from `db.jobstore`
(SQLAlchemy, the models) so that what makes events (the producer's side of the job-store
middleware) imports no database library.
"""

from __future__ import annotations

from typing import Any

#: Job states of CONTRACT.md.
STATES = ("waiting", "delayed", "active", "completed", "failed", "dead", "cancelled")
#: States a job never leaves by itself.
FINAL_STATES = ("completed", "dead", "cancelled")

#: The phase of each state within one attempt; seq = (attempt * HOLDS + holds) * PHASES + phase,
#: where `holds` counts the times a queue limit put the attempt back (each hold outranks the last).
PHASE = {"delayed": 0, "waiting": 1, "active": 2, "completed": 3, "failed": 3, "dead": 3}
PHASES = 5
HOLDS = 1000
#: Cancellation outranks anything a worker may still report.
CANCELLED_SEQ = 1_000_000

#: Set by the first event that names them and never changed afterwards.
FIRST_SEEN = (
    "queue",
    "actor",
    "payload",
    "priority",
    "max_attempts",
    "dedupe_key",
    "retry_of",
    "pipeline_id",
)
#: Taken from a newer event when it carries a value, kept otherwise.
STICKY = ("run_at", "started_at", "error", "traceback", "result", "worker", "broker_ref")
#: Taken from a newer event as they are (None clears: a new attempt has not finished).
REPLACED = ("state", "finished_at", "duration_ms", "progress")


def seq_for(state: str, attempt: int, holds: int = 0) -> int:
    return (attempt * HOLDS + min(holds, HOLDS - 1)) * PHASES + PHASE[state]


def merge_events(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """Fold two events of one job into one row, with the rules the SQL upsert applies."""
    if newer["seq"] < older["seq"]:
        older, newer = newer, older
    row = dict(newer)
    for column in FIRST_SEEN:
        if older.get(column) is not None:
            row[column] = older[column]
    for column in (*STICKY, "enqueued_at"):
        if row.get(column) is None:
            row[column] = older.get(column)
    if older.get("enqueued_at") is not None:
        row["enqueued_at"] = older["enqueued_at"]
    row["attempts"] = max(older.get("attempts") or 0, newer.get("attempts") or 0)
    return row
