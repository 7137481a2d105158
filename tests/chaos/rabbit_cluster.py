"""A three-node RabbitMQ cluster of the test's own, as local processes, for the quorum-queue fault test.

The machine's own RabbitMQ is one node (a system service other tests share), so the test
starts three more `rabbitmq-server` nodes (`adjobs-q<k>-<id>@localhost`) with their own ports,
data directories and Erlang cookie, joins the second and third to the first, and can kill one
node with SIGKILL (every process of its group) and start it again on the same data, where it
rejoins the cluster. Each node takes some 150 MB of memory and 10-20 s to boot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions

from tests.support import servers

SBIN = Path("/usr/lib/rabbitmq/bin")


class RabbitCluster:
    """Nodes 0, 1, 2; `url` lists all three (`;`-separated, as Dramatiq's RabbitMQ broker takes them)."""

    def __init__(self, nodes: int = 3) -> None:
        if not (SBIN / "rabbitmq-server").exists() and shutil.which("rabbitmq-server") is None:
            raise servers.ServerUnavailable("rabbitmq-server is not installed: the cluster test starts its own nodes")
        self.server = str(SBIN / "rabbitmq-server") if (SBIN / "rabbitmq-server").exists() else "rabbitmq-server"
        self.ctl = str(SBIN / "rabbitmqctl") if (SBIN / "rabbitmqctl").exists() else "rabbitmqctl"
        self.directory = Path(tempfile.mkdtemp(prefix="adjobs-rabbit-"))
        self.cookie = secrets.token_hex(16).upper()
        tag = secrets.token_hex(3)
        self.names = [f"adjobs-q{k}-{tag}@localhost" for k in range(nodes)]
        self.ports = [servers.free_port() for _ in range(nodes)]
        self.dist_ports = [servers.free_port() for _ in range(nodes)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return ";".join(f"amqp://guest:guest@127.0.0.1:{port}/%2F" for port in self.ports)

    def _env(self, k: int) -> dict[str, str]:
        home = self.directory / f"node{k}"
        (home / "home").mkdir(parents=True, exist_ok=True)
        cookie = home / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
        (home / "rabbitmq.conf").write_text("loopback_users = none\n")
        return {
            **os.environ,
            "HOME": str(home / "home"),
            "RABBITMQ_NODENAME": self.names[k],
            "RABBITMQ_NODE_PORT": str(self.ports[k]),
            "RABBITMQ_DIST_PORT": str(self.dist_ports[k]),
            "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_PID_FILE": str(home / "pid"),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced"),
            "RABBITMQ_CONF_ENV_FILE": str(home / "env"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
            "RABBITMQ_ENABLED_PLUGINS": "",
        }

    def ctl_run(self, k: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.ctl, "-n", self.names[k], *args],
            env=self._env(k),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_node(self, k: int, timeout: float = 120) -> None:
        log = open(self.directory / f"node{k}.out", "ab")  # noqa: SIM115  (kept by the process)
        self.processes[k] = subprocess.Popen(
            [self.server], env=self._env(k), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._answers(k):
            if self.processes[k].poll() is not None or time.monotonic() > deadline:
                tail = (self.directory / f"node{k}.out").read_text(errors="replace")[-2000:]
                raise servers.ServerUnavailable(f"RabbitMQ node {self.names[k]} did not start: {tail}")
            time.sleep(0.5)

    def _answers(self, k: int) -> bool:
        try:
            pika.BlockingConnection(
                pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{self.ports[k]}/%2F?connection_attempts=1")
            ).close()
            return True
        except pika.exceptions.AMQPError:
            return False

    def start(self) -> RabbitCluster:
        for k in range(len(self.names)):
            self.start_node(k)
        for k in range(1, len(self.names)):
            for step in (("stop_app",), ("join_cluster", self.names[0]), ("start_app",)):
                done = self.ctl_run(k, *step)
                if done.returncode != 0:
                    raise servers.ServerUnavailable(f"{' '.join(step)} on {self.names[k]}: {done.stderr[-1000:]}")
        self.wait_running(len(self.names))
        return self

    def running_nodes(self) -> int:
        for k in range(len(self.names)):
            if k in self.processes and self.processes[k].poll() is None:
                done = self.ctl_run(k, "eval", "length(rabbit_nodes:all_running()).", timeout=30)
                if done.returncode == 0 and done.stdout.strip().isdigit():
                    return int(done.stdout.strip())
        return 0

    def wait_running(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.running_nodes() != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster did not reach {count} running nodes in {timeout:.0f} s")
            time.sleep(1)

    def kill_node(self, k: int) -> None:
        """SIGKILL every process of node `k` (as a host losing power would)."""
        process = self.processes.pop(k)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def quorum_members(self, queue: str) -> str:
        done = self.ctl_run(1, "eval", f'rabbit_quorum_queue:status(<<"/">>, <<"{queue}">>).', timeout=30)
        return done.stdout.strip()

    def close(self) -> None:
        for k in list(self.processes):
            self.kill_node(k)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def rabbit_cluster(nodes: int = 3) -> Iterator[RabbitCluster]:
    cluster = RabbitCluster(nodes)
    try:
        yield cluster.start()
    finally:
        cluster.close()
