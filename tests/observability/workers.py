"""`dramatiq` worker runs for the observability tests: stderr kept in a file, SIGTERM to the main process only.

Sending SIGTERM to the main process is what an orchestrator does; the main process passes it on
to its worker processes once (a second SIGTERM would make them exit at once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ROOT, dramatiq_command

MODULES = ("actors", "tests.support.sample_actors", "tests.observability.observed_actors")


@dataclass
class WorkerRun:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, processes: int = 1, timeout: float = 60) -> None:
        """Until every worker process has logged that it is ready (fails with the log otherwise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count("ready for action") >= processes:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.output()[-3000:]}")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the main process, as an orchestrator sends it; returns the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def dramatiq_worker(
    *,
    processes: int = 1,
    threads: int = 2,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[WorkerRun]:
    handle, name = tempfile.mkstemp(prefix="adjobs-worker-", suffix=".log")
    os.close(handle)
    log = Path(name)
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            dramatiq_command(*MODULES, processes=processes, threads=threads, extra=extra),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    run = WorkerRun(process, log)
    try:
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.unlink(missing_ok=True)
