"""Wake idle consumers when a job arrives, instead of letting them sleep out their backoff.

Dramatiq's Redis consumer polls: after an empty fetch it sleeps, doubling the sleep up to
the worker timeout (a second), so the first job after an idle spell waits up to that long.
Here the enqueue script publishes the queue's name on the broker's wake-up channel when its
push made a list go from empty to one message (never under load, when lists are not empty),
and each worker process keeps one subscription that sets the queue's event; an idle consumer
waits on that event rather than sleeping. Without the subscription (Redis away, not yet
connected) the consumer's backoff is what it was: the wake-up only shortens waits.

Pub/sub is server-wide, not per logical database: the channel names the database as well as
the namespace (`<namespace>:__wake__:<db>`), so brokers on other databases of the same server
are not woken. The broker's `close()` closes the subscription and joins its thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from typing import Any

logger = logging.getLogger(__name__)

#: Seconds before a lost subscription is made again.
RESUBSCRIBE_DELAY = 1.0
#: Seconds the listener waits for a message before it checks whether it should stop.
POLL_SECONDS = 0.5


def channel(namespace: str, db: int = 0) -> str:
    """The wake-up channel of a namespace on logical database `db`."""
    return f"{namespace}:__wake__:{db}"


def wake_channel(namespace: str, client: Any) -> str:
    """The wake-up channel of a namespace on the logical database `client` uses."""
    return channel(namespace, int(client.connection_pool.connection_kwargs.get("db", 0) or 0))


class Wakeups:
    """One subscription per process; an event per queue name."""

    def __init__(self, client: Any, channel_name: str) -> None:
        self.client = client
        self.channel = channel_name
        self._events: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: Wake-ups received for a queue this process waits on.
        self.received = 0

    def event(self, queue_name: str) -> threading.Event:
        with self._lock:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._listen, args=(self._stop,), name="adjobs-wakeups", daemon=True
                )
                self._thread.start()
            return self._events[queue_name]

    def close(self, timeout: float = 5.0) -> None:
        """Close the subscription and join its thread (a later `event()` starts them again)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join(timeout)

    def _listen(self, stop: threading.Event) -> None:
        while not stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                while not stop.is_set():
                    message = pubsub.get_message(timeout=POLL_SECONDS)
                    if message is None:
                        continue
                    data = message.get("data")
                    name = data.decode() if isinstance(data, bytes) else str(data)
                    with self._lock:
                        event = self._events.get(name)
                    if event is not None:
                        self.received += 1
                        event.set()
            except Exception as error:  # Redis away: consumers fall back to their backoff meanwhile
                logger.debug("Wake-up subscription lost (%s); subscribing again.", error)
            finally:
                with contextlib.suppress(Exception):  # the connection is gone already
                    pubsub.close()
            stop.wait(RESUBSCRIBE_DELAY)
