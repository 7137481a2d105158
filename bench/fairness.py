"""Fair turns between tenants: B's one job behind A's 1,000, and what tenants cost a no-op drain.

Fairness: publisher A has 1,000 export-like jobs (`JOB_MS` each) waiting, a worker of
`PROCESSES` processes x 1 thread (concurrency 2) works through them; when 20 have started,
publisher B sends one. The figure is how many of A's jobs started between B's send and B's
start (target: at most the concurrency; goal: 0, the next job). Bare Dramatiq's queue is first
in, first out: there B waits for every job queued before it (the anchor is that count).

Cost: the same no-op jobs drained by `dramatiq --processes 2 --threads 8`, once each sent with a
tenant (`TENANTS` publishers, in turn) and once without, in alternating rounds; the figure is the
drain rate with tenants over the rate without (target >= 0.9x).

Alone: `python -m bench.fairness [--jobs N] [--rounds N]` (BENCH_REDIS_URL and DATABASE_URL as
`make bench` sets them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import redis

from bench.workers import dramatiq_worker

#: Milliseconds an export-like job takes.
JOB_MS = 20
#: Worker processes (one thread each) of the fairness run: its concurrency.
PROCESSES = 2
#: Publishers the no-op jobs with a tenant are spread over.
TENANTS = 20


@dataclass
class FairnessRun:
    a_before_b: int
    waiting_at_send: int
    #: Milliseconds from B's send to its start.
    start_ms: float


@dataclass
class CostRun:
    with_tenants: float  # jobs per second
    without: float


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def fairness_once(redis_url: str, env: dict[str, str], a_jobs: int = 1000) -> FairnessRun:
    from bench.fair_app import export_like

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    export_like.send_many({"publisher_id": "pub-a", "ms": JOB_MS} for _ in range(a_jobs))
    with dramatiq_worker("bench.fair_app", PROCESSES, 1, env):
        deadline = time.monotonic() + 120
        while client.llen("bench:fair:starts") < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        if client.llen("bench:fair:starts") < 20:
            raise RuntimeError("the worker started fewer than 20 of A's jobs in two minutes")
        waiting = int(client.hlen("dramatiq:bench-fair.msgs"))
        sent_at = _now(client)
        export_like.send(publisher_id="pub-b", ms=JOB_MS)
        b_start = None
        while b_start is None and time.monotonic() < deadline:
            for item in client.lrange("bench:fair:starts", 0, -1):
                tenant, _, start = _text(item).rpartition(":")
                if tenant == "pub-b":
                    b_start = float(start)
            time.sleep(0.005)
    if b_start is None:
        raise RuntimeError("B's job did not start within two minutes")
    starts = [_text(item).rpartition(":") for item in client.lrange("bench:fair:starts", 0, -1)]
    a_before_b = sum(1 for tenant, _, start in starts if tenant == "pub-a" and sent_at <= float(start) < b_start)
    return FairnessRun(a_before_b=a_before_b, waiting_at_send=waiting, start_ms=(b_start - sent_at) * 1000)


def _drain(client: redis.Redis, env: dict[str, str], jobs: int) -> float:
    """Jobs per second once both worker processes fetch, to the last acknowledgement (2 processes x 8 threads).

    Timed from the moment both processes hold fetched jobs (each connection's ack set exists), with
    the jobs left then: a process that boots later than the other does not count against the rate.
    """
    hash_key = "dramatiq:bench-fair-noop.msgs"
    with dramatiq_worker("bench.fair_app", 2, 8, env):
        deadline = time.monotonic() + 600
        while len(client.keys("dramatiq:__acks__.*.bench-fair-noop")) < 2 and time.monotonic() < deadline:
            time.sleep(0.002)
        started, left = time.monotonic(), int(client.hlen(hash_key))
        while client.hlen(hash_key) > 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        ended = time.monotonic()
    if client.hlen(hash_key):
        raise RuntimeError(f"the drain did not finish: {client.hlen(hash_key)} jobs left")
    if left < jobs // 2:
        raise RuntimeError(f"only {left} of {jobs} jobs were left when both processes fetched: use more jobs")
    return left / (ended - started)


def cost_once(redis_url: str, env: dict[str, str], jobs: int, round_: int = 0) -> CostRun:
    """One drain with tenants and one without; odd rounds drain the one without first."""
    from bench.fair_app import noop_shared, noop_tenant

    client = redis.Redis.from_url(redis_url)
    rates = {}
    variants = [("with", noop_tenant), ("without", noop_shared)]
    for variant, actor in variants if round_ % 2 == 0 else variants[::-1]:
        client.flushdb()
        actor.send_many({"publisher_id": f"pub-{n % TENANTS}", "n": n} for n in range(jobs))
        rates[variant] = _drain(client, env, jobs)
    return CostRun(with_tenants=rates["with"], without=rates["without"])


def bench_rows(env: dict[str, str], runs: int, jobs: int) -> list[tuple[str, str, str, str, str]]:
    """The fairness row and the cost row of BENCHMARKS.md."""
    redis_url = env["BENCH_REDIS_URL"]
    fair = [fairness_once(redis_url, env) for _ in range(runs)]
    cost = [cost_once(redis_url, env, jobs, round_) for round_ in range(runs)]
    overtaken = [r.a_before_b for r in fair]
    start_ms = [r.start_ms for r in fair]
    ratios = [r.with_tenants / r.without for r in cost]
    print(
        f"fairness: B started after {overtaken} of A's jobs, {[round(ms) for ms in start_ms]} ms after its send; "
        f"no-op drain with tenants / without {[round(ratio, 2) for ratio in ratios]}",
        flush=True,
    )
    waiting = [r.waiting_at_send for r in fair]
    return [
        (
            f"B's one job sent behind publisher A's 1,000 ({JOB_MS} ms jobs, {PROCESSES} processes x 1 thread): "
            "A's jobs started before it",
            f"{statistics.median(overtaken):.0f} ({min(overtaken)}-{max(overtaken)}); "
            f"started {statistics.median(start_ms):.0f} ms after its send",
            f"{statistics.median(waiting):.0f} (bare Dramatiq: FIFO, every job queued before it)",
            "n/a",
            f"≤ concurrency ({PROCESSES}), goal 0 (next job)",
        ),
        (
            f"no-op drain, {jobs:,} jobs over {TENANTS} tenants vs the same queue without tenants "
            "(2 processes x 8 threads, alternating)",
            f"{statistics.median([r.with_tenants for r in cost]):,.0f} jobs/s",
            f"{statistics.median([r.without for r in cost]):,.0f} jobs/s",
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            "≥ 0.90x",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=20000, help="no-op jobs per drain")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    env.setdefault("REDIS_URL", env["BENCH_REDIS_URL"])
    for row in bench_rows(env, args.rounds, args.jobs):
        print(" | ".join(row))


if __name__ == "__main__":
    main()
