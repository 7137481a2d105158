"""Processes the benchmarks start: a command in its own process group, stopped with SIGTERM (then SIGKILL).

They start in this tree (`ROOT`) unless given another `root`: a checkout of older code (`bench.baseline`),
with an environment from `bench.baseline.tree_env`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@contextmanager
def process_group(command: Sequence[str], env: dict[str, str], root: Path = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        list(command), cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
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


def dramatiq_worker(
    app: str, processes: int, threads: int, env: dict[str, str], root: Path = ROOT
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`dramatiq <app> --processes N --threads M`, started in `root`, as a context manager."""
    return process_group(
        [str(BIN / "dramatiq"), app, "--processes", str(processes), "--threads", str(threads)], env, root
    )
