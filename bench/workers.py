"""Processes the benchmarks start: a command in its own process group, stopped with SIGTERM (then SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@contextmanager
def process_group(command: Sequence[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        list(command), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def dramatiq_worker(app: str, processes: int, threads: int, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """`dramatiq <app> --processes N --threads M`, as a context manager."""
    return process_group([str(BIN / "dramatiq"), app, "--processes", str(processes), "--threads", str(threads)], env)
