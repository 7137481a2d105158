"""Real Redis and PostgreSQL for the tests: the local servers, or throw-away ones from local binaries.

Set TEST_REDIS_URL / TEST_POSTGRES_URL to use other servers. When nothing answers on the
default ports, a `redis-server` and a PostgreSQL cluster (initdb + pg_ctl) are started in a
temporary directory for the session; when their binaries are missing too, the tests fail
with a message that says what to start.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import psycopg
import redis

DEFAULT_REDIS = "redis://127.0.0.1:6379"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


class ServerUnavailable(RuntimeError):
    """Raised when neither a running server nor its binaries are there."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ThrowAway:
    """Processes and directories to remove when the session ends."""

    stops: list[list[str]] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    def close(self) -> None:
        for command in self.stops:
            subprocess.run(command, capture_output=True, check=False)
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        for directory in self.dirs:
            shutil.rmtree(directory, ignore_errors=True)


def redis_server(cleanup: ThrowAway) -> str:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    if "TEST_REDIS_URL" in os.environ or _answers("127.0.0.1", 6379):
        return url
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable(
            "No Redis on 127.0.0.1:6379 and no redis-server binary: start Redis "
            "(redis-server --daemonize yes) or set TEST_REDIS_URL."
        )
    port = free_port()
    directory = tempfile.mkdtemp(prefix="adjobs-redis-")
    cleanup.dirs.append(directory)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    cleanup.processes.append(process)
    _wait_for_port(port, "redis-server")
    return f"redis://127.0.0.1:{port}"


def _postgres_bin() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return candidates[0] if candidates else None


def postgres_server(cleanup: ThrowAway) -> str:
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if "TEST_POSTGRES_URL" in os.environ or _answers("127.0.0.1", 5432):
        return url
    bindir = _postgres_bin()
    if bindir is None:
        raise ServerUnavailable(
            "No PostgreSQL on 127.0.0.1:5432 and no initdb/pg_ctl: start PostgreSQL "
            "(pg_ctlcluster 15 main start) or set TEST_POSTGRES_URL."
        )
    port = free_port()
    directory = tempfile.mkdtemp(prefix="adjobs-pg-")
    cleanup.dirs.append(directory)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(directory, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(directory, "data")
    subprocess.run(
        [*as_user, f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust"], check=True, capture_output=True
    )
    subprocess.run(
        [
            *as_user,
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            os.path.join(directory, "log"),
            "-o",
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    cleanup.stops.append([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"])
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _wait_for_port(port: int, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise ServerUnavailable(f"{what} did not start on port {port}")


def claim_redis_db(base_url: str) -> tuple[int, redis.Redis]:
    """Claim a logical database (1-15) for this session, so parallel sessions never share one."""
    admin = redis.Redis.from_url(f"{base_url}/0")
    token = uuid.uuid4().hex
    for db in range(1, 16):
        if admin.set(f"adjobs-test-claim:{db}", token, nx=True, ex=3600):
            return db, admin
    raise ServerUnavailable("all Redis logical databases 1-15 are claimed by other test sessions")


def release_redis_db(admin: redis.Redis, db: int) -> None:
    admin.delete(f"adjobs-test-claim:{db}")


def create_database(admin_url: str) -> tuple[str, str]:
    """A fresh PostgreSQL database for this session; returns (name, SQLAlchemy URL)."""
    name = f"adjobs_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return name, base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
