-- adjobs' fork of Dramatiq's Redis dispatch script: per-message priority lanes.
--
-- Forked from: Dramatiq 2.2.1, dramatiq/brokers/redis/dispatch.lua
-- Upstream sha256: ba4d872e4fb204ebc3f73ca4719265a9946d70e847856c125314f01a8c90540c
-- (tests/unit/brokers/test_dramatiq_fork.py fails when the installed Dramatiq's script differs: re-apply
-- the changes below to the new script, then record its sha256 here and in brokers/dramatiq_fork.py.)
--
-- Every change is marked "adjobs change N"; the rest is upstream's text, unchanged:
--   1. lane helpers (lane_number, lane_list, lane_of_message);
--   2. maintenance gives a dead worker's messages back to their own lane;
--   3. enqueue pushes onto the message's lane and publishes a wake-up when the lane was empty;
--   4. fetch takes from the most urgent non-empty lane first and returns the Redis ids too;
--   5. requeue gives messages back to their own lane;
--   6. purge empties every lane;
--   7. enqueue pushes the job store's event of the message, when given, in the same call;
--   8. tenants: within a (queue, lane), fetch takes in turn from each tenant with messages waiting
--      (a message's `options.tenant`; none: the queue's shared tenant, which keeps the lane's list).
-- Priority lanes answer upstream's open requests for per-message priority on Redis
-- (dramatiq#412, #424, #508, #553).

-- This file is a part of Dramatiq.
--
-- Copyright (C) 2017,2018,2019,2020 CLEARTYPE SRL <bogdan@cleartype.io>
--
-- Dramatiq is free software; you can redistribute it and/or modify it
-- under the terms of the GNU Lesser General Public License as published by
-- the Free Software Foundation, either version 3 of the License, or (at
-- your option) any later version.
--
-- Dramatiq is distributed in the hope that it will be useful, but WITHOUT
-- ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or
-- FITNESS FOR A PARTICULAR PURPOSE. See the GNU Lesser General Public
-- License for more details.
--
-- You should have received a copy of the GNU Lesser General Public License
-- along with this program.  If not, see <http://www.gnu.org/licenses/>.

-- luacheck: globals ARGV KEYS redis unpack
-- dispatch(
--   args=[command, timestamp, queue_name, worker_id, heartbeat_timeout, dead_message_ttl, do_maintenance, max_unpack_size, ...],
--   keys=[namespace]
-- )

-- $namespace:__acks__.$worker_id.$queue_name
--   A set of message ids representing fetched-but-not-yet-acked
--   messages belonging to that (worker, queue) pair.
--
-- $namespace:__heartbeats__
--   A sorted set containing unique worker ids sorted by when their
--   last heartbeat was received.
--
-- $namespace:$queue_name
--   A list of message ids.
--
-- $namespace:$queue_name|$lane   (adjobs change 1)
--   The list of message ids of priority lane $lane (1..10, not 5):
--   lane 5 (NORMAL) is $namespace:$queue_name itself.
--
-- $namespace:$queue_name|$lane@$tenant   (adjobs change 8; lane 5: $namespace:$queue_name@$tenant)
--   The list of message ids of tenant $tenant in lane $lane.  The shared tenant ("") keeps the
--   lane's own list.  Delay queues (.DQ) have no tenant lists: a delayed message waits for its
--   time only, then is enqueued (to its tenant's list) like any other.
--
-- $namespace:$queue_name|$lane#ring   (adjobs change 8; lane 5: $namespace:$queue_name#ring)
--   The tenants whose turn comes next in the lane, first first: every tenant with messages
--   waiting, and the shared tenant "" while any other is there.  Absent when no tenant has any.
--
-- $namespace:$queue_name#lanes   (adjobs change 8)
--   A set of the lanes that have a ring: a fetch reads it once, lanes without one are read as before.
--
-- $namespace:$queue_name.msgs
--   A hash of message ids -> message data.
--
-- $namespace:$queue_name.XQ
--   A sorted set containing all the dead-lettered message ids
--   belonging to a queue, sorted by when they were dead lettered.
--
-- $namespace:$queue_name.XQ.msgs
--   A hash of message ids -> message data.

local namespace = KEYS[1]

local command = ARGV[1]
local timestamp = ARGV[2]
local queue_name = ARGV[3]
local worker_id = ARGV[4]
local heartbeat_timeout = ARGV[5]
local dead_message_ttl = ARGV[6]
local do_maintenance = ARGV[7]
local max_unpack_size = ARGV[8]

local acks = namespace .. ":__acks__." .. worker_id
local heartbeats = namespace .. ":__heartbeats__"
redis.call("zadd", heartbeats, timestamp, worker_id)

-- This is used to ensure that we never have a DLQ like default.DQ.XQ
-- since that wouldn't make much sense.
local queue_canonical_name = queue_name
if string.sub(queue_name, -3) == ".DQ" then
    queue_canonical_name = string.sub(queue_name, 1, -4)
end

local queue_acks = acks .. "." .. queue_name
local queue_full_name = namespace .. ":" .. queue_name
local queue_messages = queue_full_name .. ".msgs"
local xqueue_full_name = namespace .. ":" .. queue_canonical_name .. ".XQ"
local xqueue_messages = xqueue_full_name .. ".msgs"

-- Command-specific arguments.
local ARGS = {}
for i=9,#ARGV do
    ARGS[i - 8] = ARGV[i]
end

-- Iterates over a table in chunks, yielding a new chunk on each
-- iteration. We use this to do work in batches so we don't overflow
-- lua's stack.
--
-- Example:
--
--   for chunk in iter_chunks(some_table) do
--       do_something(unpack(chunk))
--   end
local function iter_chunks(tbl)
    local len = #tbl
    local i = 1
    return function()
        if i <= len then
            local chunk = {}
            local last_idx = math.min(i + max_unpack_size - 1, len)
            local j
            for j = i, last_idx do
                table.insert(chunk, tbl[j])
            end
            i = last_idx + 1
            return chunk
        end
    end
end


-- adjobs change 1: priority lanes.  A lane is a whole number 1..10 (CRITICAL=1 ...
-- BACKGROUND=10); anything else is made one: a number is rounded half up and clamped,
-- anything that is not a number (or NaN) is NORMAL (5).  As `brokers.lanes.lane_of`.
local function lane_number(value)
    local lane = tonumber(value)
    if lane == nil or lane ~= lane then
        return 5
    end
    if lane < 1 then
        return 1
    end
    if lane > 10 then
        return 10
    end
    return math.floor(lane + 0.5)
end

local function lane_list(lane)
    lane = lane_number(lane)
    if lane == 5 then
        return queue_full_name
    end
    return queue_full_name .. "|" .. lane
end

local function lane_of_message(data)
    if not data then
        return 5
    end
    local ok, decoded = pcall(cjson.decode, data)
    if ok and type(decoded) == "table" and type(decoded["options"]) == "table" then
        return lane_number(decoded["options"]["priority"])
    end
    return 5
end
-- end of adjobs change 1


-- adjobs change 8: tenants.  A message's tenant is its `options.tenant` (a non-empty string; anything
-- else is the shared tenant ""), as `brokers.tenant_lists.tenant_of`.  Only a queue's own lanes have
-- tenant lists; its delay queue (.DQ) keeps plain lanes.
local tenants_on = queue_name == queue_canonical_name
local tenant_lanes = queue_full_name .. "#lanes"

local function tenant_of_message(data)
    if not data or not tenants_on then
        return ""
    end
    local ok, decoded = pcall(cjson.decode, data)
    if ok and type(decoded) == "table" and type(decoded["options"]) == "table" then
        local tenant = decoded["options"]["tenant"]
        if type(tenant) == "string" then
            return tenant
        end
    end
    return ""
end

-- Pushes a message id onto its (lane, tenant) list; returns the list's new length (1: it was empty).
-- `push_in_turn` is brokers/tenant_lists.py's PUSH_IN_TURN, placed before this script when it is
-- loaded (brokers/dramatiq_fork.py `load_dispatch_script`): one definition for every script of ours
-- that puts a message on a queue. A delay queue (.DQ) keeps plain lanes.
local function push_message(lane, tenant, message_id)
    return push_in_turn(namespace, queue_name, lane_number(lane), tenant, message_id)
end

-- Takes the next message id of a lane that has a ring: the tenant at the ring's head gives one,
-- and goes back to the tail while it has more (the shared tenant while any other is there).
-- A tenant found with nothing (a cancel or drain took its messages) leaves the ring.
local function take_in_turn(lane)
    local list = lane_list(lane)
    local ring = list .. "#ring"
    while true do
        local tenant = redis.call("lpop", ring)
        if not tenant then
            redis.call("srem", tenant_lanes, lane)
            return redis.call("lpop", list)
        end
        if tenant == "" then
            local message_id = redis.call("lpop", list)
            if redis.call("llen", ring) > 0 then
                redis.call("rpush", ring, "")
            end
            if message_id then
                return message_id
            end
        else
            local source = list .. "@" .. tenant
            local message_id = redis.call("lpop", source)
            if message_id then
                if redis.call("llen", source) > 0 then
                    redis.call("rpush", ring, tenant)
                end
                return message_id
            end
        end
    end
end
-- end of adjobs change 8


-- Every call to dispatch has some % chance to trigger maintenance on
-- a queue.  Maintenance moves any unacked messages belonging to dead
-- workers back to their queues and deletes any expired messages from
-- DLQs.
if do_maintenance == "1" then
    local dead_workers = redis.call("zrangebyscore", heartbeats, 0, timestamp - heartbeat_timeout)
    for i=1,#dead_workers do
        local dead_worker = dead_workers[i]
        local dead_worker_acks = namespace .. ":__acks__." .. dead_worker
        local dead_worker_queue_acks = dead_worker_acks .. "." .. queue_name
        local message_ids = redis.call("smembers", dead_worker_queue_acks)
        if next(message_ids) then
            for _, message_id in ipairs(message_ids) do
                -- adjobs change 2: back to the message's own lane (adjobs change 8: and tenant).
                local data = redis.call("hget", queue_messages, message_id)
                if data then
                    push_message(lane_of_message(data), tenant_of_message(data), message_id)
                end
            end
            redis.call("del", dead_worker_queue_acks)
        end

        -- If there are no more ack groups for this worker, then
        -- remove it from the heartbeats set.
        local ack_queues = redis.call("keys", dead_worker_acks .. "*")
        if not next(ack_queues) then
            redis.call("zrem", heartbeats, dead_worker)
        end
    end

    local dead_message_ids = redis.call("zrangebyscore", xqueue_full_name, 0, timestamp - dead_message_ttl)
    if next(dead_message_ids) then
        for dead_message_ids_batch in iter_chunks(dead_message_ids) do
            redis.call("zrem", xqueue_full_name, unpack(dead_message_ids_batch))
            redis.call("hdel", xqueue_messages, unpack(dead_message_ids_batch))
        end
    end
end


-- Enqueues a new message on $queue_full_name.
if command == "enqueue" then
    local message_id = ARGS[1]
    local message_data = ARGS[2]

    redis.call("hset", queue_messages, message_id, message_data)
    -- adjobs change 3: ARGS[3] is the lane, ARGS[4] the wake-up channel (brokers/wakeups.py);
    -- a push that made the lane non-empty wakes idle consumers.
    -- adjobs change 8: ARGS[7], when given, is the message's tenant: a push that made its list non-empty wakes them.
    if push_message(ARGS[3], ARGS[7], message_id) == 1 and ARGS[4] then
        redis.call("publish", ARGS[4], queue_name)
    end
    -- adjobs change 7: ARGS[5] is the head of the job store's event of this message, ARGS[6] the
    -- list it waits on for a writer (brokers/redis_keys.py): a message is never on a queue
    -- without its store event, and the producer makes no other round trip for it. ARGS[8], when
    -- given, caps the list: past it the event is dropped and counted in "<list>.dropped"
    -- (redis_keys.store_events_dropped_key), so a store that nobody writes never fills Redis.
    if ARGS[5] and ARGS[5] ~= "" then
        if ARGS[8] and redis.call("llen", ARGS[6]) >= tonumber(ARGS[8]) then
            redis.call("incr", ARGS[6] .. ".dropped")
        else
            redis.call("rpush", ARGS[6], ARGS[5] .. message_data)
        end
    end


-- Returns up to $prefetch number of messages from $queue_full_name.
elseif command == "fetch" then
    -- Ensure prefetch isn't so large that we get errors fetching
    local prefetch = math.min(ARGS[1], max_unpack_size)

    local message_ids = {}
    -- adjobs change 8: the lanes where tenants take turns.
    local in_turn = {}
    if tenants_on then
        for _, ring_lane in ipairs(redis.call("smembers", tenant_lanes)) do
            in_turn[tonumber(ring_lane)] = true
        end
    end
    -- adjobs change 4: the most urgent non-empty lane first.
    local lane = 1
    for i=1,prefetch do
        local message_id = false
        while lane <= 10 do
            if in_turn[lane] then
                message_id = take_in_turn(lane)
            else
                message_id = redis.call("lpop", lane_list(lane))
            end
            if message_id then
                break
            end
            lane = lane + 1
        end
        if not message_id then
            break
        end

        message_ids[i] = message_id
        redis.call("sadd", queue_acks, message_id)
    end

    if next(message_ids) ~= nil then
        -- adjobs change 4: the Redis ids beside the bodies, so a message is known by the id it has.
        return {message_ids, redis.call("hmget", queue_messages, unpack(message_ids))}
    else
        return {}
    end


-- Moves fetched-but-not-processed messages back to their queues on
-- worker shutdown.
elseif command == "requeue" then
    for i=1,#ARGS do
        local message_id = ARGS[i]

        if redis.call("srem", queue_acks, message_id) > 0 then
            -- adjobs change 5: back to the message's own lane (adjobs change 8: and tenant).
            local data = redis.call("hget", queue_messages, message_id)
            if data then
                push_message(lane_of_message(data), tenant_of_message(data), message_id)
            end
        end
    end


-- Acknowledges that a message has been processed.
elseif command == "ack" then
    local message_id = ARGS[1]

    if redis.call("srem", queue_acks, message_id) > 0 then
        redis.call("hdel", queue_messages, message_id)
    end


-- Moves a message from a queue to a dead-letter queue.
elseif command == "nack" then
    local message_id = ARGS[1]

    -- unack the message
    if redis.call("srem", queue_acks, message_id) > 0 then
        -- then pop it off the messages hash and move it onto the DLQ
        local message = redis.call("hget", queue_messages, message_id)
        if message then
            redis.call("zadd", xqueue_full_name, timestamp, message_id)
            redis.call("hset", xqueue_messages, message_id, message)
            redis.call("hdel", queue_messages, message_id)
        end
    end


-- Removes all messages from a queue.
elseif command == "purge" then
    redis.call("del", queue_full_name, queue_acks, queue_messages, xqueue_full_name, xqueue_messages)
    -- adjobs change 6: every lane.
    for lane=1,10 do
        -- adjobs change 8: and its tenants' lists and ring.
        local ring = lane_list(lane) .. "#ring"
        for _, tenant in ipairs(redis.call("lrange", ring, 0, -1)) do
            if tenant ~= "" then
                redis.call("del", lane_list(lane) .. "@" .. tenant)
            end
        end
        redis.call("del", ring)
        redis.call("del", lane_list(lane))
    end
    redis.call("del", tenant_lanes)


-- Used in tests to determine the size of the queue and its connected delay queue.
elseif command == "qsize" then
    local q_aks = acks .. "." .. queue_canonical_name
    local q_fn = namespace .. ":" .. queue_canonical_name
    local q_msgs = q_fn .. ".msgs"
    local dq_q_aks = q_aks .. ".DQ"
    local dq_q_msgs = q_fn .. ".DQ" .. ".msgs"

    return redis.call("hlen", dq_q_msgs) +
           redis.call("scard", dq_q_aks) +
           redis.call("hlen", q_msgs) +
           redis.call("scard", q_aks)

end
