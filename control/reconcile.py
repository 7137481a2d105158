"""Job records a dead process left behind, set right from what the broker still holds.

The job store is written behind (each process folds events in memory and writes them every
0.2 s), so a worker killed with SIGKILL takes its last fraction of a second of events with
it: jobs it finished still read `active` or `waiting`. The broker knows better
(`message_places`): on Redis a message stays in its queue until it is acknowledged, and a
dead-lettered one moves to the dead letters. So a record that has not moved for a while and
whose message the broker no longer holds was acknowledged: it completed. One in the dead
letters is dead. One still queued is waiting, or was held by a dead worker: first the broker
gives dead workers' unacknowledged messages back to their queues (`requeue_orphans`, on
Redis those of connections silent for `BROKER_HEARTBEAT_TIMEOUT`), so those jobs run again
and write their own records. RabbitMQ gives them back itself and cannot say where a message
is: there the records stay as they are.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update

from brokers.operations import DEAD, BrokerOperationUnsupported
from db import jobstore
from db.engine import get_engine
from db.models import JobRecord
from runtime.store_buffer import get_buffer
from wiring.broker import get_broker

logger = logging.getLogger(__name__)

#: States a live job moves out of by itself; a record stuck in one is a candidate.
UNSETTLED = ("waiting", "active", "failed")
NOTE = "finished while its worker died before recording it; outcome read from the broker"


def reconcile(min_age_seconds: float | None = None, limit: int = 5000) -> dict[str, int]:
    """Give dead workers' messages back, then settle records unchanged for `min_age_seconds`
    (default: twice the broker heartbeat timeout). Returns how many records were checked,
    completed and dead, and how many messages were `requeued`."""
    broker: Any = get_broker()  # a broker of `brokers/` (the queue operations of `brokers.operations`)
    requeued = broker.requeue_orphans().requeued
    if requeued:
        logger.warning("Gave %d unacknowledged messages of dead workers back to their queues", requeued)
    if min_age_seconds is None:
        min_age_seconds = max(2 * getattr(broker, "heartbeat_timeout", 0) / 1000, 60)
    get_buffer().flush(timeout=2.0)
    before = datetime.now(UTC) - timedelta(seconds=min_age_seconds)
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        rows = connection.execute(
            select(table.c.id, table.c.queue, table.c.state, table.c.seq, table.c.attempts, table.c.broker_ref)
            .where(and_(table.c.state.in_(UNSETTLED), table.c.updated_at < before, table.c.broker_ref.is_not(None)))
            .order_by(table.c.updated_at)
            .limit(limit)
        ).all()
    if not rows:
        return {"checked": 0, "completed": 0, "dead": 0, "requeued": requeued}
    try:
        places = broker.message_places([(row.queue, row.broker_ref) for row in rows])
    except BrokerOperationUnsupported:  # RabbitMQ, the in-memory broker: they cannot say where a message is
        return {"checked": 0, "completed": 0, "dead": 0, "requeued": requeued}
    outcome: dict[str, list[Any]] = {"completed": [], "dead": []}
    for row, place in zip(rows, places, strict=True):
        if place == DEAD:
            outcome["dead"].append(row)
        elif place is None:
            outcome["completed"].append(row)
    with get_engine().begin() as connection:
        for state, settled in outcome.items():
            for row in settled:
                # Only if nothing newer arrived meanwhile (the seq it was read with still stands).
                connection.execute(
                    update(table)
                    .where(and_(table.c.id == row.id, table.c.seq == row.seq))
                    .values(
                        state=state,
                        seq=jobstore.seq_for(state, max(row.attempts, 1)),
                        finished_at=datetime.now(UTC),
                        progress=100 if state == "completed" else table.c.progress,
                        error=table.c.error if state == "dead" else None,
                        result={"note": NOTE} if state == "completed" else table.c.result,
                    )
                )
    counts = {
        "checked": len(rows),
        "completed": len(outcome["completed"]),
        "dead": len(outcome["dead"]),
        "requeued": requeued,
    }
    if counts["completed"] or counts["dead"]:
        logger.warning("Job store reconciled: %s", counts)
    return counts
