"""Other job systems on the same Redis, draining no-op jobs: Celery (prefork 2), RQ (2 workers), huey (threads).

Each run enqueues the jobs with the framework's own one-by-one call, then starts its workers
and times the drain from the first job taken off the queue until the queue is empty (the
last few in a worker's hands are not waited for; at thousands of jobs that is noise).

huey runs twice: one consumer of 8 threads, and, like for like with our `--processes 2
--threads 8`, two consumers of 8 threads side by side (huey's consumer has processes or
threads, not processes with threads). Each anchor names the worker shape of ours it is
compared with (`ours`: processes, threads).
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass

import redis

from bench.workers import BIN, ROOT, process_group


@dataclass(frozen=True)
class Anchor:
    name: str
    jobs: int
    queue_key: str
    enqueue: str  # Python run in a fresh process; `URL` and `JOBS` are defined
    workers: tuple[tuple[str, ...], ...]
    #: Our worker shape to compare with (processes, threads).
    ours: tuple[int, int] = (2, 8)


#: One huey consumer: one process, 8 worker threads.
HUEY_CONSUMER = (str(BIN / "huey_consumer"), "bench.huey_app.huey", "-k", "thread", "-w", "8", "-q")

ANCHORS = (
    Anchor(
        "Celery 5 (prefork, 2 processes)",
        5_000,
        "celery",
        "from bench.celery_app import noop\nfor i in range(JOBS): noop.delay(i)\n",
        (
            (str(BIN / "celery"), "-A", "bench.celery_app", "worker", "--pool", "prefork", "--concurrency", "2",
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"),
        ),
    ),
    Anchor(
        "RQ (2 workers)",
        1_000,
        "rq:queue:bench",
        "import redis\nfrom rq import Queue\nfrom bench.rq_app import noop\n"
        "q = Queue('bench', connection=redis.Redis.from_url(URL))\nfor i in range(JOBS): q.enqueue(noop, i)\n",
        tuple((str(BIN / "rq"), "worker", "--burst", "--url", "{url}", "--quiet", "bench") for _ in range(2)),
    ),
    Anchor(
        "huey (1 process, 8 threads)",
        20_000,
        "huey.redis.bench",
        "from bench.huey_app import noop\nfor i in range(JOBS): noop(i)\n",
        (HUEY_CONSUMER,),
        ours=(1, 8),
    ),
    Anchor(
        "huey (2 processes x 8 threads: two `huey_consumer -k thread -w 8` side by side)",
        20_000,
        "huey.redis.bench",
        "from bench.huey_app import noop\nfor i in range(JOBS): noop(i)\n",
        (HUEY_CONSUMER, HUEY_CONSUMER),
        ours=(2, 8),
    ),
)  # fmt: skip


def drain_rate(anchor: Anchor, redis_url: str, env: dict[str, str]) -> float:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    code = f"URL = {redis_url!r}\nJOBS = {anchor.jobs}\n" + anchor.enqueue
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    waiting = client.llen(anchor.queue_key)
    assert waiting == anchor.jobs, f"{anchor.name}: {waiting} of {anchor.jobs} queued"
    with ExitStack() as workers:
        for command in anchor.workers:
            workers.enter_context(process_group([part.format(url=redis_url) for part in command], env))
        deadline = time.monotonic() + 120
        while client.llen(anchor.queue_key) == anchor.jobs:
            assert time.monotonic() < deadline, f"{anchor.name}: no worker took a job"
            time.sleep(0.001)
        started = time.perf_counter()
        while client.llen(anchor.queue_key) > 0:
            time.sleep(0.002)
        return anchor.jobs / (time.perf_counter() - started)
