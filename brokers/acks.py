"""Acknowledgements sent in batches: one Redis call for every job that finished meanwhile.

Dramatiq's worker thread acknowledges each job with its own script call as it finishes: a
round trip per job, and under load the largest share of a worker's CPU (command packing,
the socket, and the threads queueing for the interpreter around them). Here a finished
job's acknowledgement is handed to one thread per process, which takes every
acknowledgement waiting and removes them all with one script call: one at a time when jobs
are rare (no added wait), hundreds per call under load.

The acknowledgement is what lets Redis forget a message; until the batch is written the
message stays in the worker's ack set, so a worker killed in between gives it back like any
message it held (the job runs again: jobs are idempotent), and nothing is lost. A batch that
fails on a connection error is tried again every second until Redis answers, as Dramatiq's
worker does with one acknowledgement. A consumer's `close()` waits for the batches queued so
far (worker shutdown), so a graceful stop leaves nothing unacknowledged; the broker's `close()`
stops and joins the thread.

The same thread keeps alive the heartbeat of connection ids the broker retired after losing
Redis while jobs fetched under them are still in hand (`held_ids`): a job in hand is never
given back to run twice while its worker lives. Once they are done, the id's heartbeat goes
stale and maintenance gives back what it still holds (messages the outage dropped).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import redis

logger = logging.getLogger(__name__)

#: The most message ids in one script call (Lua's `unpack` takes a few thousand at most).
MAX_BATCH = 500
#: Seconds between tries of a batch Redis did not take.
RETRY_DELAY = 1.0
#: Tells the thread to stop (queued by `close()` after every acknowledgement before it).
_STOP = ("", "", "")

# KEYS: heartbeats, the ack set, the message hash; ARGV: timestamp, worker id, message ids.
# The same as Dramatiq's "ack" for each id (remove it from the ack set, then its body), with
# the heartbeat Dramatiq's script refreshes on every call; not for a retired connection id
# (timestamp ""), whose heartbeat must go stale so its leftovers return to their queues.
ACK_MANY = """
if ARGV[1] ~= "" then
    redis.call("zadd", KEYS[1], ARGV[1], ARGV[2])
end
local removed = {}
for i = 3, #ARGV do
    if redis.call("srem", KEYS[2], ARGV[i]) > 0 then
        removed[#removed + 1] = ARGV[i]
    end
end
if #removed > 0 then
    redis.call("hdel", KEYS[3], unpack(removed))
end
return #removed
"""


class AckBatcher:
    """Acknowledges messages from one thread, in batches (one per process and broker)."""

    def __init__(
        self,
        client: Any,
        namespace: str,
        current_id: Callable[[], str],
        *,
        held_ids: Callable[[], Collection[str]] = tuple,
        keepalive_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.current_id = current_id
        self.held_ids = held_ids
        self.keepalive_interval = keepalive_interval
        self._kept_alive = 0.0
        self._script = client.register_script(ACK_MANY)
        self._pending: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.acknowledged = 0
        #: True while a batch waits for Redis to answer again.
        self.failing = False

    def ack(self, queue_name: str, broker_id: str, redis_message_id: str) -> None:
        """Queue the acknowledgement of a message fetched under `broker_id` from `queue_name`."""
        if self._thread is None:
            self.start()
        self._pending.put((queue_name, broker_id, redis_message_id))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every acknowledgement queued so far is written; False if `timeout` ran out,
        or at once while Redis refuses them (a worker's consumers all close on shutdown: with
        Redis away, only the first waits)."""
        deadline = time.monotonic() + timeout
        with self._pending.all_tasks_done:
            while self._pending.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.failing:
                    return False
                self._pending.all_tasks_done.wait(min(remaining, RETRY_DELAY))
        return True

    def start(self) -> None:
        """Start the thread (once; `ack()` does it, and the broker when it retires a connection id)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="adjobs-acks", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to `timeout`), then stop and join the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._pending.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():  # a batch still waits for Redis: it keeps trying until the process exits
            logger.warning("Acknowledgements not written within %.0f s of closing the broker (Redis away?).", timeout)

    def _run(self) -> None:
        while True:
            try:
                first = self._pending.get(timeout=self.keepalive_interval)
            except queue.Empty:
                self._keep_alive()
                continue
            batch = [first]
            while len(batch) < MAX_BATCH and batch[-1] is not _STOP:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP
            self._write([item for item in batch if item is not _STOP])
            for _ in batch:
                self._pending.task_done()
            if stop:
                return
            if time.monotonic() >= self._kept_alive + self.keepalive_interval:
                self._keep_alive()

    def _keep_alive(self) -> None:
        """Heartbeat the retired connection ids that still hold jobs in hand."""
        self._kept_alive = time.monotonic()
        held = list(self.held_ids())
        if not held:
            return
        stamp = int(time.time() * 1000)
        try:
            self.client.zadd(f"{self.namespace}:__heartbeats__", dict.fromkeys(held, stamp))
        except redis.RedisError as error:  # Redis away: tried again next interval
            logger.debug("Heartbeat of retired connection ids %s failed: %s", held, error)

    def _write(self, batch: list[tuple[str, str, str]]) -> None:
        if not batch:
            return
        groups: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for queue_name, broker_id, redis_message_id in batch:
            groups[queue_name, broker_id].append(redis_message_id)
        for (queue_name, broker_id), ids in groups.items():
            keys = [
                f"{self.namespace}:__heartbeats__",
                f"{self.namespace}:__acks__.{broker_id}.{queue_name}",
                f"{self.namespace}:{queue_name}.msgs",
            ]
            while True:
                try:
                    stamp = int(time.time() * 1000) if broker_id == self.current_id() else ""
                    self._script(keys=keys, args=[stamp, broker_id, *ids])
                    self.failing = False
                    break
                except (redis.ConnectionError, redis.TimeoutError) as error:  # a lost host times out
                    self.failing = True
                    logger.warning(
                        "Acknowledging %d message(s) of queue %s failed (%s); trying again in %.0f s. "
                        "A worker stopped before this succeeds gives them back to run again.",
                        len(ids),
                        queue_name,
                        error,
                        RETRY_DELAY,
                    )
                    time.sleep(RETRY_DELAY)
                except Exception:
                    self.failing = False  # Redis answered: not an outage, and this batch is given up
                    logger.exception(
                        "Acknowledging %d message(s) of queue %s failed; they run again once this worker stops.",
                        len(ids),
                        queue_name,
                    )
                    break
        self.batches += 1
        self.acknowledged += len(batch)
