"""Tenant turns on Redis: the Lua that pushes a message onto its tenant's list, for every script of ours.

`dispatch.lua` (adjobs change 8) keeps, within each (queue, lane), one list per tenant with
messages waiting and a ring of those tenants; its fetch takes one message per turn. Scripts of
our own that put messages on a queue (`dispatch.lua` itself, `priority_redis.ENQUEUE_MANY`,
`redis_operations`'s promote of delayed messages) push them with `PUSH_IN_TURN`, placed before
their body. The key layout is `redis_keys`'s (`tenant_key`, `tenant_ring_key`, `tenant_lanes_key`).
"""

from __future__ import annotations

# push_in_turn(namespace, queue name, lane 1..10, tenant ("" none), message id) -> the list's new
# length (1: it was empty). A tenant whose list was empty joins the
# ring at its head; a ring made now also holds the shared tenant "" and is noted in `<q>#lanes`.
PUSH_IN_TURN = """
local function push_in_turn(namespace, queue_name, lane, tenant, message_id)
    local list = namespace .. ":" .. queue_name
    if lane ~= 5 then list = list .. "|" .. lane end
    if tenant == nil or tenant == "" or string.sub(queue_name, -3) == ".DQ" then
        return redis.call("rpush", list, message_id)
    end
    local length = redis.call("rpush", list .. "@" .. tenant, message_id)
    if length == 1 then
        local ring = list .. "#ring"
        if redis.call("lpush", ring, tenant) == 1 then
            redis.call("rpush", ring, "")
            redis.call("sadd", namespace .. ":" .. queue_name .. "#lanes", lane)
        end
    end
    return length
end
"""
