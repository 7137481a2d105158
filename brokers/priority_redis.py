"""Dramatiq's Redis broker with per-message priority: one Redis list per priority lane.

Dramatiq's Redis broker keeps a queue as one list, handed out first in, first out, and its
worker orders work only by actor priority. Here every message goes to the list of its
priority (`options["priority"]`, 1 = CRITICAL ... 10 = BACKGROUND; none = NORMAL, 5), and a
fetch takes from the most urgent non-empty lane first, in the same Lua call. NORMAL keeps
Dramatiq's own list name (`dramatiq:<queue>`), so producers that know nothing of lanes, and
every tool that reads that list, keep working; the other lanes are `dramatiq:<queue>|<n>`.
Messages put back (worker shutdown, dead workers' unacknowledged ones) return to their lane.

Redis going away under a live worker: Dramatiq's consumer restarts, dropping the messages it
had fetched but not handed out, and the worker's in-memory delay queue. They stay in the
process's ack set, and since the process lives on and keeps its heartbeat fresh, nobody ever
gives them back. Here the first connection error makes the process take a new connection id
(`broker_id`); messages are acknowledged under the id they were fetched with, so the jobs in
hand finish normally. A job in hand (running, or waiting in the worker's work queue) is never
given back while its worker lives: the process keeps heartbeating a retired id as long as it
holds such a job (`AckBatcher`'s keep-alive), and only then lets that id's heartbeat go stale,
so `heartbeat_timeout` later maintenance gives back what the old id still holds: the dropped
messages. (A worker cut off from Redis for longer than `heartbeat_timeout` is dead to the
others, as with Dramatiq: its jobs run again elsewhere.)

Two guards Dramatiq's broker lacks: `send()` refuses a message larger than
`max_message_bytes` (MAX_PAYLOAD_BYTES) with `MessageTooLarge`, before anything reaches Redis;
and a message that is not a readable Dramatiq message, or not one a worker can run and
acknowledge (`message_checks`: a `queue_name` other than its queue, no or another
`redis_message_id`, malformed `options` ...), goes to the queue's dead letters with its
reason, before any worker thread sees it; the broker then sends the signal `refuse_message`
(`after_refuse_message(broker, queue_name, redis_id, data, message, reason, label)`), which
the job-store middleware turns into a `dead` record. Dramatiq's consumer would raise and
restart, kill the worker thread, or run the job and fail to acknowledge it, so it ran again
after every restart. The fetch returns each message's
Redis id beside its bytes, so such a message is dead-lettered under the id it really has.

Dramatiq gives a dead worker's unacknowledged messages back only during "maintenance", which
runs on a random 0.1 % of broker commands and for the one queue a command names: a quiet
cluster can leave them stranded for many minutes. Here every process also runs maintenance
for each queue it touches at least every `maintenance_interval` seconds, so a killed worker's
messages return to their queue about `heartbeat_timeout` after it died; `orphaned_messages()`
lists them meanwhile and `requeue_orphans()` runs that maintenance at once for each queue
holding some (`redis_operations`).

The script is our own `brokers/dispatch.lua`, forked from Dramatiq 2.2.1's (enqueue, fetch,
which also returns the Redis ids, requeue, maintenance and purge know the lanes; each change
is marked in the file), read when a broker is made. `brokers/dramatiq_fork.py` records the
upstream script's sha256 and the private Dramatiq internals used here, and a test fails when
the installed Dramatiq differs, so `dramatiq` is pinned to 2.2.x. Per-message priority on
Redis is an open request upstream: dramatiq#412, #424, #508 and #553.

The job store's event of a message rides its enqueue: a middleware that keeps the store
(`middleware.job_store`) hands the broker the event's head in `before_enqueue`
(`attach_store_event`), and the enqueue script pushes head and message onto the store's event
list (`redis_keys.store_events_key`) in the same call, so a sending process never talks to the
database and a message never waits on a queue without its event. The store's writers move
that list into the database (`runtime.store_buffer`); the broker knows only the list's key.

Tenants: a message may name a tenant (`options["tenant"]`, `core.tenants`: the publisher of an
export, ...). Within a queue's lane, each tenant's messages wait on a list of their own, and a fetch
takes them in turn, one per tenant with messages waiting (a ring of tenants; dispatch.lua's adjobs
change 8), so one tenant's backlog of a thousand jobs delays another tenant's first job by one
turn, not by the backlog. Messages without a tenant are the shared tenant's, on the lane's own
list: a queue whose messages name no tenant is fetched exactly as before. Delayed messages wait
on plain lanes and join their tenant's list when due; requeues and maintenance put a message back
on its tenant's list. `tenant_backlog(queue)` counts what each tenant has waiting.

Rolling upgrades: NORMAL keeps Dramatiq's own list, so a stock Dramatiq worker (or one of an
older release of ours, with the text-patched script) reads NORMAL messages; messages of other
priorities sit in lanes only our workers read until one runs (README, "Rolling upgrades").
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import dramatiq.brokers.redis as dramatiq_redis
import redis
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import compute_backoff, current_millis, dq_name
from dramatiq.errors import ConnectionClosed, DecodeError

from brokers.acks import AckBatcher
from brokers.dramatiq_fork import load_dispatch_script
from brokers.message_checks import delivery_problem, shape_problem
from brokers.redis_keys import lane_key, store_events_key, tenant_key, tenant_ring_key
from brokers.redis_operations import RedisOperations
from brokers.retry_fit import fit_retry
from brokers.signals import QuickSignals
from brokers.tenant_lists import PUSH_IN_TURN
from brokers.wakeups import Wakeups, wake_channel
from core.lanes import LANES, NORMAL, lane_of
from core.tenants import SHARED, tenant_of
from errors import InvalidInput

logger = logging.getLogger(__name__)

#: Default for `max_message_bytes`: 1 MiB.
MAX_MESSAGE_BYTES = 1_048_576
#: Seconds a closing consumer waits for the process's queued acknowledgements.
ACK_FLUSH_TIMEOUT = 10.0
#: Default for `store_events_cap`: the most job-store events waiting in Redis for a writer (STORE_EVENTS_MAX).
STORE_EVENTS_CAP = 1_000_000
#: Most seconds between heartbeats of a retired connection id whose jobs are still in hand.
KEEPALIVE_INTERVAL = 1.0


class _ThreadState(threading.local):
    """Per-thread state of the broker, with class defaults: a thread that never set a field reads
    the default without the AttributeError a plain `threading.local` raises inside `getattr(..., default)`
    (several times per send and per job)."""

    #: `_acting`, `_fetching`: a connection id; `_forced`: maintenance forced; `_queue`: the queue named last.
    value: Any = None
    name: str | None = None


class _LaneState(threading.local):
    """The lane, actor and tenant of the message this thread is enqueueing (see `enqueue`)."""

    value: int = NORMAL
    actor: str = "?"
    tenant: str = SHARED


class _StoreEventState(threading.local):
    """The job store's event head attached to this thread's enqueue, and whether it was pushed."""

    value: tuple[str, bytes] | None = None
    pushed: str | None = None


class FetchedMessage(MessageProxy):
    """The proxy a consumer hands the worker: the message's fields (options, message_id, ...) are
    its own attributes, so the twenty middleware reading them a few dozen times per job read them
    directly instead of through `MessageProxy.__getattr__` each time. `fetched_by` is the connection
    id the message was fetched under."""

    def __init__(self, message: Message[Any], fetched_by: str) -> None:
        super().__init__(message)
        self.__dict__.update(vars(message))  # a frozen dataclass: the fields never change
        self._fetched_by = fetched_by


class MessageTooLarge(InvalidInput):
    """Raised by `send()` when a message's encoded size is over the broker's limit."""

    def __init__(self, actor_name: str, size: int, limit: int) -> None:
        super().__init__(
            f"{actor_name}: message is {size:,} bytes encoded, over the limit of {limit:,} bytes (MAX_PAYLOAD_BYTES)"
        )
        self.actor_name = actor_name
        self.size = size
        self.limit = limit


# Many messages in one call, each as dispatch.lua's "enqueue" command stores it: the body in
# the queue's hash, the id on its lane's (and tenant's) list, a wake-up when that list was empty,
# and the job store's event when it has one, while its list is under the cap (past it, counted in
# "<list>.dropped" as dispatch.lua's "enqueue" does). KEYS: the namespace, the wake-up channel, the
# store's event list; ARGV: (queue name, message id, body, lane, store event head or "", tenant or "")
# for each message, the lane already a whole number 1..10 (`lane_of`), then the list's cap.
ENQUEUE_MANY = (
    PUSH_IN_TURN
    + """
local namespace = KEYS[1]
local wake_channel = KEYS[2]
local room = tonumber(ARGV[#ARGV]) - redis.call("llen", KEYS[3])
for i = 1, #ARGV - 1, 6 do
    local queue_full_name = namespace .. ":" .. ARGV[i]
    redis.call("hset", queue_full_name .. ".msgs", ARGV[i + 1], ARGV[i + 2])
    local lane = tonumber(ARGV[i + 3]) or 5
    if push_in_turn(namespace, ARGV[i], lane, ARGV[i + 5], ARGV[i + 1]) == 1 then
        redis.call("publish", wake_channel, ARGV[i])
    end
    if ARGV[i + 4] ~= "" then
        if room > 0 then
            redis.call("rpush", KEYS[3], ARGV[i + 4] .. ARGV[i + 2])
            room = room - 1
        else
            redis.call("incr", KEYS[3] .. ".dropped")
        end
    end
end
return (#ARGV - 1) / 6
"""
)


class _PriorityConsumer(dramatiq_redis._RedisConsumer):
    """Dramatiq's Redis consumer, which looks again soon when its prefetch is full.

    Dramatiq's consumer treats "prefetch full" like "queue empty" and backs off up to its
    idle timeout (a second) before it looks again; an urgent message sent meanwhile waits
    that long in Redis while the worker runs the less urgent ones it holds. Here a full
    prefetch is checked every few milliseconds (no Redis call), so the urgent message is
    fetched as soon as a slot frees, and the worker's queue (ordered by priority) runs it next.
    Sooner still: a message pushed into an empty lane publishes a wake-up (`wakeups`), and a
    full consumer woken so fetches one message beyond its prefetch, the most urgent waiting.
    """

    FULL_RECHECK_SECONDS = 0.005

    def __next__(self) -> Any:
        """Dramatiq's `_RedisConsumer.__next__`, with three changes: a full prefetch is
        re-checked every few milliseconds and takes one more message when a lane of the queue
        turns non-empty, an idle wait ends when a job arrives (both through `wakeups`), and
        unreadable or malformed messages go to the dead letters instead of reaching a worker thread."""
        broker = self.broker
        room = self.prefetch - self.outstanding_message_count
        if not self.message_cache and room <= 0:
            wake = broker.wakeups.event(self.queue_name)
            if not wake.wait(self.FULL_RECHECK_SECONDS):
                return None
            # A push made one of the queue's lanes non-empty (most often an urgent job into its
            # empty lane) while the prefetch is full: one more, the most urgent waiting, so
            # the worker's queue (ordered by priority) can run it next.
            room = 1
        try:
            while True:
                if self.message_cache:
                    redis_id, data = self.message_cache.pop(0)
                    if data is None:
                        continue
                    self.misses = 0
                    try:
                        message = Message.decode(data)
                    except DecodeError as error:
                        self._dead_letter(
                            redis_id, data, None, f"unreadable message (not a Dramatiq message: {error.error})"
                        )
                        continue
                    problem = shape_problem(message)
                    if problem is not None:  # its fields cannot be trusted to describe it
                        self._dead_letter(redis_id, data, None, f"malformed message ({problem})", "(malformed)")
                        continue
                    problem = delivery_problem(message, self.queue_name, redis_id)
                    if problem is not None:
                        self._dead_letter(redis_id, data, message, f"malformed message ({problem})")
                        continue
                    self.queued_message_ids.add(message.message_id)
                    fetched_by = broker.fetched_by()  # the id this thread's last fetch ran under
                    proxy = FetchedMessage(message, fetched_by)
                    if message.options.get("eta") is None:  # for the work queue (not the delay queue): in hand
                        broker.hold(fetched_by, redis_id)
                    return proxy
                if room <= 0:
                    return None
                wake = broker.wakeups.event(self.queue_name)
                wake.clear()  # before the fetch: a job pushed after it sets the event again
                fetched = broker.do_fetch(self.queue_name, room)
                room = 0
                if fetched:
                    ids, bodies = fetched
                    self.message_cache = [(_text(redis_id), body) for redis_id, body in zip(ids, bodies, strict=True)]
                    continue
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                wake.wait(backoff_ms / 1000)
                return None
        except (redis.ConnectionError, redis.TimeoutError) as error:  # a lost host times out
            broker.connection_lost()
            raise ConnectionClosed(error) from None

    def ack(self, message: Any) -> None:
        """Hand the acknowledgement to the process's batcher (`brokers/acks.py`), under the
        connection id the message was fetched with (the current one, unless Redis went away)."""
        broker = self.broker
        self.queued_message_ids.discard(message.message_id)
        fetched_by = getattr(message, "_fetched_by", None) or broker._current_id
        redis_id = message.options["redis_message_id"]
        broker.acks.ack(self.queue_name, fetched_by, redis_id)
        broker.release(fetched_by, redis_id)

    def close(self) -> None:
        """Wait for the acknowledgements queued so far (a worker stopping leaves none unwritten)."""
        if not self.broker.acks.flush(timeout=ACK_FLUSH_TIMEOUT):
            logger.warning(
                "Queue %s: acknowledgements not written within %.0f s (Redis away?); "
                "those jobs run again once this worker's heartbeat is stale.",
                self.queue_name,
                ACK_FLUSH_TIMEOUT,
            )
        super().close()

    def nack(self, message: Any) -> None:
        fetched_by = getattr(message, "_fetched_by", None)
        with self.broker.acting_as(fetched_by):
            super().nack(message)
        self.broker.release(fetched_by, message.options["redis_message_id"])

    def requeue(self, messages: Any) -> None:
        """Give messages back to their lanes. Redis away raises `ConnectionClosed`, which Dramatiq's
        consumer thread expects from a close (any other error ends that thread for good, leaving the
        queue unread); the messages stay in their fetching id's ack set and come back through it."""
        by_id: dict[str | None, list[Any]] = defaultdict(list)
        for message in messages:
            by_id[getattr(message, "_fetched_by", None)].append(message)
        try:
            for fetched_by, group in by_id.items():
                with self.broker.acting_as(fetched_by):
                    super().requeue(group)
                for message in group:
                    self.broker.release(fetched_by, message.options["redis_message_id"])
        except (redis.ConnectionError, redis.TimeoutError) as error:
            self.broker.connection_lost()
            raise ConnectionClosed(error) from None

    def _dead_letter(
        self, redis_id: str, data: bytes, message: Message[Any] | None, problem: str, label: str = "(unreadable)"
    ) -> None:
        """Move a message no worker thread may see to the dead letters, with its reason, and signal
        `refuse_message` (the job store records it).

        `message` is the decoded message when its fields can be trusted to describe the record
        (only its queue or Redis id is wrong), else None (unreadable bytes or malformed fields:
        the record is filed under its Redis id, with `label` as its actor)."""
        broker = self.broker
        reason = f"{problem}; moved to the dead letters"
        with broker.acting_as(broker.fetched_by()):  # the id the fetch ran under holds it in its ack set
            broker.do_nack(self.queue_name, redis_id)
        logger.error("Queue %s: message %r is %s.", self.queue_name, redis_id, reason)
        broker.emit_after("refuse_message", self.queue_name, redis_id, data, message, reason, label)


class PriorityRedisBroker(RedisOperations, QuickSignals, RedisBroker):
    """`RedisBroker` whose queues hand out the most urgent message first."""

    def __init__(
        self,
        *args: Any,
        maintenance_interval: float = 10.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        **kwargs: Any,
    ) -> None:
        self._acting = _ThreadState()
        self._fetching = _ThreadState()
        self._forced = _ThreadState()
        self._id_lock = threading.Lock()
        self._connected = True
        self._consumed = False  # set by the first fetch: this process holds messages under its connection id
        super().__init__(*args, **kwargs)
        self.max_message_bytes = max_message_bytes
        self.scripts["dispatch"] = self.client.register_script(load_dispatch_script())
        self.scripts["enqueue_many"] = self.client.register_script(ENQUEUE_MANY)
        self._lane = _LaneState()
        #: The job store's event head for the message this thread is enqueueing: (redis id, head).
        self._store_event = _StoreEventState()
        self.store_events_key = store_events_key(self.namespace)
        #: Most store events the list holds; past it an enqueue drops its event and counts it (`wiring.broker` sets it).
        self.store_events_cap = STORE_EVENTS_CAP
        self._namespace_keys = [self.namespace]
        self.maintenance_interval = maintenance_interval
        self._queue = _ThreadState()
        self._maintained: dict[str, float] = {}
        #: Redis ids of the messages in hand (handed to the worker, not yet acked), by fetching id.
        self._in_hand: defaultdict[str, set[str]] = defaultdict(set)
        self._in_hand_lock = threading.Lock()
        self.wakeups = Wakeups(self.client, wake_channel(self.namespace, self.client))
        self.acks = AckBatcher(
            self.client,
            self.namespace,
            lambda: self._current_id,
            held_ids=self.retired_ids_in_hand,
            keepalive_interval=min(KEEPALIVE_INTERVAL, self.heartbeat_timeout / 4000),
        )

    @property
    def consumer_class(self) -> type[dramatiq_redis._RedisConsumer]:
        return _PriorityConsumer

    # Connection ids ---------------------------------------------------------------------

    @property  # type: ignore[override]
    def broker_id(self) -> str:
        """The id Redis commands run under: this thread's `acting_as` id, else the current one."""
        return getattr(self._acting, "value", None) or self._current_id

    @broker_id.setter
    def broker_id(self, value: str) -> None:
        self._current_id = value

    @contextmanager
    def acting_as(self, broker_id: str | None) -> Iterator[None]:
        """Run commands under `broker_id` (the id a message was fetched with) in this thread."""
        if broker_id is None or broker_id == self._current_id:
            yield
            return
        self._acting.value = broker_id
        try:
            yield
        finally:
            self._acting.value = None

    def fetched_by(self) -> str:
        return getattr(self._fetching, "value", None) or self._current_id

    def hold(self, broker_id: str, redis_id: str) -> None:
        """Note a message handed to the worker under `broker_id`, in hand until acked, nacked or requeued."""
        with self._in_hand_lock:
            self._in_hand[broker_id].add(redis_id)

    def release(self, broker_id: str | None, redis_id: str) -> None:
        with self._in_hand_lock:
            held = self._in_hand.get(broker_id or self._current_id)
            if held is not None:
                held.discard(redis_id)
                if not held:
                    del self._in_hand[broker_id or self._current_id]

    def retired_ids_in_hand(self) -> list[str]:
        """Connection ids retired by an outage that still hold jobs in hand: their heartbeat is kept."""
        with self._in_hand_lock:
            return [broker_id for broker_id, held in self._in_hand.items() if held and broker_id != self._current_id]

    def close(self) -> None:
        """Stop this broker's threads: acknowledgements written (or given up after a while), the
        acknowledging thread joined, the wake-up subscription closed and its thread joined.
        Using the broker again starts them again."""
        self.acks.close(timeout=ACK_FLUSH_TIMEOUT)
        self.wakeups.close()
        super().close()

    def do_fetch(self, queue_name: str, prefetch: int) -> Any:
        self._fetching.value = self._current_id
        self._consumed = True
        messages = self._dispatch("fetch")(queue_name, prefetch)
        self._connected = True
        return messages

    def connection_lost(self) -> None:
        """Take a new connection id once per outage (see the module's notes)."""
        with self._id_lock:
            if not self._connected:
                return
            self._connected = False
            old, self._current_id = self._current_id, str(uuid.uuid4())
        self.acks.start()  # its keep-alive heartbeats `old` while jobs fetched under it are in hand
        # Only a process that fetched has messages under the old id; a sender (`jobsctl send`, a service)
        # has none, and its own error already says Redis is away: the id change is no news to its user.
        logger.log(
            logging.WARNING if self._consumed else logging.DEBUG,
            "Redis connection lost: new connection id %s; messages fetched as %s that no job holds "
            "go back to their queues once its heartbeat is %d s old.",
            self._current_id,
            old,
            self.heartbeat_timeout // 1000,
        )

    def _dispatch(self, command: str) -> Any:
        upstream = super()._dispatch(command)

        def do_dispatch(queue_name: str, *args: Any) -> Any:
            self._queue.name = queue_name
            return upstream(queue_name, *args)

        return do_dispatch

    def _should_do_maintenance(self, command: str) -> int:
        if command in dramatiq_redis.MAINTENANCE_COMMAND_BLACKLIST:
            return 0
        if getattr(self._forced, "value", False):
            return 1
        queue_name = getattr(self._queue, "name", None)
        now = time.monotonic()
        if queue_name is not None and now >= self._maintained.get(queue_name, 0.0) + self.maintenance_interval:
            self._maintained[queue_name] = now
            return 1
        # Dramatiq's chance (`maintenance_chance` in MAINTENANCE_SCALE), drawn without `randint`'s cost.
        return int(random.random() * dramatiq_redis.MAINTENANCE_SCALE < self.maintenance_chance)

    def _maintain(self, queue: str) -> None:
        """Run dispatch.lua's maintenance for `queue` now (with its read-only `qsize` command): dead
        connections' unacknowledged messages back to their lanes, expired dead letters dropped."""
        self._forced.value = True
        try:
            self._dispatch("qsize")(queue)
        finally:
            self._forced.value = False

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:  # type: ignore[type-arg]
        message = with_lane_priority(message)
        self._lane.value = lane_of(message.options.get("priority"))
        self._lane.actor = message.actor_name
        self._lane.tenant = tenant_of(message.options)
        try:
            return self._enqueue_one(message, delay)
        except (redis.ConnectionError, redis.TimeoutError):
            # In a worker this may be a due delayed message Dramatiq's consumer thread now drops:
            # what this process fetched so far must come back through the stale id.
            self.connection_lost()
            raise
        finally:
            self._lane.value = NORMAL
            self._lane.tenant = SHARED
            self._store_event.value = self._store_event.pushed = None

    def _enqueue_one(self, message: Message[Any], delay: int | None) -> Message[Any]:
        """Dramatiq's `RedisBroker.enqueue`: the message with a new Redis id (and, delayed, on the
        queue's delay queue with its `eta`), the signals around `do_enqueue`; copied and encoded
        without `dataclasses` walking its fields (`_copied`, `_encoded`), a few microseconds a send."""
        queue_name = message.queue_name
        options = {**message.options, "redis_message_id": str(uuid.uuid4())}
        if delay is not None:
            queue_name = dq_name(queue_name)
            options["eta"] = current_millis() + delay
        message = _copied(message, queue_name=queue_name, options=options)
        self.logger.debug("Enqueueing message %r on queue %r.", message.message_id, queue_name)
        self.emit_before("enqueue", message, delay)
        self.do_enqueue(queue_name, options["redis_message_id"], _encoded(message))
        self.emit_after("enqueue", message, delay)
        return message

    def attach_store_event(self, redis_id: str, head: bytes) -> None:
        """Push `head` followed by the message's bytes onto the store's event list, in the same
        script call as the enqueue of the message whose Redis id is `redis_id` (called from a
        `before_enqueue` hook; an enqueue that does not happen drops it, and so does a move that
        does not go through `do_enqueue` or `enqueue_many`: `store_event_pushed` says which)."""
        self._store_event.value = (redis_id, head)

    def store_event_pushed(self, redis_id: str | None) -> bool:
        """Whether this thread's enqueue of the message whose Redis id is `redis_id` pushed its store
        event (asked from `after_enqueue`)."""
        return redis_id is not None and getattr(self._store_event, "pushed", None) == redis_id

    def _take_store_event(self, redis_id: str) -> bytes:
        attached = getattr(self._store_event, "value", None)
        self._store_event.value = None
        return attached[1] if attached is not None and attached[0] == redis_id else b""

    def _check_size(self, actor_name: str, data: bytes) -> None:
        if len(data) > self.max_message_bytes:
            raise MessageTooLarge(actor_name, len(data), self.max_message_bytes)

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:
        data = fit_retry(data, self.max_message_bytes)  # a retry's traceback trimmed to fit (brokers/retry_fit.py)
        self._check_size(getattr(self._lane, "actor", "?"), data)
        lane = getattr(self._lane, "value", NORMAL)
        head = self._take_store_event(message_id)
        self._store_event.pushed = None
        # dispatch.lua's "enqueue", called as `_dispatch` would (the same arguments), without its two
        # closures per call: a send is one round trip, and this is most of the Python around it.
        self._queue.name = queue_name
        args = [
            "enqueue",
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            self._should_do_maintenance("enqueue"),
            self._max_unpack_size(),
            message_id,
            data,
            lane,
            self.wakeups.channel,
        ]
        tenant = getattr(self._lane, "tenant", SHARED)
        if head:
            args += (head, self.store_events_key, tenant, self.store_events_cap)
        elif tenant:
            args += (head, self.store_events_key, tenant)
        sent = self.scripts["dispatch"](args=args, keys=self._namespace_keys)
        self._store_event.pushed = message_id if head else None
        return sent

    def enqueue_many(self, messages: list[Message], batch: int = 1000) -> list[Message]:  # type: ignore[type-arg]
        """Enqueue `messages` (not delayed) with one script call per `batch`.

        Each message passes the same middleware as `enqueue` (before and after) and goes to
        the lane of its priority, as `enqueue` would put it there (`ENQUEUE_MANY`).
        """
        script = self.scripts["enqueue_many"]
        prepared = []
        for original in messages:
            # A new message's id is already a fresh UUID: it serves as its Redis id too
            # (Dramatiq makes a new one for every later enqueue: retries, holds, requeues).
            message = with_lane_priority(original).copy(options={"redis_message_id": original.message_id})
            try:
                self.emit_before("enqueue", message, None)
                head = self._take_store_event(message.message_id)
            finally:
                self._store_event.value = None
            data = message.encode()
            self._check_size(message.actor_name, data)  # all or nothing: refused before any is sent
            prepared.append((message, data, head))
        sent: list[Message] = []  # type: ignore[type-arg]
        for start in range(0, len(prepared), batch):
            chunk = prepared[start : start + batch]
            args: list[Any] = []
            for message, data, head in chunk:
                lane = lane_of(message.options.get("priority"))
                args += (message.queue_name, message.message_id, data, lane, head, tenant_of(message.options))
            args.append(self.store_events_cap)
            script(keys=[self.namespace, self.wakeups.channel, self.store_events_key], args=args)
            for message, _, head in chunk:
                self._store_event.pushed = message.message_id if head else None
                self.emit_after("enqueue", message, None)
                sent.append(message)
        self._store_event.pushed = None
        return sent

    def lane_lengths(self, queue_name: str) -> dict[int, int]:
        """Messages waiting per lane of a queue (not counting delayed ones)."""
        pipe = self.client.pipeline(transaction=False)
        for lane in range(1, LANES + 1):
            pipe.llen(lane_key(self.namespace, queue_name, lane))
        return dict(zip(range(1, LANES + 1), pipe.execute(), strict=True))

    def tenant_backlog(self, queue_name: str) -> dict[str, int]:
        """Messages waiting per tenant of a queue, over its lanes (not counting delayed ones); the
        shared tenant ("") counts the lanes' own lists. Tenants with nothing waiting are left out."""
        lanes = range(1, LANES + 1)
        pipe = self.client.pipeline(transaction=False)
        for lane in lanes:
            pipe.lrange(tenant_ring_key(self.namespace, queue_name, lane), 0, -1)
            pipe.llen(lane_key(self.namespace, queue_name, lane))
        replies = pipe.execute()
        backlog: dict[str, int] = defaultdict(int)
        keys: list[tuple[str, str]] = []
        for index, lane in enumerate(lanes):
            ring, shared = replies[2 * index], replies[2 * index + 1]
            if shared:
                backlog[SHARED] += int(shared)
            for tenant in dict.fromkeys(_text(member) for member in ring):
                if tenant:
                    keys.append((tenant, tenant_key(self.namespace, queue_name, lane, tenant)))
        if keys:
            pipe = self.client.pipeline(transaction=False)
            for _, key in keys:
                pipe.llen(key)
            for (tenant, _), length in zip(keys, pipe.execute(), strict=True):
                if length:
                    backlog[tenant] += int(length)
        return dict(backlog)


def _copied(message: Message[Any], **changes: Any) -> Message[Any]:
    """`message` with `changes` to its fields (`options` whole), as `Message.copy` makes it, at a third of
    the cost: a frozen dataclass's `__init__` sets each field through `object.__setattr__`, where the copy
    takes the fields as they are (checked when the message was made). Anything else (a subclass, the
    worker's proxy, which Dramatiq's Retries enqueues) is copied by its own `copy`."""
    if type(message) is not Message:
        return message.copy(**changes)  # type: ignore[no-any-return]
    copy: Message[Any] = object.__new__(Message)
    copy.__dict__.update(vars(message), **changes)
    return copy


def _encoded(message: Message[Any]) -> bytes:
    """`message.encode()`: its fields, in order, through Dramatiq's encoder (`Message.asdict` walks
    `dataclasses.fields` for the same dict)."""
    if type(message) is not Message:
        return message.encode()
    return dramatiq.get_encoder().encode(dict(vars(message)))


def with_lane_priority(message: Message[Any]) -> Message[Any]:
    """`message` with a `priority` that is not a whole number (2.5, "2.5") made its lane's number (3).

    A plain `dramatiq.actor` sends whatever it is given; such a message would be refused by the
    worker's checks (`message_checks`), and its Lua-side lane could differ from ours. Whole numbers,
    even out of 1..10, are kept (their lane is clamped when read)."""
    priority = message.options.get("priority")
    if priority is None or type(priority) is int:
        return message
    return message.copy(options={"priority": lane_of(priority)})


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
