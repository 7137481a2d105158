"""The Redis list of job-store events waiting for a writer, taken at least once.

Producers' events reach it with their messages (the Redis broker's enqueue script, which pushes
only while the list is shorter than its cap and otherwise counts the event as dropped:
`dropped()`); the store's writers (`runtime.store_buffer`) move it into the database. A writer
takes a chunk (at most `chunk` events and about `chunk_bytes` bytes, so one take never reads a
huge reply) with one script call that moves it onto a list of its own ("held") and notes the
time in the writers' sorted set (only a writer holding events has a note); once the chunk is
written it deletes its held list and its note (`done`); one that leaves without writing it
puts it back at the head of the list (`give_back`). A writer that dies between the two leaves
both: the next writer to take events after `stale_after` seconds of that writer's silence puts
the chunk back at the head of the list, and writes it. An event may so be written
twice; the store's `seq` rule makes the second write change nothing (`db.store_order`). While
the database is away a writer takes its held chunk again on every try (keeping its note fresh),
so the rest waits in Redis, not in memory.

Progress (`mark` / `reached`): while any writer holds events, a hash counts the items taken off
the list (less those put back) and numbers each chunk, under an epoch that starts when the
first chunk is taken (or a mark is made) after an idle moment and ends (the hash deleted) when the list is empty and
no one holds any. A reader that wants "every event sent before now is written" marks the count
the list reaches once what waits now is taken; it is reached when the count passes the mark and
no live writer still holds a chunk numbered no later than the one that passed it, or when the
epoch changed (the store was idle in between).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from brokers.redis_keys import (
    NAMESPACE,
    store_event_writers_key,
    store_events_dropped_key,
    store_events_held_key,
    store_events_held_prefix,
    store_events_key,
    store_events_progress_key,
)
from settings import Settings

#: Seconds without taking events after which a writer is dead and its held events go back.
DEFAULT_STALE_AFTER = 60.0
#: Most events one take moves.
DEFAULT_CHUNK = 1000
#: Most bytes one take moves (at least one event, however large).
DEFAULT_CHUNK_BYTES = 8 * 2**20

# KEYS: the list, the writers' set, this writer's held list, the progress hash; ARGV: writer id,
# now (ms), count (0: only what this writer holds already), stale (ms), the held lists' prefix,
# most bytes. Returns the events this writer holds: those it held already (not yet written), else
# up to `count` new ones (and about `bytes` bytes, at least one).
TAKE = """
local now = tonumber(ARGV[2])
local stale = redis.call("zrangebyscore", KEYS[2], "-inf", now - tonumber(ARGV[4]))
for _, writer in ipairs(stale) do
    if writer ~= ARGV[1] then
        local held = ARGV[5] .. writer
        local items = redis.call("lrange", held, 0, -1)
        for i = #items, 1, -1 do
            redis.call("lpush", KEYS[1], items[i])
        end
        redis.call("del", held)
        redis.call("zrem", KEYS[2], writer)
        if redis.call("exists", KEYS[4]) == 1 then
            redis.call("hincrby", KEYS[4], "taken", -#items)
            redis.call("hdel", KEYS[4], "w:" .. writer)
        end
    end
end
local mine = redis.call("lrange", KEYS[3], 0, -1)
if #mine > 0 then
    redis.call("zadd", KEYS[2], now, ARGV[1])
    return mine
end
local count = tonumber(ARGV[3])
local most = tonumber(ARGV[6])
local items = {}
local size = 0
local at = 0
-- read 16 at a time, counting bytes: a chunk of large events is never read whole
while #items < count and (size < most or #items == 0) do
    local piece = redis.call("lrange", KEYS[1], at, at + math.min(count - #items, 16) - 1)
    if #piece == 0 then
        break
    end
    for _, item in ipairs(piece) do
        if #items > 0 and size + #item > most then
            size = most
            break
        end
        items[#items + 1] = item
        size = size + #item
    end
    at = at + #piece
end
if #items == 0 then
    redis.call("zrem", KEYS[2], ARGV[1])
    return items
end
redis.call("ltrim", KEYS[1], #items, -1)
for i = 1, #items, 500 do
    redis.call("rpush", KEYS[3], unpack(items, i, math.min(i + 499, #items)))
end
redis.call("zadd", KEYS[2], now, ARGV[1])
if redis.call("hsetnx", KEYS[4], "epoch", ARGV[1] .. "@" .. ARGV[2]) == 1 then
    redis.call("hset", KEYS[4], "taken", 0, "chunks", 0)
end
redis.call("hincrby", KEYS[4], "taken", #items)
redis.call("hset", KEYS[4], "w:" .. ARGV[1], redis.call("hincrby", KEYS[4], "chunks", 1))
return items
"""

# KEYS: this writer's held list, the writers' set, the progress hash, the list; ARGV: writer id.
# The held events are written: let them go; the progress hash too when nothing waits any more.
DONE = """
redis.call("del", KEYS[1])
redis.call("zrem", KEYS[2], ARGV[1])
redis.call("hdel", KEYS[3], "w:" .. ARGV[1])
if redis.call("llen", KEYS[4]) == 0 and redis.call("zcard", KEYS[2]) == 0 then
    redis.call("del", KEYS[3])
end
"""

# KEYS: the list, the writers' set, this writer's held list, the progress hash; ARGV: writer id.
# A writer leaving with a chunk it could not write puts it back at the head of the list, in order
# (what the next writer does for a dead one after `stale_after`, at once). Returns the count.
GIVE_BACK = """
local items = redis.call("lrange", KEYS[3], 0, -1)
for i = #items, 1, -1 do
    redis.call("lpush", KEYS[1], items[i])
end
redis.call("del", KEYS[3])
redis.call("zrem", KEYS[2], ARGV[1])
if redis.call("exists", KEYS[4]) == 1 then
    redis.call("hincrby", KEYS[4], "taken", -#items)
    redis.call("hdel", KEYS[4], "w:" .. ARGV[1])
end
return #items
"""

# KEYS: the list, the writers' set, the progress hash; ARGV: an epoch to start if none runs. Returns
# {epoch, the count of items taken that covers what waits now}, or {false, 0} when nothing waits.
MARK = """
local waiting = redis.call("llen", KEYS[1])
if waiting == 0 and redis.call("zcard", KEYS[2]) == 0 then
    return {false, 0}
end
if redis.call("hsetnx", KEYS[3], "epoch", ARGV[1]) == 1 then
    redis.call("hset", KEYS[3], "taken", 0, "chunks", 0)
end
return {redis.call("hget", KEYS[3], "epoch"), tonumber(redis.call("hget", KEYS[3], "taken")) + waiting}
"""

# KEYS: the writers' set, the progress hash; ARGV: now (ms), stale (ms), the epoch marked, the count
# marked, the chunk bound ("" for none yet). Returns {state, chunks}: state 1 when
# everything marked is written (or the epoch changed), 0 while marked events still wait on the
# list, 2 while a live writer still holds a chunk numbered no later than the bound; chunks: the
# bound to pass next time (the number of the last chunk taken once the count passed the mark).
REACHED = """
if redis.call("hget", KEYS[2], "epoch") ~= ARGV[3] then
    return {1, 0}
end
if tonumber(redis.call("hget", KEYS[2], "taken") or "0") < tonumber(ARGV[4]) then
    return {0, 0}
end
local bound = tonumber(ARGV[5]) or tonumber(redis.call("hget", KEYS[2], "chunks") or "0")
local live = redis.call("zrangebyscore", KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[2]), "+inf")
for _, writer in ipairs(live) do
    local chunk = tonumber(redis.call("hget", KEYS[2], "w:" .. writer))
    if chunk and chunk <= bound then
        return {2, bound}
    end
end
return {1, bound}
"""

# KEYS: the list, the writers' set; ARGV: writer id, now (ms), stale (ms), the held lists' prefix.
# Events not yet written: on the list, or held by a live writer other than this one.
WAITING = """
local n = redis.call("llen", KEYS[1])
local live = redis.call("zrangebyscore", KEYS[2], tonumber(ARGV[2]) - tonumber(ARGV[3]), "+inf")
for _, writer in ipairs(live) do
    if writer ~= ARGV[1] then
        n = n + redis.call("llen", ARGV[4] .. writer)
    end
end
return n
"""


@dataclass(frozen=True)
class Mark:
    """What waited on the list when a reader asked (`StoreEventList.mark`)."""

    #: The progress epoch then (None: nothing waited).
    epoch: str | None
    #: The count of items taken that covers everything waiting then.
    items: int
    #: Nothing waited at all.
    idle: bool = False


def events_url(settings: Settings) -> str | None:
    """The Redis holding the list: the broker's when it is Redis, else REDIS_URL; None on the embedded default."""
    if settings.embedded:
        return None
    broker = settings.effective_broker_url
    return broker if broker.startswith(("redis://", "rediss://", "unix://")) else settings.effective_redis_url


def new_writer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StoreEventList:
    """One writer's handle on the list: `take`, write, `done`."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = NAMESPACE,
        writer_id: str | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
        chunk: int = DEFAULT_CHUNK,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        self.client = client
        self.writer_id = writer_id or new_writer_id()
        self.stale_after = stale_after
        self.chunk = chunk
        self.chunk_bytes = chunk_bytes
        self.namespace = namespace
        self.key = store_events_key(namespace)
        self.writers_key = store_event_writers_key(namespace)
        self.held_key = store_events_held_key(self.writer_id, namespace)
        self.progress_key = store_events_progress_key(namespace)
        self.dropped_key = store_events_dropped_key(namespace)
        self._take = client.register_script(TAKE)
        self._done = client.register_script(DONE)
        self._give_back = client.register_script(GIVE_BACK)
        self._mark = client.register_script(MARK)
        self._reached = client.register_script(REACHED)
        self._waiting = client.register_script(WAITING)

    def push(self, items: list[bytes]) -> None:
        """Add events (a process without a writer of its own)."""
        if items:
            self.client.rpush(self.key, *items)

    def take(self, count: int | None = None) -> list[bytes]:
        """The events this writer holds and has not written, else up to `count` new ones (0: none), now held."""
        count = self.chunk if count is None else count
        args = [self.writer_id, _now_ms(), count, int(self.stale_after * 1000), self._prefix, self.chunk_bytes]
        keys = [self.key, self.writers_key, self.held_key, self.progress_key]
        return list(self._take(keys=keys, args=args))

    def done(self) -> None:
        """The events held are written: let them go (and the note that this writer holds some)."""
        keys = [self.held_key, self.writers_key, self.progress_key, self.key]
        self._done(keys=keys, args=[self.writer_id])

    def give_back(self) -> int:
        """Put the events held and not written back at the head of the list for the other writers
        (this writer leaves); returns how many."""
        keys = [self.key, self.writers_key, self.held_key, self.progress_key]
        return int(self._give_back(keys=keys, args=[self.writer_id]))

    def mark(self) -> Mark:
        """What waits now, to tell later (`reached`) when all of it is written, whoever writes it."""
        keys = [self.key, self.writers_key, self.progress_key]
        epoch, items = self._mark(keys=keys, args=[f"{self.writer_id}@{_now_ms()}"])
        if epoch is None:
            return Mark(None, 0, idle=True)
        return Mark(epoch.decode() if isinstance(epoch, bytes) else str(epoch), int(items))

    def reached(self, mark: Mark, bound: int | None = None) -> tuple[bool, int | None]:
        """Whether every event waiting at `mark` is written; and the bound to pass on the next call."""
        if mark.idle or mark.epoch is None:
            return True, None
        args = [_now_ms(), int(self.stale_after * 1000), mark.epoch or "", mark.items, "" if bound is None else bound]
        state, chunks = self._reached(keys=[self.writers_key, self.progress_key], args=args)
        if int(state) == 1:
            return True, None
        return False, int(chunks) if int(state) == 2 else None

    def waiting(self) -> int:
        """Events not yet written: on the list, or held by another writer that is alive."""
        args = [self.writer_id, _now_ms(), int(self.stale_after * 1000), self._prefix]
        return int(self._waiting(keys=[self.key, self.writers_key], args=args))

    def figures(self) -> tuple[int, int]:
        """(events on the list now, events the enqueue scripts dropped at its cap since Redis keeps the count)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(self.key)
        pipe.get(self.dropped_key)
        length, dropped = pipe.execute()
        return int(length), int(dropped or 0)

    def leave(self) -> None:
        """This writer stops (holding nothing): out of the writers' set."""
        if not self.client.exists(self.held_key):
            self.client.zrem(self.writers_key, self.writer_id)

    @property
    def _prefix(self) -> str:
        return store_events_held_prefix(self.namespace)


def _now_ms() -> int:
    return int(time.time() * 1000)
