"""Throughput: our full stack against bare Dramatiq, same Redis, same worker flags, same job.

The job (`JOB_KINDS`) is a no-op, one Redis round trip (`INCR`) or a 1 ms sleep. Each run enqueues
N messages with the variant's own `send()` (timed: the enqueue rate),
then starts `dramatiq <app> --processes 2 --threads 8` and times the drain from the first
fetch until the last message is acknowledged. For the full stack it also waits until the
job store holds every job as completed (the store lag after the drain).

With `root` (a checkout from `bench.baseline`, and its environment) the producer and the worker
run that tree's code: the same measurement of the code before a redesign.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
from sqlalchemy import text

from bench.workers import ROOT, dramatiq_worker
from db.engine import get_engine

#: The jobs a run may drain (actors of `bench.bare_app` and `bench.full_app`, all on queue `bench`).
JOB_KINDS = {"noop": "a no-op", "incr": "one Redis round trip (INCR)", "nap": "a 1 ms sleep"}


#: Longest a run's worker may take to drain its jobs.
WORKER_DEADLINE_S = 600


@dataclass
class Run:
    variant: str
    jobs: int
    enqueue_per_s: float
    drain_per_s: float
    store_lag_s: float | None = None
    #: Per job, enqueue to acknowledgement (and the store's write): Redis commands, PostgreSQL
    #: transactions and rows written, worker CPU milliseconds.
    redis_commands: float = 0.0
    pg_transactions: float = 0.0
    pg_rows: float = 0.0
    cpu_ms: float = 0.0


def _redis_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def _pg_counters() -> tuple[int, int]:
    """(transactions committed, rows inserted + updated) of the bench database so far."""
    with get_engine().connect() as connection:
        row = connection.execute(
            text(
                "SELECT xact_commit, tup_inserted + tup_updated FROM pg_stat_database"
                " WHERE datname = current_database()"
            )
        ).one()
    return int(row[0]), int(row[1])


def _cpu_seconds(pid: int) -> float:
    total = 0.0
    parent = psutil.Process(pid)
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


#: Where the job store's buffer lives, oldest first: `db.store_buffer` before issue 19's redesign (a
#: checkout of that code must flush its own), `runtime.store_buffer` since.
_STORE_BUFFERS = ("db.store_buffer", "runtime.store_buffer")


def _enqueue(variant: str, jobs: int, env: dict[str, str], root: Path = ROOT, job: str = "noop") -> float:
    code = (
        "import importlib, time\n"
        f"from bench.{variant}_app import {job} as job\n"
        "t = time.perf_counter()\n"
        f"for i in range({jobs}): job.send(n=i)\n"
        "elapsed = time.perf_counter() - t\n"
        f"for name in {_STORE_BUFFERS!r}:\n"
        "    try:\n"
        "        importlib.import_module(name).get_buffer().flush(timeout=120)\n"
        "        break\n"
        "    except ImportError:\n"
        "        continue\n"
        "import sys\n"
        "print(' '.join(sys.modules[name].__file__ for name in ('bench', 'actors') if name in sys.modules))\n"
        "print(elapsed)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    *_, packages, elapsed = out.stdout.strip().splitlines()
    elsewhere = [package for package in packages.split() if not Path(package).is_relative_to(root)]
    assert not elsewhere, f"the producer imported {elsewhere}, not the code in {root}"
    return jobs / float(elapsed)


def bulk_enqueue_rate(jobs: int, redis_url: str, env: dict[str, str]) -> float:
    """Jobs/s of one `send_many()` of `jobs` no-op jobs (validated, recorded, pipelined)."""
    redis.Redis.from_url(redis_url).flushdb()
    code = (
        "import time\n"
        "from bench.full_app import noop\n"
        "from runtime.store_buffer import get_buffer\n"
        f"payloads = [{{'n': i}} for i in range({jobs})]\n"
        "t = time.perf_counter()\n"
        "noop.send_many(payloads)\n"
        "elapsed = time.perf_counter() - t\n"
        "get_buffer().flush(timeout=120)\n"
        "print(elapsed)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    count = redis.Redis.from_url(redis_url).llen("dramatiq:bench")
    assert count == jobs, f"send_many enqueued {count} of {jobs}"
    return jobs / float(out.stdout.strip().splitlines()[-1])


def run_once(
    variant: str,
    jobs: int,
    redis_url: str,
    env: dict[str, str],
    workers: tuple[int, int] = (2, 8),
    root: Path = ROOT,
    job: str = "noop",
) -> Run:
    """Enqueue and drain `jobs` jobs of `job` (a key of `JOB_KINDS`) with `bench.<variant>_app` of `root` (this tree
    by default)."""
    assert job in JOB_KINDS, job
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.config_resetstat()
    time.sleep(1.2)  # PostgreSQL publishes a backend's counters at most once a second
    pg_before = _pg_counters()
    enqueue_rate = _enqueue(variant, jobs, env, root, job)
    assert client.llen("dramatiq:bench") == jobs, "enqueue lost messages"
    processes, threads = workers
    polls = 0
    with dramatiq_worker(f"bench.{variant}_app", processes, threads, env, root) as worker:
        deadline = time.monotonic() + WORKER_DEADLINE_S
        while client.llen("dramatiq:bench") == jobs:
            polls += 1
            time.sleep(0.001)
            if polls % 500 == 0:
                _check_worker(worker, deadline, "took no job")
        started = time.perf_counter()
        while client.hlen("dramatiq:bench.msgs") > 0:
            polls += 1
            time.sleep(0.002)
            if polls % 500 == 0:
                _check_worker(worker, deadline, "left jobs undone")
        drained = time.perf_counter() - started
        commands = _redis_calls(client) - polls - 2  # our own polling, the assert's llen
        cpu = _cpu_seconds(worker.pid)
        lag = None
        if variant == "full":
            lag = _store_lag(jobs)
    time.sleep(1.2)
    pg_after = _pg_counters()
    return Run(
        variant,
        jobs,
        enqueue_rate,
        jobs / drained,
        lag,
        redis_commands=commands / jobs,
        pg_transactions=(pg_after[0] - pg_before[0]) / jobs,
        pg_rows=(pg_after[1] - pg_before[1]) / jobs,
        cpu_ms=1000 * cpu / jobs,
    )


def _check_worker(worker: subprocess.Popen[bytes], deadline: float, what: str) -> None:
    """Stop a run whose worker exited (a refused start: a schema to migrate, a setting) or hangs."""
    code = worker.poll()
    if code is not None or time.monotonic() > deadline:
        state = f"exited with code {code}" if code is not None else f"still running after {WORKER_DEADLINE_S} s"
        raise RuntimeError(f"the benchmark's worker {what}: it {state} (run it by hand to see why)")


def _store_lag(jobs: int) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < 60:
        with get_engine().connect() as connection:
            done = connection.execute(
                text("SELECT count(*) FROM jobs WHERE queue = 'bench' AND state = 'completed'")
            ).scalar_one()
        if done >= jobs:
            return time.perf_counter() - started
        time.sleep(0.05)
    return float("nan")


def clear_store() -> None:
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE queue = 'bench'"))
