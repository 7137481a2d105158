"""Hosts for tests on one machine: Linux network namespaces joined by veth pairs to a bridge.

`Lab(3)` makes namespaces `adjobs-<pid>-h1..h3`, each with `eth0` at 10.231.0.<n>/24, all
plugged into a bridge that lives in a namespace of its own (`adjobs-<pid>-sw`), so nothing
is added to the machine's own network and every packet stays between the test's hosts.
Closing the lab kills every process left in its namespaces and deletes them; a lab left by a
test run that died is swept away by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

PREFIX = "adjobs-"
SUBNET = "10.231.0"


class NamespacesUnavailable(RuntimeError):
    """Raised when network namespaces cannot be made here (not root, no `ip`, no permission)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


@dataclass
class Host:
    """One network namespace with one address."""

    namespace: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(argv), **kwargs)  # type: ignore[call-overload,no-any-return]

    def run(self, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        options: dict[str, object] = {"capture_output": True, "text": True, "timeout": 120, **kwargs}
        return subprocess.run(self.command(argv), **options)  # type: ignore[call-overload,no-any-return]

    def pids(self) -> list[int]:
        listed = _ip("netns", "pids", self.namespace, check=False).stdout.split()
        return [int(pid) for pid in listed]

    def kill_all(self, sig: signal.Signals = signal.SIGKILL) -> list[int]:
        """Send `sig` to every process of this host at once; returns their pids."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids


@dataclass
class Lab:
    """`size` hosts on one bridge. Use as a context manager."""

    size: int
    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}-")
    hosts: list[Host] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return self.tag + "sw"

    def __enter__(self) -> Lab:
        check_available()
        sweep_stale()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for number in range(1, self.size + 1):
            host = Host(f"{self.tag}h{number}", f"{SUBNET}.{number}")
            _ip("netns", "add", host.namespace)
            self.hosts.append(host)
            port = f"port{number}"
            # Both ends are made inside the namespaces, so no name is ever taken in the machine's own.
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
        self._wait_until_linked()

    def _wait_until_linked(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for host in self.hosts:
            while "LOWER_UP" not in _ip("-n", host.namespace, "link", "show", "eth0").stdout:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"eth0 of {host.namespace} did not come up")
                time.sleep(0.1)

    def close(self) -> None:
        for host in self.hosts:
            host.kill_all()
        for namespace in [host.namespace for host in self.hosts] + [self.switch]:
            _delete(namespace)


def check_available() -> None:
    if shutil.which("ip") is None:
        raise NamespacesUnavailable("the `ip` command (iproute2) is not installed")
    if os.geteuid() != 0:
        raise NamespacesUnavailable("network namespaces need root (ip netns add)")
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        raise NamespacesUnavailable(f"ip netns add failed: {made.stderr.strip()}")
    _delete(probe)


def sweep_stale() -> None:
    """Delete labs whose test process is gone (a run killed before it could clean up)."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        parts = name.split("-")
        if not name.startswith(PREFIX) or len(parts) < 3 or not parts[1].isdigit():
            continue
        if not _alive(int(parts[1])):
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                _kill(int(pid))
            _delete(name)


def _delete(namespace: str) -> None:
    for _ in range(50):
        if _ip("netns", "delete", namespace, check=False).returncode == 0 or not _exists(namespace):
            return
        time.sleep(0.1)


def _exists(namespace: str) -> bool:
    return any(line.split()[0] == namespace for line in _ip("netns", "list", check=False).stdout.splitlines() if line)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
