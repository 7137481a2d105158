"""Local HTTP servers that receive what the platform sends out: Sentry envelopes and alert webhooks."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """Requests a server has received, in order: (path, headers, raw body after decompression)."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self.lock:
            self.requests.append((path, headers, body))

    def snapshot(self) -> list[tuple[str, dict[str, str], bytes]]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.1)
        return predicate(self)


def _decode(headers: dict[str, str], body: bytes) -> bytes:
    encoding = headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


@contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    """A server on 127.0.0.1:<free port> that answers 200 to every POST and keeps the bodies."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            received.add(self.path, headers, _decode(headers, body))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


# Sentry envelopes -----------------------------------------------------------------------


def envelope_items(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The (item header, payload) pairs of one Sentry envelope."""
    lines = body.split(b"\n", 1)
    rest = lines[1] if len(lines) > 1 else b""
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        if not header_line.strip():
            continue
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


def sentry_events(received: Received) -> list[dict[str, Any]]:
    """Every `event` item received, parsed, in order."""
    events = []
    for path, _headers, body in received.snapshot():
        if not path.endswith("/envelope/"):
            continue
        for header, payload in envelope_items(body):
            if header.get("type") == "event":
                events.append(json.loads(payload))
    return events


def envelopes_with_events(received: Received) -> int:
    return sum(
        1
        for path, _headers, body in received.snapshot()
        if path.endswith("/envelope/") and any(header.get("type") == "event" for header, _ in envelope_items(body))
    )


def webhook_posts(received: Received) -> list[dict[str, Any]]:
    return [json.loads(body) for _path, _headers, body in received.snapshot()]
