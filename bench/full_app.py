"""Our full stack (every middleware, the job store) with a no-op job on queue `bench`."""

from __future__ import annotations

import actors  # noqa: F401  (wires the broker and registers every actor)
from actors._base import JobPayload, job_actor


class NoopRequest(JobPayload):
    n: int


@job_actor(queue="bench", payload=NoopRequest)
def noop(request: NoopRequest) -> None:
    return None
