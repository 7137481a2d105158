"""The job of the scale-out test: records its message id once, with the host that ran it.

Workers load it beside the real actors: `dramatiq actors tests.chaos.scale_out_jobs`. The row
is keyed by the message id, so a redelivered message (at-least-once delivery after a host
dies) adds a run to the same row instead of a second row.
"""

from __future__ import annotations

import os
import time

from dramatiq.middleware import CurrentMessage
from sqlalchemy import text

from actors._base import job_actor
from core.payloads import JobPayload
from db.engine import get_engine

QUEUE = "scale-out"
TABLE = "scale_out_deliveries"
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    message_id text PRIMARY KEY,
    n integer NOT NULL,
    host text NOT NULL,
    runs integer NOT NULL DEFAULT 1,
    finished_at timestamptz NOT NULL DEFAULT now()
)
"""


class DeliveryRequest(JobPayload):
    n: int
    work_ms: int = 0


@job_actor(queue=QUEUE, payload=DeliveryRequest)
def record_delivery(request: DeliveryRequest) -> int:
    message = CurrentMessage.get_current_message()
    assert message is not None
    if request.work_ms:
        time.sleep(request.work_ms / 1000)
    with get_engine().begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {TABLE} (message_id, n, host) VALUES (:id, :n, :host)"
                f" ON CONFLICT (message_id) DO UPDATE SET runs = {TABLE}.runs + 1"
            ),
            {"id": message.message_id, "n": request.n, "host": os.environ.get("SCALE_OUT_HOST", "?")},
        )
    return request.n
