"""The queue operations of `brokers.operations` on Redis: a mixin `PriorityRedisBroker` inherits.

The Redis layout (Dramatiq's, with priority lanes) is known here and in `priority_redis`
only: a queue is the lists `<ns>:<q>` (NORMAL) and `<ns>:<q>|<lane>` with the bodies in the
hash `<ns>:<q>.msgs`; its delayed half is the same under `<q>.DQ`; its dead letters are the
sorted set `<ns>:<q>.XQ` (Redis ids scored by the time they died, ms) and the hash
`<ns>:<q>.XQ.msgs`. A message a worker fetched has left its list but stays in the hash until
it is acknowledged: so a delayed message in `.DQ.msgs` but in no `.DQ` list is held in a
worker's memory until it is due. Meanwhile its Redis id sits in the ack set of the
connection that fetched it, `<ns>:__acks__.<connection id>.<q>` (or `.<q>.DQ`); every
connection's last command is scored in `<ns>:__heartbeats__` (ms): a connection silent for
longer than `heartbeat_timeout` is dead, and what its ack sets hold is orphaned until the
script's maintenance gives it back to its lane.

Tenants (`priority_redis`'s notes): a lane list `L` may have tenant lists `L@<tenant>` and a ring
`L#ring` naming them; removing, draining and promoting go through the ring to find them.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from dramatiq import Message
from dramatiq.errors import DecodeError

from brokers.operations import (
    DEAD,
    DELAYED,
    WAITING,
    DeadLetter,
    DeadLetterGone,
    Drained,
    OrphanedMessage,
    Orphans,
    Promoted,
    QueueDepths,
)
from brokers.redis_keys import lane_key, tenant_lanes_key
from brokers.tenant_lists import PUSH_IN_TURN
from core.lanes import LANES, lane_of
from core.tenants import tenant_of

#: Letters read per Redis round trip when scanning or pruning.
BATCH = 200

# Removes one message id from the first of KEYS[1..n-1] (the lanes) or their tenants' lists holding
# it, and its body from KEYS[n] (the hash). A tenant left with nothing leaves its lane's ring. 1 when
# removed, 0 when no list held it (a worker fetched it).
_REMOVE = """
for i = 1, #KEYS - 1 do
    if redis.call("lrem", KEYS[i], 0, ARGV[1]) > 0 then
        redis.call("hdel", KEYS[#KEYS], ARGV[1])
        return 1
    end
    local ring = KEYS[i] .. "#ring"
    for _, tenant in ipairs(redis.call("lrange", ring, 0, -1)) do
        local list = KEYS[i] .. "@" .. tenant
        if tenant ~= "" and redis.call("lrem", list, 0, ARGV[1]) > 0 then
            redis.call("hdel", KEYS[#KEYS], ARGV[1])
            if redis.call("llen", list) == 0 then
                redis.call("lrem", ring, 0, tenant)
            end
            return 1
        end
    end
end
return 0
"""

# Empties a queue's lanes (KEYS: the lists, then the hash last), their tenants' lists and rings
# (ARGV[2]: the set of lanes with rings), and drops their bodies; with ARGV[1] == "1" also every other
# body of the hash (the delayed copies workers hold).
# Returns {removed ids, removed bodies, held ids, held bodies}.
_DRAIN = """
local hash = KEYS[#KEYS]
local removed, removed_bodies = {}, {}
local lists = {}
for i = 1, #KEYS - 1 do
    table.insert(lists, KEYS[i])
    local ring = KEYS[i] .. "#ring"
    for _, tenant in ipairs(redis.call("lrange", ring, 0, -1)) do
        if tenant ~= "" then
            table.insert(lists, KEYS[i] .. "@" .. tenant)
        end
    end
    redis.call("del", ring)
end
redis.call("del", ARGV[2])
for _, list in ipairs(lists) do
    local ids = redis.call("lrange", list, 0, -1)
    if #ids > 0 then
        redis.call("del", list)
        for _, id in ipairs(ids) do
            local body = redis.call("hget", hash, id)
            if body then
                redis.call("hdel", hash, id)
                table.insert(removed, id)
                table.insert(removed_bodies, body)
            end
        end
    end
end
local held, held_bodies = {}, {}
if ARGV[1] == "1" then
    local rest = redis.call("hgetall", hash)
    for i = 1, #rest, 2 do
        table.insert(held, rest[i])
        table.insert(held_bodies, rest[i + 1])
    end
    redis.call("del", hash)
end
return {removed, removed_bodies, held, held_bodies}
"""

# Moves one delayed message, Redis id ARGV[1], from the first delayed lane holding it (KEYS[1..n-2])
# to its queue, as `enqueue` stores a message: its delayed body (KEYS[n-1]) out, ARGV[3] (the body
# made due, under the new Redis id ARGV[2]) into the queue's hash (KEYS[n]) and onto its lane ARGV[7]
# and tenant ARGV[8] list of queue ARGV[4] (namespace ARGV[6]), a wake-up (ARGV[5]) when that list
# was empty. One call: the message is on one list or the other, never both nor neither. 1 moved;
# 2 a worker holds it (fetched, its body kept until acknowledged); 0 no longer delayed.
_PROMOTE = (
    PUSH_IN_TURN
    + """
local lanes = #KEYS - 2
local delayed_hash, queue_hash = KEYS[lanes + 1], KEYS[lanes + 2]
for i = 1, lanes do
    if redis.call("lrem", KEYS[i], 0, ARGV[1]) > 0 then
        redis.call("hdel", delayed_hash, ARGV[1])
        redis.call("hset", queue_hash, ARGV[2], ARGV[3])
        if push_in_turn(ARGV[6], ARGV[4], tonumber(ARGV[7]), ARGV[8], ARGV[2]) == 1 then
            redis.call("publish", ARGV[5], ARGV[4])
        end
        return 1
    end
end
if redis.call("hexists", delayed_hash, ARGV[1]) == 1 then
    return 2
end
return 0
"""
)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _job_id(ref: bytes | str, body: bytes | None) -> str:
    """The job (message) id in `body`, else the Redis id (an unreadable message is filed under it)."""
    if body:
        try:
            return Message.decode(body).message_id
        except DecodeError:
            pass
    return _text(ref)[:36]


class RedisOperations:
    """`brokers.operations` on the Redis layout; mixed into `PriorityRedisBroker`."""

    client: Any
    namespace: str
    heartbeat_timeout: int  # ms
    wakeups: Any  # brokers.wakeups.Wakeups: its `channel` wakes idle consumers

    def _key(self, queue: str, suffix: str = "") -> str:
        return f"{self.namespace}:{queue}{suffix}"

    def _maintain(self, queue: str) -> None:
        """Run the broker script's maintenance for `queue` now (`PriorityRedisBroker`)."""
        raise NotImplementedError

    def _lane_keys(self, base: str) -> list[str]:
        return [lane_key(self.namespace, base, lane) for lane in range(1, LANES + 1)]

    def ping(self) -> None:
        """One round trip to the broker's Redis (BROKER_URL may name another Redis than REDIS_URL)."""
        self.client.ping()

    # Depths ------------------------------------------------------------------------------

    def queue_depths(self, queues: list[str]) -> dict[str, QueueDepths]:
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.hlen(self._key(queue, ".msgs"))
            pipe.hlen(self._key(queue, ".DQ.msgs"))
            pipe.zcard(self._key(queue, ".XQ"))
        values = pipe.execute()
        return {
            queue: QueueDepths(depth=int(values[i * 3]), delayed=int(values[i * 3 + 1]), dead=int(values[i * 3 + 2]))
            for i, queue in enumerate(queues)
        }

    # Waiting and delayed messages ---------------------------------------------------------

    def remove_message(self, queue: str, ref: str, *, delayed: bool) -> bool:
        base = f"{queue}.DQ" if delayed else queue
        keys = [*self._lane_keys(base), self._key(base, ".msgs")]
        return bool(self.client.eval(_REMOVE, len(keys), *keys, ref))

    def drain_queue(self, queue: str, *, delayed: bool = True) -> Drained:
        drained = Drained()
        for base, held_too in ((queue, False), (f"{queue}.DQ", True)) if delayed else ((queue, False),):
            keys = [*self._lane_keys(base), self._key(base, ".msgs")]
            removed, removed_bodies, held, held_bodies = self.client.eval(
                _DRAIN, len(keys), *keys, "1" if held_too else "0", tenant_lanes_key(self.namespace, base)
            )
            drained.removed_ids += [_job_id(ref, body) for ref, body in zip(removed, removed_bodies, strict=True)]
            drained.held_ids += [_job_id(ref, body) for ref, body in zip(held, held_bodies, strict=True)]
        drained.removed_count = len(drained.removed_ids) + len(drained.held_ids)
        return drained

    def promote_delayed(self, queue: str, refs: list[str]) -> Promoted:
        """Move the delayed messages `refs` (Redis ids) still on the delay queue's lanes to their queue,
        due now: same job id and options, without the `eta` that kept them waiting, in the lane of
        their priority. The enqueue middleware hears of each as of any enqueue (the job store reads
        it `waiting`). Copies a worker fetched are `held`: their bodies stay until acknowledged."""
        promoted = Promoted()
        if not refs:
            return promoted
        delayed_hash = self._key(queue, ".DQ.msgs")
        delayed_lanes = self._lane_keys(f"{queue}.DQ")
        for ref, body in zip(refs, self.client.hmget(delayed_hash, refs), strict=True):
            if not body:
                continue
            try:
                message = Message.decode(body)
            except DecodeError:
                continue  # not a message a worker could run: it stays for its own refusal when due
            options = {key: value for key, value in message.options.items() if key != "eta"}
            options["redis_message_id"] = str(uuid.uuid4())
            due = dataclasses.replace(message, queue_name=queue, options=options)
            lane = lane_of(options.get("priority"))
            keys = [*delayed_lanes, delayed_hash, self._key(queue, ".msgs")]
            self.emit_before("enqueue", due, None)  # type: ignore[attr-defined]
            args = (
                ref,
                options["redis_message_id"],
                due.encode(),
                queue,
                self.wakeups.channel,
                self.namespace,
                lane,
                tenant_of(options),
            )
            outcome = int(self.client.eval(_PROMOTE, len(keys), *keys, *args))
            if outcome == 1:
                self.emit_after("enqueue", due, None)  # type: ignore[attr-defined]
                promoted.moved_ids.append(due.message_id)
            elif outcome == 2:
                promoted.held.append((_text(ref), body))
        return promoted

    def message_places(self, refs: list[tuple[str, str]]) -> list[str | None]:
        pipe = self.client.pipeline(transaction=False)
        for queue, ref in refs:
            for suffix in (".msgs", ".DQ.msgs", ".XQ.msgs"):
                pipe.hexists(self._key(queue, suffix), ref)
        found = pipe.execute()
        places: list[str | None] = []
        for index in range(len(refs)):
            queued, delayed, dead = found[3 * index : 3 * index + 3]
            places.append(DEAD if dead else WAITING if queued else DELAYED if delayed else None)
        return places

    # Messages of dead workers -------------------------------------------------------------

    def orphaned_messages(self) -> Orphans:
        """Messages in the ack sets of connections whose heartbeat is older than `heartbeat_timeout`."""
        heartbeats = self._key("__heartbeats__")
        stale_before = time.time() * 1000 - self.heartbeat_timeout
        dead = [_text(worker) for worker in self.client.zrangebyscore(heartbeats, 0, stale_before)]
        found: list[tuple[str, str, str]] = []  # (queue, Redis id, worker)
        for worker in dead:
            prefix = self._key(f"__acks__.{worker}.")
            for key in self.client.scan_iter(match=f"{prefix}*", count=BATCH):
                queue = _text(key)[len(prefix) :]
                found += [(queue, _text(ref), worker) for ref in self.client.smembers(key)]
        if not found:
            return Orphans()
        pipe = self.client.pipeline(transaction=False)
        for queue, ref, _ in found:
            pipe.hget(self._key(queue, ".msgs"), ref)
        bodies = pipe.execute()
        return Orphans(
            messages=[
                OrphanedMessage(queue=queue, ref=ref, job_id=_job_id(ref, body), worker=worker)
                for (queue, ref, worker), body in zip(found, bodies, strict=True)
            ]
        )

    def requeue_orphans(self) -> Orphans:
        """Give dead workers' unacknowledged messages back to their lanes now (maintenance of each
        queue holding some), instead of when maintenance next runs by itself."""
        orphans = self.orphaned_messages()
        for queue in dict.fromkeys(message.queue for message in orphans.messages):
            self._maintain(queue)
        if orphans.messages:
            pipe = self.client.pipeline(transaction=False)
            for message in orphans.messages:
                pipe.sismember(self._key(f"__acks__.{message.worker}.{message.queue}"), message.ref)
            still_held = pipe.execute()
            orphans.messages = [message for message, held in zip(orphans.messages, still_held, strict=True) if not held]
            orphans.requeued = len(orphans.messages)
        return orphans

    # Dead letters -------------------------------------------------------------------------

    def _letters(self, queue: str, members: list[tuple[bytes, float]]) -> list[DeadLetter]:
        if not members:
            return []
        bodies = self.client.hmget(self._key(queue, ".XQ.msgs"), [member for member, _ in members])
        return [
            DeadLetter(ref=_text(member), dead_at=score / 1000, body=body)
            for (member, score), body in zip(members, bodies, strict=True)
        ]

    def list_dead_letters(self, queue: str, offset: int = 0, limit: int = 50) -> list[DeadLetter]:
        """Newest first."""
        if limit <= 0:
            return []
        members = self.client.zrevrange(self._key(queue, ".XQ"), offset, offset + limit - 1, withscores=True)
        return self._letters(queue, members)

    def oldest_dead_letters(self, queue: str, limit: int = BATCH) -> list[DeadLetter]:
        members = self.client.zrange(self._key(queue, ".XQ"), 0, limit - 1, withscores=True)
        return self._letters(queue, members)

    def find_dead_letter(self, queue: str, message_id: str, ref: str | None = None) -> DeadLetter | None:
        """The letter of job `message_id`: under `ref` (its Redis id) when given, else by scanning."""
        xq, messages = self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs")
        for candidate in (ref, message_id):
            if not candidate:
                continue
            score = self.client.zscore(xq, candidate)
            if score is not None:
                body = self.client.hget(messages, candidate)
                if candidate == message_id or (body and _job_id(candidate, body) == message_id):
                    return DeadLetter(ref=candidate, dead_at=score / 1000, body=body)
        for member, body in self.client.hscan_iter(messages, count=BATCH):
            if body and _job_id(member, body) == message_id:
                score = self.client.zscore(xq, member)
                if score is not None:
                    return DeadLetter(ref=_text(member), dead_at=score / 1000, body=body)
        return None

    def requeue_dead_letter(self, queue: str, letter: DeadLetter, message: Message[Any]) -> Message[Any]:
        """Send `message` in the letter's place; the ZREM decides between two operators at once."""
        xq = self._key(queue, ".XQ")
        if not self.client.zrem(xq, letter.ref):
            raise DeadLetterGone(letter.ref)
        try:
            sent = self.enqueue(message)  # type: ignore[attr-defined]
        except Exception:
            self.client.zadd(xq, {letter.ref: (letter.dead_at or 0) * 1000})  # put it back: nothing is lost
            raise
        self.client.hdel(self._key(queue, ".XQ.msgs"), letter.ref)
        return sent  # type: ignore[no-any-return]

    def discard_dead_letter(self, queue: str, letter: DeadLetter) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self._key(queue, ".XQ"), letter.ref)
        pipe.hdel(self._key(queue, ".XQ.msgs"), letter.ref)
        removed, _ = pipe.execute()
        if not removed:
            raise DeadLetterGone(letter.ref)

    def purge_dead_letters(self, queue: str) -> tuple[int, list[DeadLetter]]:
        """Every letter of `queue`, gone in one transaction; returns how many and which."""
        xq, messages = self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs")
        pipe = self.client.pipeline(transaction=True)
        pipe.zrange(xq, 0, -1, withscores=True)
        pipe.hgetall(messages)
        pipe.delete(xq, messages)
        members, bodies, _ = pipe.execute()
        letters = [
            DeadLetter(ref=_text(member), dead_at=score / 1000, body=bodies.get(member)) for member, score in members
        ]
        known = {member for member, _ in members}
        letters += [
            DeadLetter(ref=_text(member), dead_at=None, body=body)
            for member, body in bodies.items()
            if member not in known
        ]
        return len(letters), letters

    def prune_dead_letters(self, queue: str, before_ms: float) -> int:
        xq, messages = self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs")
        total = 0
        while True:
            members = self.client.zrangebyscore(xq, 0, before_ms, start=0, num=BATCH)
            if not members:
                return total
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(xq, *members)
            pipe.hdel(messages, *members)
            removed, _ = pipe.execute()
            total += int(removed)
