"""An in-process buffer of job-store events, written to the database in batches by one thread.

Workers and producers call `record()` on their hot path: it checks the event against the
columns of `jobs` (`store_records.check_record`: corrected, or set aside with its reason)
and folds it into a dict under a lock. A daemon thread writes what accumulated every
`interval` seconds (or sooner when `batch_size` events wait) as one upsert. When the
database is unreachable the events stay buffered and the thread retries; past `max_pending`
distinct jobs the oldest are dropped and counted in `dropped`, so a long outage bounds
memory and says what it lost.

When the database answers but refuses a batch (a record no check foresaw), the batch is
written again one record per savepoint in one transaction: every record it takes is
written, each one it refuses is set aside in `job_store_rejects` with the database's reason
(`store_rejects`), and nothing else waits. Logs name the error, never the statement or its
parameters.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db import jobstore, store_rejects
from db.engine import get_engine
from db.store_records import RecordRejected, check_record
from db.store_rejects import Reject

logger = logging.getLogger(__name__)

#: Seconds between flushes.
DEFAULT_INTERVAL = 0.2
#: Flush early once this many jobs wait.
DEFAULT_BATCH_SIZE = 2000
#: Jobs kept while the database is away before the oldest are dropped.
DEFAULT_MAX_PENDING = 200_000
#: Records set aside kept while the database is away before the oldest are dropped.
MAX_REJECTS = 10_000
#: Longest error description in a log line or a reject's reason.
MAX_DESCRIPTION = 300


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
        #: Records corrected to fit their columns, and records set aside (refused when made or by the database).
        self.corrected = 0
        self.rejected = 0
        self._pending: dict[str, dict[str, Any]] = {}
        self._rejects: list[Reject] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flushing = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def record(self, event: dict[str, Any]) -> None:
        """Add one event (a partial job row with `id` and `seq`), checked against the columns of `jobs`."""
        try:
            checked = check_record(event)
        except RecordRejected as refused:
            self._set_aside([Reject.of(event, f"refused when made: {refused}")])
            return
        if checked.corrections:
            self.corrected += 1
            logger.warning(
                "Job store: record %s of queue %s corrected: %s.",
                event.get("id"),
                event.get("queue"),
                "; ".join(checked.corrections),
            )
        event = checked.record
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
                    if not self._pending and not self._rejects:
                        return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self, timeout: float = 10.0) -> None:
        self._stopped = True
        self._wake.set()
        if not self.flush(timeout):
            with self._lock:
                lost = len(self._pending) + len(self._rejects)
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

    def _set_aside(self, rejects: list[Reject]) -> None:
        _log_set_aside(rejects)
        with self._lock:
            self.rejected += len(rejects)
            self._rejects.extend(rejects)
            overflow = len(self._rejects) - MAX_REJECTS
            if overflow > 0:
                del self._rejects[:overflow]
                self.dropped += overflow
        self._ensure_thread()

    def _write_once(self) -> bool:
        with self._lock:
            if self._flushing:
                return False
            if not self._pending and not self._rejects:
                return True
            batch, self._pending = self._pending, {}
            rejects, self._rejects = self._rejects, []
            self._flushing = True
        try:
            try:
                with get_engine().begin() as connection:
                    jobstore.upsert_jobs(connection, list(batch.values()))
                    self._keep_rejects(connection, rejects)
                self.written += len(batch)
            except Exception as error:
                if database_away(error):
                    raise
                logger.warning(
                    "Job store: the database refused a batch of %d records (%s); writing them one by one.",
                    len(batch),
                    describe(error),
                )
                self._write_one_by_one(batch, rejects)
            return True
        except Exception as error:  # the database is away: keep the events for the next try
            logger.warning("Job store: writing %d records failed, will retry: %s", len(batch), describe(error))
            with self._lock:
                for job_id, event in batch.items():
                    known = self._pending.get(job_id)
                    self._pending[job_id] = jobstore.merge_events(event, known) if known else event
                self._rejects[:0] = rejects
            return False
        finally:
            with self._lock:
                self._flushing = False

    def _write_one_by_one(self, batch: dict[str, dict[str, Any]], rejects: list[Reject]) -> None:
        """Each record in a savepoint of one transaction: those the database refuses are set aside."""
        refused: list[Reject] = []
        with get_engine().begin() as connection:
            for event in batch.values():
                try:
                    with connection.begin_nested():
                        jobstore.upsert_jobs(connection, [event])
                except Exception as error:
                    if database_away(error):
                        raise
                    refused.append(Reject.of(event, f"refused by the database: {describe(error)}"))
            self._keep_rejects(connection, [*rejects, *refused])
        _log_set_aside(refused)
        self.rejected += len(refused)
        self.written += len(batch) - len(refused)

    def _keep_rejects(self, connection: Connection, rejects: list[Reject]) -> None:
        """Write `rejects` in a savepoint; if even that is refused (no table yet), log them and go on."""
        if not rejects:
            return
        try:
            with connection.begin_nested():
                store_rejects.write(connection, rejects)
        except Exception as error:
            if database_away(error):
                raise
            logger.error(
                "Job store: %d records set aside could not be kept in job_store_rejects (%s): %s",
                len(rejects),
                describe(error),
                "; ".join(f"{reject.job_id}: {reject.reason}" for reject in rejects[:20]),
            )


def _log_set_aside(rejects: list[Reject]) -> None:
    for reject in rejects:
        logger.warning(
            "Job store: record %s of queue %s set aside in job_store_rejects: %s",
            reject.job_id,
            reject.queue,
            reject.reason,
        )


def database_away(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached (retry later), not that it refused what was sent."""
    if isinstance(error, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def describe(error: BaseException) -> str:
    """The error's class and the first line of the driver's message: no SQL, no parameters."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}"[:MAX_DESCRIPTION]


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
