"""Fair turns between tenants on Redis: one publisher's backlog does not delay another's first job."""

from __future__ import annotations

import itertools
import os
import time

from brokers.priority_redis import PriorityRedisBroker
from core.payloads import Priority
from tests.support import processes
from tests.support.tenant_actors import starts, tenant_probe

QUEUE = "tenant-probe"


def fetch_all(broker, count: int) -> list:  # type: ignore[no-untyped-def]
    """The next `count` messages of the probe queue in the order a worker gets them (acknowledged)."""
    consumer = broker.consume(QUEUE, prefetch=count, timeout=100)
    fetched = []
    try:
        deadline = time.monotonic() + 10
        while len(fetched) < count and time.monotonic() < deadline:
            message = next(consumer)
            if message is not None:
                fetched.append(message)
                consumer.ack(message)
    finally:
        consumer.close()
    return fetched


def send(publisher: str, **options):  # type: ignore[no-untyped-def]
    return tenant_probe.send_with_options(kwargs={"publisher_id": publisher, "key": "probe:fair"}, **options)


def test_tenants_take_turns_and_jobs_without_a_tenant_keep_theirs(broker):
    # Given five jobs of publisher A, then two without a tenant, then one of publisher B
    a = [send("pub-a").message_id for _ in range(5)]
    shared = [broker.enqueue(untenanted()).message_id for _ in range(2)]
    b = send("pub-b").message_id
    # When a worker fetches them all
    order = [message.message_id for message in fetch_all(broker, 8)]
    # Then B's job, sent last, comes first (a tenant with nothing waiting takes the next turn); A's keep
    # their order; the jobs without a tenant take a turn each round; nothing is lost
    assert order[0] == b, order
    assert [job for job in order if job in a] == a
    assert order.index(shared[0]) <= 3 and order.index(shared[1]) <= 5, order
    assert sorted(order) == sorted([*a, *shared, b])


def untenanted():  # type: ignore[no-untyped-def]
    """A probe message that names no tenant (as one sent by a producer that knows nothing of tenants)."""
    message = tenant_probe.message_with_options(kwargs={"publisher_id": "p", "key": "k"})
    message.options.pop("tenant")
    return message


def test_the_payloads_publisher_is_the_tenant_unless_the_send_names_one(broker):
    # Given a publisher-scoped actor, When jobs are sent with and without `tenant=`
    by_payload = send("pub-a")
    named = send("pub-a", tenant="campaign-7")
    # Then the payload's publisher is the tenant unless the send names another
    assert by_payload.options["tenant"] == "pub-a"
    assert named.options["tenant"] == "campaign-7"
    assert broker.tenant_backlog(QUEUE) == {"pub-a": 1, "campaign-7": 1}


def test_priority_still_comes_before_the_turns(broker):
    # Given a backlog of NORMAL jobs of A and B, and one CRITICAL job of A sent last
    for _ in range(3):
        send("pub-a")
        send("pub-b")
    critical = send("pub-a", priority=Priority.CRITICAL).message_id
    # When fetched, Then the CRITICAL job comes first, then A and B alternate
    fetched = fetch_all(broker, 7)
    assert fetched[0].message_id == critical
    tenants = [message.options["tenant"] for message in fetched[1:]]
    assert all(first != second for first, second in itertools.pairwise(tenants)), tenants


def test_a_queue_without_tenants_uses_only_its_lane_lists(broker, redis_client):
    # Given jobs that name no tenant
    for _ in range(3):
        broker.enqueue(untenanted())
    # Then no tenant list, ring or lane set exists: the queue is read exactly as before
    keys = sorted(key.decode() for key in redis_client.keys(f"{broker.namespace}:{QUEUE}*"))
    assert keys == [f"{broker.namespace}:{QUEUE}", f"{broker.namespace}:{QUEUE}.msgs"]
    assert broker.tenant_backlog(QUEUE) == {"": 3}


def test_requeued_cancelled_drained_and_delayed_messages_keep_their_tenant(broker, redis_client):
    # Given jobs of A and B waiting
    a1, a2 = send("pub-a"), send("pub-a")
    b1 = send("pub-b")
    assert broker.tenant_backlog(QUEUE) == {"pub-a": 2, "pub-b": 1}
    # When a consumer fetches all three and gives them back (a worker stopping)
    consumer = broker.consume(QUEUE, prefetch=3, timeout=100)
    held = []
    while len(held) < 3:
        message = next(consumer)
        if message is not None:
            held.append(message)
    assert broker.tenant_backlog(QUEUE) == {}
    consumer.requeue(held)
    consumer.close()
    # Then each is back on its tenant's list
    assert broker.tenant_backlog(QUEUE) == {"pub-a": 2, "pub-b": 1}
    # When B's job is cancelled while waiting, Then B leaves the ring and A's remain
    assert broker.remove_message(QUEUE, b1.options["redis_message_id"], delayed=False)
    assert broker.tenant_backlog(QUEUE) == {"pub-a": 2}
    ring = [tenant.decode() for tenant in redis_client.lrange(f"{broker.namespace}:{QUEUE}#ring", 0, -1)]
    assert "pub-b" not in ring
    # When a delayed job of C is made due now, Then it joins C's list
    delayed = send("pub-c", delay=60_000)
    ref = redis_client.lrange(f"{broker.namespace}:{QUEUE}.DQ", 0, -1)[0].decode()
    assert broker.promote_delayed(QUEUE, [ref]).moved_ids == [delayed.message_id]
    assert broker.tenant_backlog(QUEUE) == {"pub-a": 2, "pub-c": 1}
    # When the queue is drained, Then every tenant's list, ring and lane set is gone with the jobs
    drained = broker.drain_queue(QUEUE)
    assert sorted(drained.removed_ids) == sorted([a1.message_id, a2.message_id, delayed.message_id])
    assert sorted(key.decode() for key in redis_client.keys(f"{broker.namespace}:{QUEUE}*")) == []


def test_a_dead_workers_messages_go_back_to_their_tenants(broker, redis_client):
    # Given a connection that fetched A's and B's jobs, then died (its heartbeat is long stale)
    send("pub-a")
    send("pub-b")
    doomed = PriorityRedisBroker(url=os.environ["REDIS_URL"], middleware=[])
    reader = PriorityRedisBroker(url=os.environ["REDIS_URL"], middleware=[], heartbeat_timeout=2000)
    try:
        ids, _ = doomed.do_fetch(QUEUE, 2)
        assert len(ids) == 2 and broker.tenant_backlog(QUEUE) == {}
        redis_client.zadd(f"{broker.namespace}:__heartbeats__", {doomed.broker_id: 0})
        # When its orphans are given back
        orphans = reader.requeue_orphans()
    finally:
        doomed.close()
        reader.close()
    # Then each is back on its tenant's list
    assert orphans.requeued == 2
    assert broker.tenant_backlog(QUEUE) == {"pub-a": 1, "pub-b": 1}


def test_b_starts_next_behind_a_thousand_jobs_of_a(redis_client, broker):
    # Given publisher A's 1,000 jobs waiting, and two worker processes of one thread each started on them
    tenant_probe.send_many({"publisher_id": "pub-a", "key": "probe:fair", "seconds": 0.02} for _ in range(1000))
    concurrency = 2
    with processes.worker_process("tests.support.tenant_actors", processes=2, threads=1):
        deadline = time.monotonic() + 60
        while redis_client.llen("probe:fair") < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        # When publisher B sends one job
        seconds, micros = redis_client.time()
        sent_at = seconds + micros / 1e6
        tenant_probe.send(publisher_id="pub-b", key="probe:fair", seconds=0.02)
        while not any(t == "pub-b" for t, _, _ in starts(redis_client, "probe:fair")) and time.monotonic() < deadline:
            time.sleep(0.01)
    rows = starts(redis_client, "probe:fair")
    b_start = next(start for tenant, start, _ in rows if tenant == "pub-b")
    a_before_b = sum(1 for tenant, start, _ in rows if tenant == "pub-a" and sent_at <= start < b_start)
    left = 1000 - sum(1 for tenant, start, _ in rows if tenant == "pub-a" and start < b_start)
    print(f"\nB's one job behind A's 1,000: started after {a_before_b} of A's; {left} of A's still waiting")
    # Then B's job starts after at most `concurrency` of A's, while most of A's still wait
    assert left > 500
    assert a_before_b <= concurrency
