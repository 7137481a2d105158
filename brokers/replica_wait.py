"""Sends that wait for Redis replicas (`WAIT numreplicas timeout`): REDIS_ENQUEUE_REPLICAS, REDIS_ENQUEUE_WAIT_MS.

Redis replicates asynchronously: a primary acknowledges an enqueue before any replica has it.
If the primary dies in the next few milliseconds and a replica is promoted, that message was
never anywhere else: the sender was told "sent" and the job never runs. `WAIT n t` after a
write blocks the writing connection until `n` replicas acknowledge everything it wrote, or `t`
ms pass, and returns how many did. Here each send of a new message (Dramatiq's `enqueue` of a
message that has no Redis id yet, for waiting and delayed messages, and `enqueue_many`) runs
with a `WAIT` on the same connection, in one pipeline round trip, so the acknowledgement
counted is that message's.

Moves of a message the broker already holds are not waited for: a due delayed message moved to
its queue by a worker's consumer thread, a retry's re-enqueue, a hold of the queue limits or of
an outage, a dead letter sent again. Each writes its new copy before it lets the old one go (an
acknowledgement, a removal), and a replica applies a primary's writes in order: a replica that
lost the new copy lost the release of the old one too, which then runs again; nothing vanishes.
So a worker never stalls on `WAIT` while a replica is away (a consumer thread with N due
messages would otherwise stop fetching for N times the wait).

It narrows the window, it does not close it: a replica that acknowledged may still not be the
one promoted, and when fewer than `n` replicas answer within `t` ms the send returns anyway
(the message is on the primary; a sender that retried would send it twice) and a warning is
logged, at most once a minute with the count of such sends (RELIABILITY.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

#: Seconds between two warnings about sends that replicas did not all acknowledge in time.
WARN_INTERVAL = 60.0


class ReplicatedScript:
    """A registered Lua script whose calls (those of `commands`, by first argument; all when None) wait for
    replicas, while `when()` says so (always when None)."""

    def __init__(
        self,
        script: Any,
        client: Any,
        replicas: int,
        timeout_ms: int,
        commands: Iterable[str] | None = None,
        when: Callable[[], bool] | None = None,
    ) -> None:
        self.script = script
        self.client = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.commands = None if commands is None else frozenset(commands)
        self.when = when
        #: Calls whose replicas did not all acknowledge in time (read by tests and the benchmark).
        self.short = 0
        self._warned_at = float("-inf")
        self._unwarned = 0
        self._lock = threading.Lock()

    def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        if self.commands is not None and (not args or str(args[0]) not in self.commands):
            return self.script(keys=keys, args=args, client=client)
        if self.when is not None and not self.when():
            return self.script(keys=keys, args=args, client=client)
        pipe = (client or self.client).pipeline(transaction=False)
        self.script(keys=keys, args=args, client=pipe)
        pipe.wait(self.replicas, self.timeout_ms)
        result, acknowledged = pipe.execute()
        if int(acknowledged) < self.replicas:
            self._short(int(acknowledged))
        return result

    def _short(self, acknowledged: int) -> None:
        """Count a send not acknowledged in time; warn at most once per WARN_INTERVAL, with the count since."""
        now = time.monotonic()
        with self._lock:
            self.short += 1
            self._unwarned += 1
            if now - self._warned_at < WARN_INTERVAL:
                return
            sends, self._unwarned, self._warned_at = self._unwarned, 0, now
        logger.warning(
            "Enqueue acknowledged by %d of %d Redis replicas within %d ms (REDIS_ENQUEUE_REPLICAS): "
            "a failover now could lose it (%d such send(s) since the last warning).",
            acknowledged,
            self.replicas,
            self.timeout_ms,
            sends,
        )


class _Sending(threading.local):
    """Whether this thread's enqueue is the send of a new message (it has no Redis id yet)."""

    new = False


def wait_for_replicas(broker: Any, replicas: int, timeout_ms: int) -> None:
    """Make `broker`'s (a `PriorityRedisBroker`'s) sends of new messages wait for `replicas` replicas,
    at most `timeout_ms` each."""
    if replicas <= 0:
        return
    sending = _Sending()
    enqueue = broker.enqueue

    def enqueue_new(message: Any, *, delay: int | None = None) -> Any:
        # Dramatiq gives a message its Redis id in `enqueue`: one that has an id already is a move.
        before, sending.new = sending.new, "redis_message_id" not in message.options
        try:
            return enqueue(message, delay=delay)
        finally:
            sending.new = before

    broker.enqueue = enqueue_new
    scripts = broker.scripts
    scripts["dispatch"] = ReplicatedScript(
        scripts["dispatch"], broker.client, replicas, timeout_ms, {"enqueue"}, when=lambda: sending.new
    )
    scripts["enqueue_many"] = ReplicatedScript(scripts["enqueue_many"], broker.client, replicas, timeout_ms)
