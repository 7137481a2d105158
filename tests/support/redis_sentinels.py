"""A Redis primary, one replica and three Sentinels, all local processes on free ports, for failover tests.

`SentinelGroup` starts `redis-server --port N` twice (the second `--replicaof` the first) and
three `redis-server <config> --sentinel` (there is no `redis-sentinel` binary here; that flag is
the same program) with a generated configuration in a temporary directory, which Sentinel
rewrites as it learns. `kill_primary()` SIGKILLs the primary; `wait_for_failover()` waits until
the Sentinels name the replica; `restart_old_primary()` starts the killed one again on its port (empty: no
persistence) as a replica of the new primary, and the Sentinels list it among its replicas.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from tests.support import servers

MASTER_NAME = "adjobs-test"
#: Sentinels call a primary down after this long without an answer.
DOWN_AFTER_MS = 1000


class SentinelGroup:
    """Primary, replica and three Sentinels; `settings_env()` is what points the project at them."""

    def __init__(self, name: str = MASTER_NAME) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise servers.ServerUnavailable("redis-server is not installed: the Sentinel tests start their own")
        self.binary = binary
        self.name = name
        self.directory = Path(tempfile.mkdtemp(prefix="adjobs-sentinel-"))
        self.data_ports = [servers.free_port(), servers.free_port()]
        self.sentinel_ports = [servers.free_port() for _ in range(3)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.first_primary = self.data_ports[0]

    # Processes ------------------------------------------------------------------------------

    def start(self) -> SentinelGroup:
        primary, replica = self.data_ports
        self._start_data(primary)
        self._start_data(replica, replica_of=primary)
        self.wait_replicated(primary, replica)
        for port in self.sentinel_ports:
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {self.name} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {self.name} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {self.name} 10000\n"
                f"sentinel parallel-syncs {self.name} 1\n"
            )
            self._spawn(port, [self.binary, str(config), "--sentinel"], "redis-server --sentinel")
        self.wait_until(lambda: self._sentinels_agree(primary, replicas=1), 30, "the Sentinels to see both servers")
        return self

    def _start_data(self, port: int, replica_of: int | None = None) -> None:
        command = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.directory), "--dbfilename", f"dump-{port}.rdb"]  # fmt: skip
        if replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(port, command, "redis-server")

    def _spawn(self, port: int, command: list[str], what: str) -> None:
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers._wait_for_port(port, what)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    # Faults ---------------------------------------------------------------------------------

    def primary(self) -> int:
        """The port the Sentinels name as the primary now (the first that answers)."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis(port=port, socket_timeout=1)
                try:
                    address: Any = client.sentinel_get_master_addr_by_name(self.name)
                finally:
                    client.close()
                if address:
                    return int(address[1])
        raise AssertionError("no Sentinel names a primary")

    def kill_primary(self) -> int:
        """SIGKILL the primary (as a host losing power would); its port."""
        port = self.primary()
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait()
        return port

    def wait_for_failover(self, old: int, timeout: float = 60) -> int:
        """Wait until the Sentinels name a primary other than `old` and it accepts writes; its port."""
        self.wait_until(lambda: self.primary() != old and self._writable(self.primary()), timeout, "a failover")
        return self.primary()

    def restart_old_primary(self, port: int, timeout: float = 60) -> None:
        """Start the killed primary again on its port as a replica of the primary the Sentinels name now
        (what a supervisor's start script does: `--replicaof` the Sentinels' answer, never an empty
        primary that a client could write to until the Sentinels demote it); wait until it is in sync."""
        primary = self.primary()
        self._start_data(port, replica_of=primary)
        self.wait_replicated(primary, port, timeout)

    def pause(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGCONT)

    # State ----------------------------------------------------------------------------------

    def settings_env(self, db: int = 0) -> dict[str, str]:
        """The environment that points the project at this group (REDIS_URL's host and port are not used)."""
        return {
            "REDIS_URL": f"redis://127.0.0.1:{self.first_primary}/{db}",
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": self.name,
        }

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2)

    def _role(self, port: int) -> str | None:
        with contextlib.suppress(redis.RedisError):
            return str(self.client(port).info("replication")["role"])
        return None

    def _writable(self, port: int) -> bool:
        return self._role(port) == "master"

    def wait_replicated(self, primary: int, replica: int, timeout: float = 30) -> None:
        def in_sync() -> bool:
            with contextlib.suppress(redis.RedisError):
                info = self.client(replica).info("replication")
                return bool(info.get("master_link_status") == "up" and int(info.get("master_port", 0)) == primary)
            return False

        self.wait_until(in_sync, timeout, f"127.0.0.1:{replica} to replicate 127.0.0.1:{primary}")

    def _sentinels_agree(self, primary: int, replicas: int) -> bool:
        for port in self.sentinel_ports:
            try:
                state: Any = redis.Redis(port=port, socket_timeout=1).sentinel_master(self.name)
            except redis.RedisError:
                return False
            if int(state["port"]) != primary or int(state.get("num-slaves", 0)) < replicas:
                return False
            if int(state.get("num-other-sentinels", 0)) < 2:
                return False
        return True

    @staticmethod
    def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:.0f} s for {what}")
            time.sleep(0.1)


@contextlib.contextmanager
def sentinel_group(name: str = MASTER_NAME) -> Iterator[SentinelGroup]:
    group = SentinelGroup(name)
    try:
        yield group.start()
    finally:
        group.close()
