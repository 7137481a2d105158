"""Worker and producer processes for tests that need real separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def dramatiq_command(*modules: str, processes: int = 2, threads: int = 4, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        str(BIN / "dramatiq"),
        *(modules or ("actors",)),
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        *extra,
    ]


@contextmanager
def worker_process(
    *modules: str,
    processes: int = 2,
    threads: int = 4,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """`dramatiq actors` in its own process group, stopped with SIGTERM (then SIGKILL).

    Its log goes to a temporary file (`process.log_path`), never to a pipe nobody reads: a
    full pipe would block the worker's logging, and with it its jobs.
    """
    log = tempfile.NamedTemporaryFile(prefix="adjobs-worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        dramatiq_command(*modules, processes=processes, threads=threads, extra=extra),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    process.log_path = Path(log.name)  # type: ignore[attr-defined]
    log.close()
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter, as a separate service would."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
