"""Faults for the reliability tests: a cuttable TCP path, a Redis of the test's own, worker groups.

- `TcpProxy` stands between workers and PostgreSQL; `cut()` closes every connection and the
  port (clients get "connection refused"), `restore()` opens it again: the database is
  unreachable without stopping the session's server.
- `OwnRedis` is a `redis-server` with `appendonly yes` in a temporary directory, restarted
  (SIGTERM, then started again on the same port and files) under load.
- `WorkerGroups` runs several `dramatiq` commands, each its own process group, to kill with
  SIGKILL or stop with SIGTERM and replace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support import processes, servers


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`; can be cut and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = servers.free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class OwnRedis:
    """A redis-server with `appendonly yes`, for the restart test."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise servers.ServerUnavailable("redis-server is not installed: the Redis restart test needs its own")
        self.binary = binary
        self.port = servers.free_port()
        self.directory = tempfile.mkdtemp(prefix="adjobs-aof-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", self.directory,
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        servers._wait_for_port(self.port, "redis-server (appendonly)")

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file out and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class WorkerGroups:
    """`dramatiq actors tests.chaos.ledger_jobs` commands, each in its own process group."""

    MODULES = ("actors", "tests.chaos.ledger_jobs")

    def __init__(self, env: dict[str, str], *, processes_each: int = 1, threads: int = 8) -> None:
        self.env = {**os.environ, **env}
        self.processes_each = processes_each
        self.threads = threads
        self.running: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.killed = 0

    def start(self) -> subprocess.Popen[bytes]:
        log = tempfile.NamedTemporaryFile(prefix="adjobs-chaos-worker-", suffix=".log", delete=False)  # noqa: SIM115
        process = subprocess.Popen(
            processes.dramatiq_command(*self.MODULES, processes=self.processes_each, threads=self.threads),
            cwd=processes.ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.logs.append(Path(log.name))
        self.running.append(process)
        return process

    def kill(self, index: int = 0) -> None:
        """SIGKILL every process of one group, as a machine losing power would."""
        process = self.running.pop(index)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.killed += 1

    def terminate_all(self, timeout: float = 120) -> list[int]:
        """SIGTERM to every group at once; their exit codes."""
        for process in self.running:
            os.killpg(process.pid, signal.SIGTERM)
        codes = [process.wait(timeout=timeout) for process in self.running]
        self.running = []
        return codes

    def close(self) -> None:
        for process in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.running = []

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())


@contextlib.contextmanager
def worker_groups(env: dict[str, str], **kwargs: int) -> Iterator[WorkerGroups]:
    groups = WorkerGroups(env, **kwargs)
    try:
        yield groups
    finally:
        groups.close()


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "condition") -> float:  # type: ignore[no-untyped-def]
    """Poll `predicate` until true; the seconds it took. Fails naming `what`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic() - started
