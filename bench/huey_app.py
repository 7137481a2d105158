"""Anchor: huey on Redis with a no-op task (results off), for the throughput comparison."""

from __future__ import annotations

import os

from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"], results=False)


@huey.task()
def noop(n: int) -> None:
    return None
