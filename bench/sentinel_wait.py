"""The cost of REDIS_ENQUEUE_REPLICAS: a bare `send()` against one that waits for a replica (Redis `WAIT 1`).

Starts a primary and a replica of its own (`redis-server` on free local ports, no persistence),
then enqueues the same messages through our Redis broker (`PriorityRedisBroker`, no middleware:
the enqueue path alone), in alternating rounds: bare, then with `wait_for_replicas(broker, 1, ...)`.
The figure is microseconds per send, one sender thread: the round trip of the replica's
acknowledgement is what WAIT adds.

    python -m bench.sentinel_wait
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq import Message

from brokers.priority_redis import PriorityRedisBroker
from brokers.replica_wait import wait_for_replicas

SENDS = 2_000
ROUNDS = 3
WAIT_MS = 1_000


@dataclass
class WaitRun:
    bare_us: list[float]
    waiting_us: list[float]
    short: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not start on port {port}")


@contextmanager
def primary_and_replica() -> Iterator[int]:
    """A primary and one replica in sync; the primary's port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    directory = tempfile.mkdtemp(prefix="adjobs-bench-wait-")
    primary, replica = _free_port(), _free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory]
    processes = [subprocess.Popen([binary, "--port", str(primary), *common], stdout=subprocess.DEVNULL)]
    try:
        _wait_port(primary)
        processes.append(
            subprocess.Popen(
                [binary, "--port", str(replica), "--replicaof", "127.0.0.1", str(primary), *common],
                stdout=subprocess.DEVNULL,
            )
        )
        _wait_port(replica)
        client = redis.Redis(port=replica)
        deadline = time.monotonic() + 30
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync")
            time.sleep(0.1)
        yield primary
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _per_send_us(broker: PriorityRedisBroker, queue: str) -> float:
    messages: list[Message[Any]] = [
        Message(queue_name=queue, actor_name="noop", args=(n,), kwargs={}, options={}) for n in range(SENDS)
    ]
    started = time.perf_counter()
    for message in messages:
        broker.enqueue(message)
    return (time.perf_counter() - started) / SENDS * 1e6


def run() -> WaitRun:
    with primary_and_replica() as port:
        bare = PriorityRedisBroker(client=redis.Redis(port=port), middleware=[])
        waiting = PriorityRedisBroker(client=redis.Redis(port=port), middleware=[])
        wait_for_replicas(waiting, 1, WAIT_MS)
        for broker in (bare, waiting):
            broker.declare_queue("bench-wait")
            _per_send_us(broker, "bench-wait")  # warm-up: scripts loaded, connections open
        bare_us, waiting_us = [], []
        for _ in range(ROUNDS):
            bare_us.append(_per_send_us(bare, "bench-wait"))
            waiting_us.append(_per_send_us(waiting, "bench-wait"))
        short = waiting.scripts["dispatch"].short
        bare.close()
        waiting.close()
    return WaitRun(bare_us, waiting_us, short)


def bench_row() -> tuple[str, str, str, str, str]:
    """`make bench`'s row: microseconds per send with WAIT 1 against without."""
    result = run()
    ours, bare = statistics.median(result.waiting_us), statistics.median(result.bare_us)
    print(
        f"send with WAIT 1: {[round(v) for v in result.waiting_us]} µs, bare {[round(v) for v in result.bare_us]} µs; "
        f"{result.short} sends short of a replica",
        flush=True,
    )
    return (
        f"send() with REDIS_ENQUEUE_REPLICAS=1 (WAIT, local replica), {SENDS:,} sends x {ROUNDS} rounds: µs per send",
        f"{ours:,.0f} µs ({min(result.waiting_us):,.0f}-{max(result.waiting_us):,.0f})",
        f"{bare:,.0f} µs without WAIT",
        f"{ours / bare:.2f}x the time per send (+{ours - bare:,.0f} µs)",
        "measured (the price of a replica's acknowledgement)",
    )


if __name__ == "__main__":
    print(bench_row())
