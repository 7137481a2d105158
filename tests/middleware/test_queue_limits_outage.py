"""A concurrency slot whose release meets Redis away is released once Redis answers, not left to expire.

Left to expire, every slot released during a Redis restart or a Sentinel failover would hold
the queue's whole limit until the key's time to live (the queue's time limit plus a minute):
the queue stalls for eleven minutes (RELIABILITY.md, the Sentinel failover row).
"""

from __future__ import annotations

import threading
import time

import redis
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from middleware.queue_limits import _give_back
from tests.chaos.faults import OwnRedis


def test_a_slot_released_while_redis_restarts_is_released_once_it_answers():
    # Given a queue limit of 1 on a Redis of the test's own, its one slot taken by a running job
    own = OwnRedis()
    try:
        backend = RedisBackend(client=redis.Redis.from_url(own.url, socket_connect_timeout=0.5, socket_timeout=1))
        limiter = ConcurrentRateLimiter(backend, "adjobs:limits:concurrency:outage", limit=1, ttl=600_000)
        assert limiter._acquire()
        # When the job ends while Redis is stopped, and Redis comes back 2 s later
        own.stop()
        errors: list[BaseException] = []

        def end_of_job() -> None:
            try:
                _give_back(limiter, patience=30)
            except BaseException as error:  # reported by the assertion below
                errors.append(error)

        releasing = threading.Thread(target=end_of_job)
        releasing.start()
        time.sleep(2)
        assert releasing.is_alive(), "the release gave up (or passed) while Redis was away"
        own.start()
        releasing.join(30)
        # Then the release landed: the slot is free for the next job, long before the key would expire
        assert not releasing.is_alive() and errors == []
        assert limiter._acquire(), "the slot is still taken: the queue would stall until its key expires"
    finally:
        own.close()
