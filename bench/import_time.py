"""Start-up cost of a service that sends: a fresh process imports one actor module and sends one job.

Ours is what the README tells a service to write (`from actors.aggregation import aggregate_analytics`,
then `send()`), job store record included (its event rides the enqueue, in the same script call, for
the store's writers: the process opens no database connection); the anchor is bare Dramatiq doing
the same: import dramatiq, make a Redis broker, declare an actor, send. Both run on the same Redis
database, timed from starting the interpreter until it exits (the interpreter's own start is in
both), alternately, `runs` times each. A second figure, for information, is the import of
`actors.catalog` alone: what `jobsctl` and the API pay as they start.

Both sides run from compiled bytecode, as a deployed service does (pip and the image compile it):
the timed processes run without PYTHONDONTWRITEBYTECODE, so the first, untimed start writes ours
(bare Dramatiq's was written by pip). With it set, every start of ours would compile each project
module again (about 0.1 s) while bare Dramatiq's loads compiled.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import redis
from sqlalchemy import delete

from bench.workers import ROOT
from db.engine import get_engine
from db.models import JobRecord

DAY = "2026-11-23"
OURS = (
    "from actors.aggregation import aggregate_analytics\n"
    f"message = aggregate_analytics.send(start_date={DAY!r}, end_date={DAY!r}, granularity='day')\n"
    "print(message.message_id)\n"
)
BARE = (
    "import os\n"
    "import dramatiq\n"
    "from dramatiq.brokers.redis import RedisBroker\n"
    "dramatiq.set_broker(RedisBroker(url=os.environ['BENCH_REDIS_URL']))\n"
    "@dramatiq.actor(queue_name='bench-import')\n"
    "def aggregate_analytics(start_date, end_date, granularity):\n"
    "    return None\n"
    f"message = aggregate_analytics.send(start_date={DAY!r}, end_date={DAY!r}, granularity='day')\n"
    "print(message.message_id)\n"
)
CATALOG = "import actors.catalog\n"
#: Where each variant's message waits (Dramatiq's Redis layout: the message bodies of a queue).
MESSAGES = {OURS: "dramatiq:analytics-aggregation.msgs", BARE: "dramatiq:bench-import.msgs"}


@dataclass
class Result:
    ours_s: list[float]
    bare_s: list[float]
    catalog_s: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours_s) / statistics.median(self.bare_s)


def _timed(code: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from starting a fresh interpreter running `code` until it exits, and what it printed."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert out.returncode == 0, out.stderr[-3000:]
    return elapsed, out.stdout.strip()


def measure(env: dict[str, str], runs: int = 5) -> Result:
    """`runs` fresh processes of each variant, alternating (ours, bare, catalog, ours, ...)."""
    env = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    client = redis.Redis.from_url(env["BENCH_REDIS_URL"])
    client.flushdb()
    _timed(CATALOG, env)  # a first start writes any missing bytecode and warms the page cache, for both sides
    result = Result([], [], [])
    sent: list[str] = []
    try:
        for _ in range(runs):
            for code, into in ((OURS, result.ours_s), (BARE, result.bare_s), (CATALOG, result.catalog_s)):
                seconds, printed = _timed(code, env)
                into.append(seconds)
                if code == OURS:
                    sent.append(printed)
        for key in MESSAGES.values():
            assert client.hlen(key) == runs, f"{key}: {client.hlen(key)} of {runs} messages sent"
    finally:
        client.flushdb()  # the aggregation jobs must not run in a later benchmark's worker
        if sent:
            with get_engine().begin() as connection:
                connection.execute(delete(JobRecord).where(JobRecord.id.in_(sent)))
    return result


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def bench_rows(env: dict[str, str], runs: int) -> list[tuple[str, str, str, str, str]]:
    """The rows of BENCHMARKS.md: import one actor module and send one job, and `import actors.catalog`."""
    found = measure(env, runs)
    print(
        f"import and send: ours {[round(s, 2) for s in found.ours_s]} s, bare {[round(s, 2) for s in found.bare_s]} s,"
        f" import actors.catalog {[round(s, 2) for s in found.catalog_s]} s",
        flush=True,
    )
    bare = statistics.median(found.bare_s)
    return [
        (
            f"fresh process: import one actor module and send one job (a service's start), seconds ({runs} runs)",
            _median_range(found.ours_s),
            _median_range(found.bare_s) + " (bare Dramatiq: import, Redis broker, an actor, send)",
            f"{found.ratio:.2f}x",
            "≤ 2x",
        ),
        (
            f"fresh process: import actors.catalog, every actor (what jobsctl and the API load), seconds ({runs} runs)",
            _median_range(found.catalog_s),
            _median_range(found.bare_s) + " (bare Dramatiq, as above)",
            f"{statistics.median(found.catalog_s) / bare:.2f}x",
            "for information",
        ),
    ]
