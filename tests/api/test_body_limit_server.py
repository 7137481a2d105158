"""The body limit on a real `jobsctl api` (uvicorn): huge bodies are refused unread, and memory stays flat.

In-process test clients read a request body whole before the app sees it, so these talk
raw HTTP/1.1 over a socket to a server process whose memory can be watched.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.support.processes import BIN, ROOT

LIMIT = 65_536
PATH = "/api/v1/queues/test-jobs/jobs"


@pytest.fixture
def api_server(tmp_path) -> Iterator[tuple[int, psutil.Process]]:  # type: ignore[no-untyped-def]
    """`jobsctl api` on a free port with API_MAX_BODY_BYTES=64 KiB; its port and its process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "jobsctl"), "api", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "API_MAX_BODY_BYTES": str(LIMIT), "API_ADMIN_TOKENS": "limit-admin"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503):
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (tmp_path / "api.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.2)
    try:
        yield port, psutil.Process(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def _reply(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of the HTTP/1.1 reply on `sock`."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a reply: {raw!r}"
        raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the reply"
        rest += chunk
    return int(lines[0].split()[1]), json.loads(rest[:length])


def test_a_declared_huge_body_is_answered_413_without_sending_it(api_server):
    port, _ = api_server
    # Given an unauthenticated request that declares 300 MB and sends none of it
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * 1024 * 1024}\r\n\r\n".encode()
        )
        # When the reply is read, Then it is 413 in the envelope, at once (no wait for the body)
        status, body = _reply(sock)
    assert status == 413
    assert body["success"] is False and body["error"]["code"] == "too_large"  # type: ignore[index]


def test_a_streamed_body_is_cut_off_at_the_limit_and_never_buffered(api_server):
    port, server = api_server
    rss_before = server.memory_info().rss
    chunk = b"x" * 65_536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    pending = memoryview(frame)
    sent = 0
    # Given an unauthenticated chunked upload that would go on for 256 MB
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        sock.setblocking(False)
        while sent < 256 * 1024 * 1024:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the server answered before the upload ended
            assert writable, "the server neither reads nor answers"
            try:
                written = sock.send(pending)
            except (BlockingIOError, InterruptedError):
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += written
            pending = pending[written:] or memoryview(frame)
        sock.setblocking(True)
        # When the reply is read
        status, body = _reply(sock)
    # Then the upload was refused as too large after a few socket buffers, not read to its end
    assert status == 413, body
    assert body["error"]["code"] == "too_large"  # type: ignore[index]
    assert sent < 32 * 1024 * 1024, f"{sent:,} bytes went in before the server answered"
    # And the server's memory did not grow with the body
    assert server.memory_info().rss - rss_before < 32 * 1024 * 1024
