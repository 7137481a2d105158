"""Two real `dramatiq` worker processes on the test Redis, a slow job for one of them, and a `periodiq` beat.

For the tests of the workers page, `GET /api/v1/workers` and `jobsctl workers`. Heartbeats every
second (WORKER_HEARTBEAT_INTERVAL=1), so a test sees a change within about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

from tests.support import processes
from tests.support.sample_actors import slow_steps

T = TypeVar("T")

#: Heartbeats every second, for worker and beat processes alike.
HEARTBEAT_ENV = {"WORKER_HEARTBEAT_INTERVAL": "1"}
MODULES = ("actors", "tests.support.sample_actors", "tests.support.sample_schedules")
THREADS = 2


@contextmanager
def two_workers(count: int = 2) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` separate `dramatiq actors ...` commands, one worker process and THREADS threads each."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(processes.worker_process(*MODULES, processes=1, threads=THREADS, env=HEARTBEAT_ENV))
            for _ in range(count)
        ]


@contextmanager
def beat() -> Iterator[subprocess.Popen[bytes]]:
    """`periodiq actors ...`: a beat, as production starts one."""
    process = subprocess.Popen(
        [str(processes.BIN / "periodiq"), *MODULES],
        cwd=processes.ROOT,
        env={**os.environ, **HEARTBEAT_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def send_slow(key: str, seconds: float) -> str:
    """A `slow_steps` job on `test-jobs` that runs about `seconds`; returns its id."""
    steps = max(1, round(seconds / 0.25))
    return str(slow_steps.send(key=key, steps=steps, step_seconds=0.25).message_id)


def parent_of(pid: int) -> int:
    """The parent process id of `pid` (a worker process's parent is the `dramatiq` command that forked it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def wait_for(read: Callable[[], T], what: str, timeout: float = 60, until: Callable[[T], object] = bool) -> T:
    """Call `read` until `until` accepts what it returns (by default: anything not empty); returns that.

    Fails naming `what`, with the last read, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = read()
        if until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s; last read: {last!r}")
        time.sleep(0.2)
