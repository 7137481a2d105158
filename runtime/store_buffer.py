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

Producers' events reach the store through Redis: the broker pushes each message's `waiting` or
`delayed` event onto the store's event list with the message (`middleware.job_store`). The
process's buffer (`get_buffer()`, which is also the process's writer for `runtime.store_sink`)
takes a chunk of that list with every write, writes it in the same upsert as its own events,
and only then lets it go (`runtime.store_event_list`: at least once, and a writer that dies
holding a chunk has it written by another). While the database is away the chunk it holds is
retried and the rest waits in Redis. `flush()` writes the list too: after it, every event sent
before it began is in the store, whoever sent it (`flush(drain=False)`: this process's own
only). A worker process starts its buffer's thread as it starts (`start()`), so the list is
drained while the worker runs even if it records nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from typing import Any

import redis
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core import redis_client
from db import jobstore, store_rejects
from db.engine import get_engine
from db.store_records import RecordRejected, check_record
from db.store_rejects import Reject
from runtime import store_sink
from runtime.store_event_list import Mark, StoreEventList, events_url
from runtime.store_events import UnreadableEvent, decode
from settings import get_settings

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
        events: StoreEventList | None = None,
    ) -> None:
        #: The Redis list of producers' events this buffer writes too (None: only what is recorded here).
        self.events = events
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
        #: Events the last write took from Redis (a full chunk: more are likely waiting).
        self._last_taken = 0
        self._redis_away = False
        #: This writer holds a chunk of the list it has not written yet; it has taken some since it was made.
        self._holding = False
        self._took = False

    def record(self, event: dict[str, Any]) -> None:
        """Add one event (a partial job row with `id` and `seq`), checked against the columns of `jobs`."""
        try:
            event = self._checked(event)
        except RecordRejected as refused:
            self._set_aside([Reject.of(refused.record, f"refused when made: {refused}")])
            return
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

    def start(self) -> None:
        """Start the writing thread now (a worker process: the Redis list is drained while it runs)."""
        self._ensure_thread()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the writing thread, writing nothing more until `flush()`, `start()` or the next `record()`."""
        with self._lock:
            thread, self._stopped = self._thread, True
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            self._thread, self._stopped = None, False

    def flush(self, timeout: float = 10.0, *, drain: bool = True) -> bool:
        """Write what this process buffered now and, with `drain`, every event that waited on the Redis
        list when the call began (taken and written by this process or by another writer: events sent
        after the call began are not waited for). True once done; False when `timeout` passes first,
        which it never outlasts by more than one write.

        `drain=False` (a process leaving, a worker stopping, a command that only sent): this process's
        own events and the chunk it already holds, if any; no new chunk is taken, the list is left to
        the other writers."""
        deadline = time.monotonic() + timeout
        mark = self._events_mark() if drain else None
        # Nothing waits, no list, or Redis does not answer: this process's own events only.
        drain = drain and mark is not None and not mark.idle
        bound: int | None = None
        while True:
            wrote = self._write_once(take=drain)
            if wrote:
                with self._lock:
                    empty = not self._pending and not self._rejects
                if empty:
                    if mark is None:
                        return True
                    reached, bound = self._events_reached(mark, bound)
                    if reached:
                        return True
            if time.monotonic() >= deadline:
                return False
            full = drain and wrote and self.events is not None and self._last_taken >= self.events.chunk
            if not full:  # a full chunk: more are waiting, take the next at once
                time.sleep(0.02 if wrote else 0.05)

    def close(self, timeout: float = 10.0) -> None:
        """Write this process's events before it exits (what waits on the Redis list is the other writers')."""
        self._stopped = True
        self._wake.set()
        if not self.flush(timeout, drain=False):
            with self._lock:
                lost = len(self._pending) + len(self._rejects)
            logger.error("Job store: %d job records could not be written before exit.", lost)
        if self.events is None or not self._took:
            return
        if self._holding:
            # The database is away: the chunk goes back to the list for the writers that stay, now rather
            # than after `stale_after` of silence (if Redis does not answer either, that is what happens).
            with contextlib.suppress(redis.RedisError):
                given = self.events.give_back()
                self._holding = False
                logger.warning("Job store: %d events from the Redis list put back for the other writers.", given)
            return
        with contextlib.suppress(redis.RedisError):  # its note goes stale; nothing is held
            self.events.leave()

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
            full = self.events is not None and self._last_taken >= self.events.chunk
            if not full or failures:
                self._wake.wait(self.interval if failures == 0 else min(5.0, self.interval * 2**failures))
                self._wake.clear()
            failures = 0 if self._write_once() else failures + 1

    def _checked(self, event: dict[str, Any]) -> dict[str, Any]:
        """`event` as the columns take it (corrections logged); raises RecordRejected."""
        checked = check_record(event)
        if checked.corrections:
            self.corrected += 1
            logger.warning(
                "Job store: record %s of queue %s corrected: %s.",
                event.get("id"),
                event.get("queue"),
                "; ".join(checked.corrections),
            )
        return checked.record

    def _take_events(self, take: bool = True) -> tuple[dict[str, dict[str, Any]], list[Reject], int]:
        """A chunk of the Redis list, now held by this writer (`take` False: only the chunk it holds
        already): {id: event} folded, the unreadable or refused ones set aside, and how many items
        were taken. Nothing when Redis does not answer."""
        taken: dict[str, dict[str, Any]] = {}
        refused: list[Reject] = []
        if self.events is None or not (take or self._holding):
            return taken, refused, 0
        try:
            items = self.events.take(None if take else 0)
        except redis.RedisError as error:
            self._note_redis(error)
            return taken, refused, 0
        self._note_redis(None)
        self._holding = bool(items)
        self._took = self._took or self._holding
        for item in items:
            try:
                event = self._checked(decode(item))
            except UnreadableEvent as error:
                raw = item[:200].decode("utf-8", "replace")
                refused.append(Reject.of({"raw": raw}, f"unreadable store event: {error}"))
                continue
            except RecordRejected as error:
                refused.append(Reject.of(error.record, f"refused when made: {error}"))
                continue
            known = taken.get(event["id"])
            taken[event["id"]] = jobstore.merge_events(known, event) if known else event
        return taken, refused, len(items)

    def _events_done(self) -> None:
        assert self.events is not None
        try:
            self.events.done()
            self._holding = False
        except redis.RedisError as error:  # taken again and written again: the same rows
            self._note_redis(error)

    def _events_mark(self) -> Mark | None:
        """What waits on the list now (None: no list, or Redis does not answer)."""
        if self.events is None:
            return None
        try:
            return self.events.mark()
        except redis.RedisError as error:
            self._note_redis(error)
            return None

    def _events_reached(self, mark: Mark, bound: int | None) -> tuple[bool, int | None]:
        assert self.events is not None
        try:
            return self.events.reached(mark, bound)
        except redis.RedisError as error:
            self._note_redis(error)
            return True, None  # what Redis holds is written once it answers

    def _note_redis(self, error: BaseException | None) -> None:
        """Log Redis going away and coming back once each, not on every try."""
        if error is None:
            if self._redis_away:
                self._redis_away = False
                logger.warning("Job store: the Redis list of store events answers again.")
            return
        if not self._redis_away:
            self._redis_away = True
            logger.warning("Job store: the Redis list of store events does not answer (%s); will retry.", error)

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

    def _write_once(self, *, take: bool = True) -> bool:
        with self._lock:
            if self._flushing:
                return False
            batch, self._pending = self._pending, {}
            rejects, self._rejects = self._rejects, []
            self._flushing = True
        try:
            taken, refused, count = self._take_events(take)
            self._last_taken = count
            if not batch and not rejects and not count:
                return True
            rows = dict(batch)
            for job_id, event in taken.items():
                known = rows.get(job_id)
                rows[job_id] = jobstore.merge_events(known, event) if known else event
            _log_set_aside(refused)
            self.rejected += len(refused)
            try:
                with get_engine().begin() as connection:
                    jobstore.upsert_jobs(connection, list(rows.values()))
                    self._keep_rejects(connection, [*rejects, *refused])
                self.written += len(rows)
            except Exception as error:
                if database_away(error):
                    raise
                logger.warning(
                    "Job store: the database refused a batch of %d records (%s); writing them one by one.",
                    len(rows),
                    describe(error),
                )
                self._write_one_by_one(rows, [*rejects, *refused])
            if count:
                self._events_done()
            return True
        except Exception as error:  # the database is away: keep the events for the next try
            # What came from Redis stays held there and is taken again; only this process's own wait here.
            self._last_taken = 0
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
    """This process's buffer and job-store writer (`runtime.store_sink`), with the Redis list of
    producers' events when the settings name a Redis; flushed at interpreter exit."""
    global _buffer
    if _buffer is None or _buffer._pid != os.getpid():
        with _buffer_lock:
            if _buffer is None or _buffer._pid != os.getpid():
                _buffer = StoreBuffer(events=_event_list())
                atexit.register(_buffer.close)
                store_sink.set_writer(_buffer)
    return _buffer


def event_list_figures() -> tuple[int, int] | None:
    """The Redis list of producers' events: (events waiting on it, events dropped at its cap,
    STORE_EVENTS_MAX, since Redis keeps the count); None when there is no list (embedded)."""
    events = get_buffer().events
    return None if events is None else events.figures()


def _event_list() -> StoreEventList | None:
    url = events_url(get_settings())
    if url is None:
        return None
    return StoreEventList(redis_client.connect(url, socket_connect_timeout=2.0, socket_timeout=10.0))
