"""Throw-away Redis and PostgreSQL bound to a lab host's address (see `netns.py`), from local binaries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.chaos.netns import Host
from tests.support.servers import _postgres_bin

REDIS_PORT = 6379
POSTGRES_PORT = 5432


class BinariesMissing(RuntimeError):
    """Raised when redis-server or PostgreSQL's initdb/pg_ctl are not installed."""


def start_redis(host: Host, directory: Path) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise BinariesMissing("redis-server is not installed")
    log = open(directory / "redis.log", "wb")  # noqa: SIM115  (the server writes it until the lab closes)
    host.popen(
        [
            binary,
            "--bind",
            host.address,
            "--port",
            str(REDIS_PORT),
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(host, host.address, REDIS_PORT, "redis-server")
    return f"redis://{host.address}:{REDIS_PORT}/0"


def start_postgres(host: Host, directory: Path) -> tuple[str, list[str]]:
    """A cluster in `directory`, trusting the lab's subnet; returns (libpq URL, stop command)."""
    bindir = _postgres_bin()
    if bindir is None:
        raise BinariesMissing("PostgreSQL's initdb and pg_ctl are not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(directory, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = directory / "data"
    subprocess.run(
        [*as_user, f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    subnet = host.address.rsplit(".", 1)[0] + ".0/24"
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {subnet} trust\n")
    options = (
        f"-p {POSTGRES_PORT} -k {directory} -c listen_addresses={host.address} -c fsync=off "
        "-c synchronous_commit=off -c max_connections=200"
    )
    started = host.run(
        [
            *as_user,
            f"{bindir}/pg_ctl",
            "-D",
            str(data),
            "-w",
            "-l",
            str(directory / "postgres.log"),
            "-o",
            options,
            "start",
        ]
    )
    if started.returncode != 0:
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}{started.stdout}")
    stop = host.command([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"])
    return f"postgresql://postgres@{host.address}:{POSTGRES_PORT}/postgres", stop


def wait_for_port(host: Host, address: str, port: int, what: str, timeout: float = 20.0) -> None:
    code = (
        "import socket, sys, time\n"
        f"deadline = time.monotonic() + {timeout}\n"
        "while time.monotonic() < deadline:\n"
        "    try:\n"
        f"        socket.create_connection(({address!r}, {port}), timeout=0.5).close()\n"
        "        sys.exit(0)\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "sys.exit(1)\n"
    )
    if host.run([sys.executable, "-c", code], timeout=timeout + 10).returncode != 0:
        raise RuntimeError(f"{what} did not answer on {address}:{port} from {host.namespace}")
