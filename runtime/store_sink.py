"""Where this process's job-store events go: the process's writer, once it has one.

Every process that writes the store (a worker, the API, `jobsctl`, a test session) makes its
`runtime.store_buffer.StoreBuffer` with `get_buffer()`, which makes it this process's writer
(`set_writer`). A process that only sends has none, and needs none on the Redis broker: a
producer's event rides its message's enqueue (`brokers.priority_redis`). So that such a
process never loads a database library, the job-store middleware records through this module,
which imports none.

An event recorded where no writer is (a process sending on RabbitMQ, say) goes onto the Redis
list of store events for the writers to take (`runtime.store_event_list`), pushed by a thread of
this module, never on the send path: a Redis that is slow or away costs a send nothing. Until it
is pushed (on the embedded default, with no Redis, until this process's writer is made by the
first `get_buffer()`) it waits in memory, at most `MAX_PARKED` events (past that the oldest are
dropped and counted); what still waits when the process exits is pushed then (`atexit`), for
at most `EXIT_PUSH_SECONDS`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Protocol

import redis

from core import redis_client
from runtime.store_event_list import StoreEventList, events_url
from runtime.store_events import encode_record
from settings import get_settings

logger = logging.getLogger(__name__)

#: Events kept in memory for a writer to come, past which the oldest are dropped (and counted).
MAX_PARKED = 100_000
#: Events pushed onto the Redis list with one command.
PUSH_BATCH = 500
#: Longest wait before pushing again after Redis did not answer (seconds).
MAX_BACKOFF = 5.0
#: Seconds a leaving process spends pushing what still waits.
EXIT_PUSH_SECONDS = 5.0
#: The Redis client's timeouts (seconds): connecting, and waiting for a reply.
CONNECT_TIMEOUT = 2.0
REPLY_TIMEOUT = 5.0


class Writer(Protocol):
    """What takes a process's events: `runtime.store_buffer.StoreBuffer` (a list of them in unit tests)."""

    def record(self, event: dict[str, Any]) -> None: ...

    def flush(self, timeout: float = ..., *, drain: bool = ...) -> bool: ...


class _NoWriter:
    """Events of a process without a writer: pushed onto Redis's list by a thread, else kept for a writer to come."""

    def __init__(self) -> None:
        self.dropped = 0
        self._reset()

    def _reset(self) -> None:
        """A new process (or a fork's child): nothing waits, no thread, no client, a lock no one holds."""
        self._lock = threading.Lock()
        self._parked: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._list: StoreEventList | None = None
        self._url: str | None = None
        self._redis_away = False
        self._pid = os.getpid()

    @property
    def parked(self) -> list[dict[str, Any]]:
        """The events waiting in memory (not yet pushed, or no Redis to push them to)."""
        with self._lock:
            return list(self._parked)

    def record(self, event: dict[str, Any]) -> None:
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._parked.append(event)
            if len(self._parked) > MAX_PARKED:
                self._parked.popleft()
                self.dropped += 1
        if self._pushing():
            self._wake.set()

    def flush(self, timeout: float = 10.0, *, drain: bool = True) -> bool:
        """Wait until what this process recorded is pushed onto the Redis list; True when nothing waits."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                empty = not self._parked and not self._in_flight
            if empty or self._thread is None or time.monotonic() >= deadline:
                return empty
            self._wake.set()
            time.sleep(0.01)

    def take_parked(self) -> list[dict[str, Any]]:
        with self._lock:
            parked, self._parked = list(self._parked), deque()
        return parked

    def close(self) -> None:
        """At exit: push what still waits (at most `EXIT_PUSH_SECONDS`), saying what could not be."""
        if self._pid != os.getpid():
            return
        if self._thread is not None and not self.flush(EXIT_PUSH_SECONDS):
            with self._lock:
                left = len(self._parked) + self._in_flight
            logger.error("Job store: %d events could not be pushed to Redis before exit (lost).", left)
        elif self._thread is None and self._parked:
            lost = len(self._parked)
            logger.warning("Job store: %d events had no writer and no Redis list before exit (lost).", lost)

    # Internals --------------------------------------------------------------------------

    def _pushing(self) -> bool:
        """Whether a thread pushes this process's events (started on first use; False: no Redis list)."""
        if self._thread is not None:
            return True
        with self._lock:
            if self._thread is not None:
                return True
            url = events_url(get_settings())
            if url is None:
                return False
            self._url = url
            self._thread = threading.Thread(target=self._run, name="job-store-events", daemon=True)
            self._thread.start()
        return True

    def _event_list(self) -> StoreEventList:
        if self._list is None:
            assert self._url is not None
            client = redis_client.connect(
                self._url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=REPLY_TIMEOUT
            )
            self._list = StoreEventList(client)
        return self._list

    def _run(self) -> None:
        failures = 0
        while True:
            self._wake.wait(None if failures == 0 else min(MAX_BACKOFF, 0.1 * 2**failures))
            self._wake.clear()
            while True:
                with self._lock:
                    batch = [self._parked.popleft() for _ in range(min(PUSH_BATCH, len(self._parked)))]
                    self._in_flight = len(batch)
                if not batch:
                    break
                if not self._push(batch):
                    failures += 1
                    break
                failures = 0

    def _push(self, batch: list[dict[str, Any]]) -> bool:
        """Push `batch` (or hand it to this process's writer, made meanwhile); False when Redis does not
        answer (the batch is kept, first in line)."""
        current = _writer
        if current is not None:
            for event in batch:
                current.record(event)
            self._in_flight = 0
            return True
        try:
            self._event_list().push([encode_record(event) for event in batch])
        except redis.RedisError as error:
            with self._lock:
                self._parked.extendleft(reversed(batch))
                self._in_flight = 0
            if not self._redis_away:
                self._redis_away = True
                logger.warning("Job store: %d events kept in memory, Redis does not answer: %s", len(batch), error)
            return False
        with self._lock:
            self._in_flight = 0
        if self._redis_away:
            self._redis_away = False
            logger.warning("Job store: Redis answers again; the events kept in memory are pushed.")
        return True


_no_writer = _NoWriter()
_writer: Writer | None = None
_lock = threading.Lock()
atexit.register(_no_writer.close)


def set_writer(writer: Writer | None) -> None:
    """Make `writer` this process's (None: none again); events kept for a writer go to it."""
    global _writer
    with _lock:
        _writer = writer
    if writer is not None:
        for event in _no_writer.take_parked():
            writer.record(event)


def writer() -> Writer:
    """This process's writer, or the stand-in that sends its events to one elsewhere."""
    return _writer or _no_writer


def has_writer() -> bool:
    return _writer is not None
