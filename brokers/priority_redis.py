"""Dramatiq's Redis broker with per-message priority: one Redis list per priority lane.

Dramatiq's Redis broker keeps a queue as one list, handed out first in, first out, and its
worker orders work only by actor priority. Here every message goes to the list of its
priority (`options["priority"]`, 1 = CRITICAL ... 10 = BACKGROUND; none = NORMAL, 5), and a
fetch takes from the most urgent non-empty lane first, in the same Lua call. NORMAL keeps
Dramatiq's own list name (`dramatiq:<queue>`), so producers that know nothing of lanes, and
every tool that reads that list, keep working; the other lanes are `dramatiq:<queue>|<n>`.
Messages put back (worker shutdown, dead workers' unacknowledged ones) return to their lane.

Dramatiq gives a dead worker's unacknowledged messages back only during "maintenance", which
runs on a random 0.1 % of broker commands and for the one queue a command names: a quiet
cluster can leave them stranded for many minutes. Here every process also runs maintenance
for each queue it touches at least every `maintenance_interval` seconds, so a killed worker's
messages return to their queue about `heartbeat_timeout` after it died.

The script is Dramatiq's own `dispatch.lua`, changed at load time in four places (enqueue,
fetch, requeue, purge); a Dramatiq version whose script does not match fails loudly here
rather than losing priorities quietly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dramatiq.brokers.redis as dramatiq_redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from brokers.signals import QuickSignals

LANES = 10
NORMAL = 5


class IncompatibleDramatiq(RuntimeError):
    """Raised when Dramatiq's Redis script no longer has the shape this broker changes."""


def lane_of(priority: Any) -> int:
    try:
        lane = int(priority)
    except (TypeError, ValueError):
        return NORMAL
    return min(max(lane, 1), LANES)


def lane_key(namespace: str, queue_name: str, lane: int) -> str:
    """The Redis list of a queue's lane (Dramatiq's own list for NORMAL)."""
    base = f"{namespace}:{queue_name}"
    return base if lane == NORMAL else f"{base}|{lane}"


_LANE_HELPERS = """
local function lane_list(lane)
    lane = tonumber(lane) or 5
    if lane < 1 then lane = 1 end
    if lane > 10 then lane = 10 end
    if lane == 5 then return queue_full_name end
    return queue_full_name .. "|" .. lane
end

local function lane_of_message(data)
    if not data then return 5 end
    local ok, decoded = pcall(cjson.decode, data)
    if ok and type(decoded) == "table" and type(decoded["options"]) == "table" then
        return tonumber(decoded["options"]["priority"]) or 5
    end
    return 5
end

"""

_PATCHES = (
    # Helpers, before the maintenance section that uses them.
    (
        "-- Every call to dispatch has some % chance to trigger maintenance on",
        _LANE_HELPERS + "-- Every call to dispatch has some % chance to trigger maintenance on",
    ),
    # Maintenance: a dead worker's unacknowledged messages go back to their lane.
    (
        """                if redis.call("hexists", queue_messages, message_id) > 0 then
                    redis.call("rpush", queue_full_name, message_id)
                end""",
        """                local data = redis.call("hget", queue_messages, message_id)
                if data then
                    redis.call("rpush", lane_list(lane_of_message(data)), message_id)
                end""",
    ),
    # Enqueue: the lane is the third argument.
    (
        """    redis.call("hset", queue_messages, message_id, message_data)
    redis.call("rpush", queue_full_name, message_id)""",
        """    redis.call("hset", queue_messages, message_id, message_data)
    redis.call("rpush", lane_list(ARGS[3]), message_id)""",
    ),
    # Fetch: the most urgent non-empty lane first.
    (
        """    local message_ids = {}
    for i=1,prefetch do
        local message_id = redis.call("lpop", queue_full_name)
        if not message_id then
            break
        end""",
        """    local message_ids = {}
    local lane = 1
    for i=1,prefetch do
        local message_id = false
        while lane <= 10 do
            message_id = redis.call("lpop", lane_list(lane))
            if message_id then break end
            lane = lane + 1
        end
        if not message_id then
            break
        end""",
    ),
    # Requeue on shutdown: back to the message's lane.
    (
        """            if redis.call("hexists", queue_messages, message_id) > 0 then
                redis.call("rpush", queue_full_name, message_id)
            end""",
        """            local data = redis.call("hget", queue_messages, message_id)
            if data then
                redis.call("rpush", lane_list(lane_of_message(data)), message_id)
            end""",
    ),
    # Purge: every lane.
    (
        """    redis.call("del", queue_full_name, queue_acks, queue_messages, xqueue_full_name, xqueue_messages)""",
        """    redis.call("del", queue_full_name, queue_acks, queue_messages, xqueue_full_name, xqueue_messages)
    for lane=1,10 do redis.call("del", lane_list(lane)) end""",
    ),
)


def patched_dispatch_script() -> str:
    script = (Path(dramatiq_redis.__file__).parent / "redis" / "dispatch.lua").read_text()
    for old, new in _PATCHES:
        if script.count(old) != 1:
            raise IncompatibleDramatiq(
                f"dramatiq's redis dispatch.lua no longer contains the part priority lanes change: {old.strip()[:60]!r}"
            )
        script = script.replace(old, new)
    return script


_SCRIPT = patched_dispatch_script()


class _PriorityConsumer(dramatiq_redis._RedisConsumer):
    """Dramatiq's Redis consumer, which looks again soon when its prefetch is full.

    Dramatiq's consumer treats "prefetch full" like "queue empty" and backs off up to its
    idle timeout (a second) before it looks again; an urgent message sent meanwhile waits
    that long in Redis while the worker runs the less urgent ones it holds. Here a full
    prefetch is checked every few milliseconds (no Redis call), so the urgent message is
    fetched as soon as a slot frees, and the worker's queue (ordered by priority) runs it next.
    """

    FULL_RECHECK_SECONDS = 0.005

    def __next__(self) -> Any:
        if not self.message_cache and self.outstanding_message_count >= self.prefetch:
            time.sleep(self.FULL_RECHECK_SECONDS)
            return None
        return super().__next__()


class PriorityRedisBroker(QuickSignals, RedisBroker):
    """`RedisBroker` whose queues hand out the most urgent message first."""

    def __init__(self, *args: Any, maintenance_interval: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scripts["dispatch"] = self.client.register_script(_SCRIPT)
        self._lane = threading.local()
        self.maintenance_interval = maintenance_interval
        self._queue = threading.local()
        self._maintained: dict[str, float] = {}

    @property
    def consumer_class(self) -> type[dramatiq_redis._RedisConsumer]:
        return _PriorityConsumer

    def _dispatch(self, command: str) -> Any:
        upstream = super()._dispatch(command)

        def do_dispatch(queue_name: str, *args: Any) -> Any:
            self._queue.name = queue_name
            return upstream(queue_name, *args)

        return do_dispatch

    def _should_do_maintenance(self, command: str) -> int:
        if command in dramatiq_redis.MAINTENANCE_COMMAND_BLACKLIST:
            return 0
        queue_name = getattr(self._queue, "name", None)
        now = time.monotonic()
        if queue_name is not None and now >= self._maintained.get(queue_name, 0.0) + self.maintenance_interval:
            self._maintained[queue_name] = now
            return 1
        return int(super()._should_do_maintenance(command))

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:  # type: ignore[type-arg]
        self._lane.value = lane_of(message.options.get("priority"))
        try:
            return super().enqueue(message, delay=delay)
        finally:
            self._lane.value = NORMAL

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:
        lane = getattr(self._lane, "value", NORMAL)
        return self._dispatch("enqueue")(queue_name, message_id, data, lane)

    def enqueue_many(self, messages: list[Message], batch: int = 1000) -> list[Message]:  # type: ignore[type-arg]
        """Enqueue `messages` (not delayed) with one pipelined round trip per `batch`.

        Each message passes the same middleware as `enqueue` (before and after), and goes to
        the lane of its priority through the same script.
        """
        script = self.scripts["dispatch"]
        sent: list[Message] = []  # type: ignore[type-arg]
        for start in range(0, len(messages), batch):
            pipe = self.client.pipeline(transaction=False)
            chunk = []
            for original in messages[start : start + batch]:
                # A new message's id is already a fresh UUID: it serves as its Redis id too
                # (Dramatiq makes a new one for every later enqueue: retries, holds, requeues).
                message = original.copy(options={"redis_message_id": original.message_id})
                self.emit_before("enqueue", message, None)
                args = [
                    "enqueue",
                    int(time.time() * 1000),
                    message.queue_name,
                    self.broker_id,
                    self.heartbeat_timeout,
                    self.dead_message_ttl,
                    0,
                    self._max_unpack_size(),
                    message.options["redis_message_id"],
                    message.encode(),
                    lane_of(message.options.get("priority")),
                ]
                script(keys=[self.namespace], args=args, client=pipe)
                chunk.append(message)
            pipe.execute()
            for message in chunk:
                self.emit_after("enqueue", message, None)
            sent.extend(chunk)
        return sent

    def lane_lengths(self, queue_name: str) -> dict[int, int]:
        """Messages waiting per lane of a queue (not counting delayed ones)."""
        pipe = self.client.pipeline(transaction=False)
        for lane in range(1, LANES + 1):
            pipe.llen(lane_key(self.namespace, queue_name, lane))
        return dict(zip(range(1, LANES + 1), pipe.execute(), strict=True))
