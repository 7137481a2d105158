"""An in-process buffer of job-store events, written to the database in batches by one thread.

Workers and producers call `record()` on their hot path: it only folds the event into a
dict under a lock. A daemon thread writes what accumulated every `interval` seconds (or
sooner when `batch_size` events wait) as one upsert. When the database is unreachable the
events stay buffered and the thread retries; past `max_pending` distinct jobs the oldest
are dropped and counted in `dropped`, so a long outage bounds memory and says what it lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from db import jobstore
from db.engine import get_engine

logger = logging.getLogger(__name__)

#: Seconds between flushes.
DEFAULT_INTERVAL = 0.2
#: Flush early once this many jobs wait.
DEFAULT_BATCH_SIZE = 2000
#: Jobs kept while the database is away before the oldest are dropped.
DEFAULT_MAX_PENDING = 200_000


class StoreBuffer:
    """Coalesces job events by id and upserts them in batches from a background thread."""

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.dropped = 0
        self.written = 0
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flushing = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def record(self, event: dict[str, Any]) -> None:
        """Add one event (a partial job row with `id` and `seq`)."""
        with self._lock:
            known = self._pending.get(event["id"])
            self._pending[event["id"]] = jobstore.merge_events(known, event) if known else event
            size = len(self._pending)
            if size > self.max_pending:
                oldest = next(iter(self._pending))
                del self._pending[oldest]
                self.dropped += 1
        self._ensure_thread()
        if size >= self.batch_size:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything buffered now; True when the buffer is empty afterwards."""
        deadline = time.monotonic() + timeout
        while True:
            if self._write_once():
                with self._lock:
                    if not self._pending:
                        return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self, timeout: float = 10.0) -> None:
        self._stopped = True
        self._wake.set()
        if not self.flush(timeout):
            with self._lock:
                lost = len(self._pending)
            logger.error("Job store: %d job records could not be written before exit.", lost)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # Internals --------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="job-store-buffer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stopped:
            self._wake.wait(self.interval if failures == 0 else min(5.0, self.interval * 2**failures))
            self._wake.clear()
            failures = 0 if self._write_once() else failures + 1

    def _write_once(self) -> bool:
        with self._lock:
            if self._flushing:
                return False
            if not self._pending:
                return True
            batch, self._pending = self._pending, {}
            self._flushing = True
        try:
            with get_engine().begin() as connection:
                jobstore.upsert_jobs(connection, list(batch.values()))
            self.written += len(batch)
            return True
        except Exception as error:  # the database is away: keep the events for the next try
            logger.warning("Job store: writing %d records failed, will retry: %s", len(batch), error)
            with self._lock:
                for job_id, event in batch.items():
                    known = self._pending.get(job_id)
                    self._pending[job_id] = jobstore.merge_events(event, known) if known else event
            return False
        finally:
            with self._lock:
                self._flushing = False


_buffer: StoreBuffer | None = None
_buffer_lock = threading.Lock()


def get_buffer() -> StoreBuffer:
    """This process's buffer, flushed at interpreter exit."""
    global _buffer
    if _buffer is None or _buffer._pid != os.getpid():
        with _buffer_lock:
            if _buffer is None or _buffer._pid != os.getpid():
                _buffer = StoreBuffer()
                atexit.register(_buffer.close)
    return _buffer
