"""A consumer closed while Redis is away raises what Dramatiq's consumer thread expects, so the thread lives.

Dramatiq's consumer thread, after an error, closes its consumer, which gives the worker's delayed
messages back (`requeue`). It swallows Dramatiq's `ConnectionError` there and nothing else: a
redis-py error ended the thread for good and its queue was never read again (the Sentinel
failover run stalled with thousands of delayed jobs: RELIABILITY.md).
"""

from __future__ import annotations

import pytest
from dramatiq import Message
from dramatiq.errors import BrokerConnectionError

from brokers.priority_redis import PriorityRedisBroker
from tests.chaos.faults import OwnRedis


def test_requeue_with_redis_away_raises_dramatiqs_connection_error_and_the_messages_come_back_later():
    # Given a consumer holding a delayed message it fetched, on a Redis of the test's own
    own = OwnRedis()
    broker = PriorityRedisBroker(url=own.url, middleware=[], heartbeat_timeout=5_000, maintenance_interval=1.0)
    try:
        broker.declare_queue("outage")
        message: Message[object] = Message(queue_name="outage", actor_name="a", args=(), kwargs={}, options={})
        broker.enqueue(message, delay=60_000)
        consumer = broker.consume("outage.DQ", prefetch=10, timeout=100)
        fetched = next(item for item in consumer if item is not None)
        first_id = broker.broker_id
        # When Redis stops and the consumer gives the message back (as a consumer thread's close does)
        own.stop()
        # Then it raises Dramatiq's ConnectionError (which the consumer thread expects), not redis-py's
        with pytest.raises(BrokerConnectionError):
            consumer.requeue([fetched])
        assert broker.broker_id != first_id, "the outage did not retire the connection id"
        # And once Redis is back, the message is still in the old id's acknowledgement set, to come back from there
        own.start()
        client = broker.client
        assert client.sismember(f"dramatiq:__acks__.{first_id}.outage.DQ", fetched.options["redis_message_id"])
    finally:
        broker.close()
        own.close()
